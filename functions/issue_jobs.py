"""Every minute: work through the running issue jobs (mini_program_api/issue_jobs.py) within the Lambda's time.

Thin: a run that is cut short leaves each job's saved cursor, and the next run resumes there. Most minutes no
job runs: the run then reads the jobs' due list once and stops, and loads none of the code that issues (claims,
stock, members: about 23 ms of CPU, a cold run's largest part after one DynamoDB client; bench/cold_start.py);
its report has the runner's fields alone, all nought."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate

from .budget import deadline
from .reported import reported

bp = Blueprint(__name__)


@bp.schedule(Rate(1, unit=Rate.MINUTES), name="issue_jobs_run")
def issue_jobs_run(event: Any) -> dict[str, Any]:
    from mini_program_api.db.schema import ISSUE_JOB_LIST
    from mini_program_api.jobs import due, runner
    from mini_program_api.platform import clock

    if not due.owes(ISSUE_JOB_LIST, clock.now()):
        return reported("issue_jobs_run", runner.Report(job=ISSUE_JOB_LIST), event)
    from mini_program_api.coupons import issue_jobs

    return reported("issue_jobs_run", issue_jobs.run(deadline=deadline(event)), event)
