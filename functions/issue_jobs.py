"""Every minute: work through the running issue jobs (mini_program_api/issue_jobs.py) within the Lambda's time.

Thin: a run that is cut short leaves each job's saved cursor, and the next run resumes there."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from chalice import Blueprint, Rate

from mini_program_api import issue_jobs
from mini_program_api.telemetry import logs, metrics

bp = Blueprint(__name__)
SAFETY_SECONDS = 20.0  # stop taking new pages this long (at most a fifth of the run) before the kill


@bp.schedule(Rate(1, unit=Rate.MINUTES), name="issue_jobs_run")
def issue_jobs_run(event: Any) -> dict[str, Any]:
    context = getattr(event, "context", None)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    deadline = None
    if callable(remaining):
        seconds = remaining() / 1000
        deadline = time.monotonic() + seconds - min(SAFETY_SECONDS, seconds / 5)
    result = issue_jobs.run(deadline=deadline)
    report = dataclasses.asdict(result)
    logs.job("issue_jobs_run", report, context)
    metrics.job_run("issue_jobs_run", result.jobs, len(result.failed))
    return report
