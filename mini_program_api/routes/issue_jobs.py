"""Issue jobs (role admin): give a coupon template to a list of members or to a filter, read progress back."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from chalice import Blueprint
from pydantic import BaseModel, Field, model_validator

from .. import clock, issue_jobs
from ..db.models import IssueJob, IssueResult
from .endpoint import Call, endpoint
from .schemas import PageQuery, Strict

bp = Blueprint(__name__)
_Id = Annotated[str, Field(min_length=1, max_length=64)]


class IssueFilterBody(Strict):
    """Every criterion given must hold; at least one. (A reports `segment` is meant to join these.)"""

    tier_ids: list[_Id] = Field(default_factory=list, max_length=20)
    dormant: bool | None = None
    birthday_month: int | None = Field(default=None, ge=1, le=12)


class IssueJobBody(Strict):
    template_id: _Id
    member_ids: list[_Id] | None = Field(default=None, min_length=1, max_length=issue_jobs.MAX_MEMBER_IDS)
    filter: IssueFilterBody | None = None

    @model_validator(mode="after")
    def _one_of(self) -> "IssueJobBody":
        if (self.member_ids is None) == (self.filter is None):
            raise ValueError("give exactly one of member_ids or filter")
        return self


class IssueJobView(BaseModel):
    job_id: str
    template_id: str
    status: Literal["RUNNING", "DONE", "STOPPED"]
    member_count: int | None = Field(description="members listed; null for a filter job")
    filter: dict[str, Any] | None
    scanned: int = Field(description="members looked at so far")
    issued: int = Field(description="coupons given: what the job's members hold")
    failed: int = Field(description="members who could not be given one (see the results)")
    last_error: str | None = Field(description="why the job is waiting (a paused template, the database), if it is")
    created_by: str
    created_at: str
    finished_at: str | None


class IssueJobPage(BaseModel):
    jobs: list[IssueJobView]
    cursor: str | None


class IssueResultView(BaseModel):
    member_id: str
    status: Literal["ISSUED", "FAILED"]
    coupon_id: str | None
    error: str | None
    at: str


class IssueResultPage(BaseModel):
    results: list[IssueResultView]
    cursor: str | None


def _view(job: IssueJob, tz: str) -> dict[str, Any]:
    where = job.filter.as_dict() if job.filter is not None and hasattr(job.filter, "as_dict") else job.filter
    return IssueJobView(
        job_id=job.job_id, template_id=job.template_id, status=job.status,  # type: ignore[arg-type]
        member_count=len(job.member_ids) if job.member_ids is not None else None, filter=where,
        scanned=int(job.scanned), issued=int(job.issued), failed=int(job.failed), last_error=job.due_error,
        created_by=job.created_by, created_at=clock.iso(job.created_at, tz),
        finished_at=clock.iso(job.finished_at, tz) if job.finished_at else None,
    ).model_dump()


def _result_view(result: IssueResult, tz: str) -> dict[str, Any]:
    return IssueResultView(member_id=result.member_id, status=result.status,  # type: ignore[arg-type]
                           coupon_id=result.coupon_id, error=result.error, at=clock.iso(result.at, tz)).model_dump()


@endpoint(bp, "/v1/admin/issue-jobs", "POST", role="admin", body=IssueJobBody, status=201)
def create(call: Call) -> dict[str, Any]:
    body: IssueJobBody = call.body
    where = issue_jobs.Filter(tuple(body.filter.tier_ids), body.filter.dormant, body.filter.birthday_month) \
        if body.filter is not None else None
    job = issue_jobs.create(call.member, body.template_id, body.member_ids, where, call.idempotency_key)
    return _view(job, call.timezone)


@endpoint(bp, "/v1/admin/issue-jobs", "GET", role="admin", query=PageQuery)
def list_jobs(call: Call) -> dict[str, Any]:
    page = issue_jobs.page(call.member.merchant_id, call.query.cursor, call.query.limit)
    tz = call.timezone
    return IssueJobPage.model_validate({"jobs": [_view(j, tz) for j in page.items], "cursor": page.cursor}).model_dump()


@endpoint(bp, "/v1/admin/issue-jobs/{job_id}", "GET", role="admin")
def get_job(call: Call, job_id: str) -> dict[str, Any]:
    return _view(issue_jobs.get(call.member.merchant_id, job_id), call.timezone)


@endpoint(bp, "/v1/admin/issue-jobs/{job_id}/results", "GET", role="admin", query=PageQuery)
def job_results(call: Call, job_id: str) -> dict[str, Any]:
    page = issue_jobs.results(call.member.merchant_id, job_id, call.query.cursor, call.query.limit)
    tz = call.timezone
    return IssueResultPage.model_validate(
        {"results": [_result_view(r, tz) for r in page.items], "cursor": page.cursor}).model_dump()
