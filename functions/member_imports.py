"""Every minute: check and run the member imports owed a pass (mini_program_api/member_import/jobs.py) within
the Lambda's time. Thin: a run cut short leaves each import's saved place, and the next run resumes there."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate

from .budget import deadline
from .reported import reported

bp = Blueprint(__name__)


@bp.schedule(Rate(1, unit=Rate.MINUTES), name="member_imports_run")
def member_imports_run(event: Any) -> dict[str, Any]:
    from mini_program_api.member_import import jobs

    return reported("member_imports_run", jobs.run(deadline=deadline(event)), event)
