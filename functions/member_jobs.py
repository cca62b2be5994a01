"""Every minute: work through the running member jobs (tag, untag and export a filter's members:
mini_program_api/member_care/member_jobs.py) within the Lambda's time.

Thin: a run that is cut short leaves each job's saved cursor, and the next run resumes there."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate

from .budget import deadline
from .reported import reported

bp = Blueprint(__name__)


@bp.schedule(Rate(1, unit=Rate.MINUTES), name="member_jobs_run")
def member_jobs_run(event: Any) -> dict[str, Any]:
    from mini_program_api.member_care import member_jobs

    return reported("member_jobs_run", member_jobs.run(deadline=deadline(event)), event)
