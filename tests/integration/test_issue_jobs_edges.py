"""Issue jobs after their results and counts were sharded (issue 26 §1), at the edges a review found: what a
retried POST answers, a job from before the split when the shard count grows, and a member refused twice (once in
the old partition, once in a shard) by an old and a new runner at once during the deploy. Against DynamoDB Local."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from mini_program_api.coupons import issue_jobs
from mini_program_api.db.models import IssueJob, IssueResult, issue_job_pk, issue_result_pk
from tests.integration.test_issue_jobs_shards import _drain, _held, _job, _results, _template


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


def test_a_member_refused_in_the_old_partition_and_in_a_shard_is_issued_once_and_the_job_stops_waiting(
    api: Any, merchant: Any, clock: Any
) -> None:
    """During the deploy an old runner (writing the old partition and the job item's counts) and a new one (the
    shards) both refused one member SOLD_OUT on a job from before the split: two refusals of one member. Once
    stock comes the member gets one coupon, the counts are what members hold and who is still refused, and
    the job leaves the due list instead of looking for stock every ten minutes for ever."""
    mid = merchant.merchant_id
    template_id = _template(api, merchant, stock=1)
    members = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(2)]
    status, job = _post(api, merchant, template_id, members, uuid.uuid4().hex)
    assert status == 201, job
    job_id = job["job_id"]
    _drain()
    refused = [
        r
        for n in range(8)
        for r in IssueResult.query(issue_result_pk(mid, job_id, n), consistent_read=True)
        if r.status == "FAILED"
    ]
    assert [r.member_id for r in refused] == [members[1]]
    # The old runner's refusal of the same member: in the job's one partition, counted on its job item.
    old = refused[0]
    IssueResult(
        issue_result_pk(mid, job_id), old.sk, member_id=old.member_id, status="FAILED", error="SOLD_OUT", at=old.at
    ).save()
    IssueJob(issue_job_pk(mid), job_id).update(
        actions=[IssueJob.shards.remove(), IssueJob.failed.set(1), IssueJob.sold_out.set(1)]
    )
    assert (_job(api, merchant, job_id)["issued"], _job(api, merchant, job_id)["failed"]) == (1, 2)

    status, body = api.patch(
        f"/v1/admin/coupon-templates/{template_id}", {"total_stock": 5}, token=api.admin_token(merchant)
    )
    assert status == 200, body
    clock.advance(minutes=11)
    issue_jobs.run()
    issue_jobs.run()
    after = _job(api, merchant, job_id)
    assert [_held(merchant, m, template_id) for m in members] == [1, 1]
    assert (after["status"], after["issued"], after["failed"]) == ("DONE", 2, 0), after
    counted = issue_jobs.counted([IssueJob.get(issue_job_pk(mid), job_id, consistent_read=True)])[0]
    assert int(counted.sold_out) == 0
    assert sorted((r["member_id"], r["status"]) for r in _results(api, merchant, job_id, limit=5)) == sorted(
        (m, "ISSUED") for m in members
    )
    clock.advance(days=1)
    assert issue_jobs.run().jobs == 0  # off the list: nobody is waiting for stock
