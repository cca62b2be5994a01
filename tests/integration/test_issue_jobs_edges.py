"""Issue jobs after their results and counts were sharded (issue 26 §1), at the edges a review found: what a
retried POST answers, a job from before the split when the shard count grows, and a member refused twice (once in
the old partition, once in a shard) by an old and a new runner at once during the deploy. Against DynamoDB Local."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from mini_program_api.coupons import issue_jobs
from mini_program_api.db.models import IssueJob, issue_job_pk
from tests.integration.test_issue_jobs_shards import _drain, _job, _results, _template


def _post(api: Any, merchant: Any, template_id: str, member_ids: list[str], key: str) -> tuple[int, Any]:
    return api.post(
        "/v1/admin/issue-jobs",
        {"template_id": template_id, "member_ids": member_ids},
        token=api.admin_token(merchant),
        headers={"idempotency-key": key},
    )


def test_a_create_retried_with_its_key_answers_the_jobs_counts_as_its_get_does(api: Any, merchant: Any) -> None:
    """The retry returns the job made by the first POST: with its counts summed from the shards, as GET and the
    list give them, not the job item's own (zero since the split)."""
    template_id = _template(api, merchant, stock=100)
    members = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(3)]
    key = uuid.uuid4().hex
    status, first = _post(api, merchant, template_id, [*members, "nobody"], key)
    assert status == 201, first
    _drain()
    status, again = _post(api, merchant, template_id, [*members, "nobody"], key)
    assert status in (200, 201), again
    got = _job(api, merchant, first["job_id"])
    assert (got["issued"], got["failed"]) == (3, 1)
    assert (again["job_id"], again["issued"], again["failed"], again["status"]) == (
        first["job_id"],
        got["issued"],
        got["failed"],
        got["status"],
    )


def _before_the_split(merchant_id: str, job_id: str) -> IssueJob:
    """Test setup: the job as one created before the split (no `shards`), with nothing done yet."""
    job = IssueJob.get(issue_job_pk(merchant_id), job_id, consistent_read=True)
    job.update(actions=[IssueJob.shards.remove()])
    return job


def test_a_job_from_before_the_split_keeps_its_shards_when_the_shard_count_grows(
    api: Any, merchant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job from before the split writes its results into shards it has not recorded. When ISSUE_JOB_SHARDS
    grows (a deploy), a page done again (its runner died before saving the cursor) must find each member's
    result where it was written, not record them a second time in another shard."""
    mid = merchant.merchant_id
    template_id = _template(api, merchant, stock=100)
    members = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(2)]
    ids = ["nobody", "ghost-1", *members]  # two unknown ids whose shard of 16 is not their shard of 8
    status, job = _post(api, merchant, template_id, ids, uuid.uuid4().hex)
    assert status == 201, job
    _before_the_split(mid, job["job_id"])
    issue_jobs.run(page_size=2, max_pages=1)
    IssueJob(issue_job_pk(mid), job["job_id"]).update(actions=[IssueJob.cursor.remove()])  # died before saving it

    monkeypatch.setattr(issue_jobs, "ISSUE_JOB_SHARDS", 16)
    _drain(page_size=2)
    done = _job(api, merchant, job["job_id"])
    assert (done["status"], done["issued"], done["failed"]) == ("DONE", 2, 2), done
    walked = _results(api, merchant, job["job_id"], limit=3)
    assert sorted(r["member_id"] for r in walked) == sorted(ids)
