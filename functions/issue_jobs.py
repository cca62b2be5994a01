"""Every minute: work through the running issue jobs (mini_program_api/issue_jobs.py) within the Lambda's time.

Thin: a run that is cut short leaves each job's saved cursor, and the next run resumes there."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate

from .budget import deadline
from .reported import reported

bp = Blueprint(__name__)


@bp.schedule(Rate(1, unit=Rate.MINUTES), name="issue_jobs_run")
def issue_jobs_run(event: Any) -> dict[str, Any]:
    from mini_program_api.coupons import issue_jobs

    return reported("issue_jobs_run", issue_jobs.run(deadline=deadline(event)), event)
