"""Issue jobs (role admin): give a coupon template to a list of members or to a filter, read progress back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from mini_program_api.platform import clock
from mini_program_api.routes.endpoint import Call, endpoint

if TYPE_CHECKING:  # annotations only: models and domain modules load on first use (endpoint.py)
    from mini_program_api.db.issue_jobs import IssueJob, IssueResult
    from mini_program_api.routes.schemas import IssueJobBody

bp = Blueprint(__name__)


def _view(job: IssueJob, tz: str) -> dict[str, Any]:
    where = job.filter.as_dict() if job.filter is not None and hasattr(job.filter, "as_dict") else job.filter
    return {
        "job_id": job.job_id,
        "template_id": job.template_id,
        "status": job.status,
        "member_count": len(job.member_ids) if job.member_ids is not None else None,
        "filter": where,
        "scanned": int(job.scanned),
        "issued": int(job.issued),
        "failed": int(job.failed),
        "last_error": job.due_error,
        "created_by": job.created_by,
        "created_at": clock.iso(job.created_at, tz),
        "finished_at": clock.iso(job.finished_at, tz) if job.finished_at else None,
    }


def _result_view(result: IssueResult, tz: str) -> dict[str, Any]:
    return {
        "member_id": result.member_id,
        "status": result.status,
        "coupon_id": result.coupon_id,
        "error": result.error,
        "at": clock.iso(result.at, tz),
    }


@endpoint(
    bp,
    "/v1/admin/issue-jobs",
    "POST",
    role="admin",
    body="IssueJobBody",
    response="IssueJobView",
    status=201,
    idempotent=True,
    errors=("TEMPLATE_NOT_FOUND", "TEMPLATE_NOT_USABLE", "NOT_FOUND"),
)
def create_issue_job(call: Call) -> dict[str, Any]:
    """Give a template to listed members or to a filter, as a job worked through by the issue_jobs_run function."""
    from mini_program_api.coupons import issue_jobs

    body: IssueJobBody = call.body
    where = (
        issue_jobs.Filter(
            tier_ids=tuple(body.filter.tier_ids),
            dormant=body.filter.dormant,
            birthday_month=body.filter.birthday_month,
            segment=body.filter.segment,
            tag_ids=tuple(body.filter.tag_ids),
        )
        if body.filter is not None
        else None
    )
    job = issue_jobs.create(call.caller, body.template_id, body.member_ids, where, call.idempotency_key)
    return _view(job, call.timezone)


@endpoint(bp, "/v1/admin/issue-jobs", "GET", role="admin", query="PageQuery", response="IssueJobPage")
def list_issue_jobs(call: Call) -> dict[str, Any]:
    """The merchant's issue jobs, paged."""
    from mini_program_api.coupons import issue_jobs

    page = issue_jobs.page(call.caller.merchant_id, call.query.cursor, call.query.limit)
    return {"jobs": [_view(j, call.timezone) for j in page.items], "cursor": page.cursor}


@endpoint(bp, "/v1/admin/issue-jobs/{job_id}", "GET", role="admin", response="IssueJobView")
def get_issue_job(call: Call, job_id: str) -> dict[str, Any]:
    """One issue job with its progress and counts."""
    from mini_program_api.coupons import issue_jobs

    return _view(issue_jobs.get(call.caller.merchant_id, job_id), call.timezone)


@endpoint(
    bp, "/v1/admin/issue-jobs/{job_id}/results", "GET", role="admin", query="PageQuery", response="IssueResultPage"
)
def issue_job_results(call: Call, job_id: str) -> dict[str, Any]:
    """What each member got from the job (ISSUED with its coupon, or FAILED with why), paged."""
    from mini_program_api.coupons import issue_jobs

    page = issue_jobs.results(call.caller.merchant_id, job_id, call.query.cursor, call.query.limit)
    return {"results": [_result_view(r, call.timezone) for r in page.items], "cursor": page.cursor}
