"""Every minute: work through the running issue jobs (mini_program_api/issue_jobs.py) within the Lambda's time.

Thin: a run that is cut short leaves each job's saved cursor, and the next run resumes there."""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from chalice import Blueprint, Rate

from mini_program_api import issue_jobs

bp = Blueprint(__name__)
log = logging.getLogger(__name__)
SAFETY_SECONDS = 20.0


@bp.schedule(Rate(1, unit=Rate.MINUTES), name="issue_jobs_run")
def issue_jobs_run(event: Any) -> dict[str, Any]:
    remaining = getattr(getattr(event, "context", None), "get_remaining_time_in_millis", None)
    deadline = None
    if callable(remaining):
        seconds = remaining() / 1000
        deadline = time.monotonic() + seconds - min(SAFETY_SECONDS, seconds / 5)
    report = dataclasses.asdict(issue_jobs.run(deadline=deadline))
    log.info("issue jobs", extra=report)
    return report
