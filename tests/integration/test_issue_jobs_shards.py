"""Issue 26 §1: an issue job's own items spread. Its results and its counts (issued, failed, sold_out) land on
`ISSUE_JOB_SHARDS` partitions by member, each moved in the member's own transaction, and are read back summed
and walked with one cursor; a job from before the split (results in one partition, counts on the job item)
still reads right and resumes. Against DynamoDB Local, two runners in threads."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from typing import Any

import boto3

from mini_program_api.coupons import issue_jobs
from mini_program_api.db.coupons import Coupon
from mini_program_api.db.issue_jobs import IssueCount, IssueJob, IssueResult, issue_job_pk, issue_result_pk
from mini_program_api.db.models import member_pk


def _template(api: Any, merchant: Any, stock: int) -> str:
    body = {"name": "回馈券", "kind": "CASH", "amount": 300, "per_member_limit": 1, "days_after_claim": 7}
    status, got = api.post(
        "/v1/admin/coupon-templates", {**body, "listed": False, "total_stock": stock}, token=api.admin_token(merchant)
    )
    assert status == 201, got
    return str(got["template_id"])


def _post_job(api: Any, merchant: Any, template_id: str, member_ids: list[str]) -> str:
    status, job = api.post(
        "/v1/admin/issue-jobs",
        {"template_id": template_id, "member_ids": member_ids},
        token=api.admin_token(merchant),
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 201, job
    return str(job["job_id"])


def _job(api: Any, merchant: Any, job_id: str) -> dict[str, Any]:
    status, body = api.get(f"/v1/admin/issue-jobs/{job_id}", token=api.admin_token(merchant))
    assert status == 200, body
    return body


def _results(api: Any, merchant: Any, job_id: str, limit: int, cursor: str | None = None) -> list[dict[str, Any]]:
    """Every result, `limit` a page, following the cursors from `cursor` on."""
    got: list[dict[str, Any]] = []
    while True:
        path = f"/v1/admin/issue-jobs/{job_id}/results?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        status, page = api.get(path, token=api.admin_token(merchant))
        assert status == 200, page
        got += page["results"]
        cursor = page["cursor"]
        if not cursor:
            return got


def _held(merchant: Any, member_id: str, template_id: str) -> int:
    coupons = Coupon.query(
        member_pk(merchant.merchant_id, member_id), Coupon.sk.startswith("COUPON#"), consistent_read=True
    )
    return sum(1 for c in coupons if c.template_id == template_id)


def _drain(**kw: Any) -> None:
    for _ in range(50):
        if not issue_jobs.run(**kw).jobs:
            return
    raise AssertionError("the jobs never finished")


def _raw(ddb_endpoint: str, prefix: str) -> list[dict[str, Any]]:
    """Every item whose pk starts with `prefix`, as stored (a Scan of a test's own table)."""
    client = boto3.client("dynamodb", endpoint_url=ddb_endpoint)
    pages = client.get_paginator("scan").paginate(TableName=IssueJob.Meta.table_name, ConsistentRead=True)
    return [i for page in pages for i in page["Items"] if i["pk"]["S"].startswith(prefix)]


def _cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_a_jobs_results_and_counts_spread_over_shards_and_read_back_once_each(
    api: Any, merchant: Any, ddb_endpoint: str
) -> None:
    mid = merchant.merchant_id
    template_id = _template(api, merchant, stock=100)
    members = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(12)]
    job_id = _post_job(api, merchant, template_id, [*members, "nobody", "nobody2"])
    _drain(page_size=5)

    stored = _raw(ddb_endpoint, f"MCH#{mid}#ISSUEJOB")
    job_item = next(i for i in stored if i["pk"]["S"] == issue_job_pk(mid))
    assert int(job_item.get("issued", {"N": "0"})["N"]) == 0  # no member's write lands on the job item
    results = {i["pk"]["S"] for i in stored if i["sk"]["S"] != "COUNT" and i["pk"]["S"] != issue_job_pk(mid)}
    counts = {i["pk"]["S"] for i in stored if i["sk"]["S"] == "COUNT"}
    assert issue_result_pk(mid, job_id) not in results  # nothing in the one partition of before
    assert len(results) > 3 and len(counts) > 3, (results, counts)  # 14 members over 8 shards

    done = _job(api, merchant, job_id)
    assert (done["status"], done["scanned"], done["issued"], done["failed"]) == ("DONE", 14, 12, 2)
    assert sum(_held(merchant, m, template_id) for m in members) == done["issued"]
    status, listed = api.get("/v1/admin/issue-jobs", token=api.admin_token(merchant))
    assert status == 200 and [(j["issued"], j["failed"]) for j in listed["jobs"]] == [(12, 2)]

    walked = _results(api, merchant, job_id, limit=5)
    assert sorted(r["member_id"] for r in walked) == sorted([*members, "nobody", "nobody2"])
    assert {r["member_id"]: r["status"] for r in walked if r["status"] == "FAILED"} == {
        "nobody": "FAILED",
        "nobody2": "FAILED",
    }
    for bad in ("x", _cursor({"p": 99, "sk": "a"}), _cursor({"p": "0", "sk": "a"}), _cursor({"p": 0, "other": 1})):
        status, body = api.get(f"/v1/admin/issue-jobs/{job_id}/results?cursor={bad}", token=api.admin_token(merchant))
        assert (status, body["error"]["code"]) == (400, "INVALID_CURSOR"), bad


def _as_before_the_split(merchant_id: str, job_id: str) -> None:
    """Test setup: move what the job wrote so far to where a job created before the split wrote it (results in
    one partition, counts on the job item, no `shards`)."""
    job = IssueJob.get(issue_job_pk(merchant_id), job_id, consistent_read=True)
    totals = {"issued": 0, "failed": 0, "sold_out": 0}
    for n in range(int(job.shards)):
        for result in IssueResult.query(issue_result_pk(merchant_id, job_id, n), consistent_read=True):
            IssueResult(
                issue_result_pk(merchant_id, job_id),
                result.sk,
                member_id=result.member_id,
                status=result.status,
                coupon_id=result.coupon_id,
                error=result.error,
                at=result.at,
            ).save()
            result.delete()
        for shard in IssueCount.query(f"MCH#{merchant_id}#ISSUEJOB#{job_id}#COUNT#{n}", consistent_read=True):
            for name in totals:
                totals[name] += int(getattr(shard, name) or 0)
            shard.delete()
    job.update(
        actions=[
            IssueJob.shards.remove(),
            IssueJob.cursor.remove(),  # and it died before saving its cursor: its page is done again
            *(getattr(IssueJob, name).set(value) for name, value in totals.items()),
        ]
    )


def test_a_job_from_before_the_split_reads_right_and_resumes_counting_nobody_twice(
    api: Any, merchant: Any, ddb_endpoint: str
) -> None:
    mid = merchant.merchant_id
    template_id = _template(api, merchant, stock=100)
    members = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(6)]
    ids = ["nobody", *members]
    job_id = _post_job(api, merchant, template_id, ids)
    issue_jobs.run(page_size=3, max_pages=1)
    _as_before_the_split(mid, job_id)
    assert {i["pk"]["S"] for i in _raw(ddb_endpoint, issue_result_pk(mid, job_id))} == {issue_result_pk(mid, job_id)}

    before = _job(api, merchant, job_id)
    assert (before["status"], before["issued"], before["failed"]) == ("RUNNING", 2, 1)
    first = _results(api, merchant, job_id, limit=2)
    assert sorted(r["member_id"] for r in first) == sorted(ids[:3])
    # A cursor handed out before the split (the member alone) is a place in the old partition.
    rest = _results(api, merchant, job_id, limit=2, cursor=_cursor({"sk": sorted(ids[:3])[0]}))
    assert sorted(r["member_id"] for r in rest) == sorted(ids[:3])[1:]

    _drain(page_size=3)
    done = _job(api, merchant, job_id)
    assert (done["status"], done["scanned"], done["issued"], done["failed"]) == ("DONE", 10, 6, 1), done
    assert [_held(merchant, m, template_id) for m in members] == [1] * 6
    walked = _results(api, merchant, job_id, limit=3)
    assert sorted(r["member_id"] for r in walked) == sorted(ids)  # the old partition's and the shards', once each
    status, listed = api.get("/v1/admin/issue-jobs", token=api.admin_token(merchant))
    assert [(j["issued"], j["failed"]) for j in listed["jobs"]] == [(6, 1)]


def test_two_runners_on_one_job_count_exactly_what_members_hold_sold_out_and_after_restock(
    api: Any, merchant: Any, clock: Any, ddb_endpoint: str
) -> None:
    """Two runners at once on one job, members refused SOLD_OUT, then stock added and two runners again: the
    summed counts are the coupons members hold and the FAILED results, every time."""
    mid = merchant.merchant_id
    template_id = _template(api, merchant, stock=5)
    members = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(9)]
    job_id = _post_job(api, merchant, template_id, [*members, "nobody"])

    def both(**kw: Any) -> None:
        barrier = threading.Barrier(2)

        def runner() -> None:
            barrier.wait()
            _drain(**kw)

        threads = [threading.Thread(target=runner) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    both(page_size=2)
    done = _job(api, merchant, job_id)
    held = sum(_held(merchant, m, template_id) for m in members)
    results = _results(api, merchant, job_id, limit=4)
    assert (done["status"], done["issued"], done["failed"], held) == ("DONE", 5, 5, 5)
    assert sorted((r["status"], r["error"]) for r in results) == sorted(
        [("ISSUED", None)] * 5 + [("FAILED", "SOLD_OUT")] * 4 + [("FAILED", "MEMBER_NOT_FOUND")]
    )
    job = issue_jobs.counted([IssueJob.get(issue_job_pk(mid), job_id, consistent_read=True)])[0]
    assert int(job.sold_out) == 4

    status, body = api.patch(
        f"/v1/admin/coupon-templates/{template_id}", {"total_stock": 20}, token=api.admin_token(merchant)
    )
    assert status == 200, body
    clock.advance(minutes=11)
    both()
    after = _job(api, merchant, job_id)
    assert (after["status"], after["issued"], after["failed"]) == ("DONE", 9, 1)
    assert [_held(merchant, m, template_id) for m in members] == [1] * 9
    job = issue_jobs.counted([IssueJob.get(issue_job_pk(mid), job_id, consistent_read=True)])[0]
    assert int(job.sold_out) == 0
    stored = _raw(ddb_endpoint, issue_job_pk(mid))
    assert all(int(i.get("issued", {"N": "0"})["N"]) == 0 for i in stored if i["pk"]["S"] == issue_job_pk(mid))


def test_members_an_old_job_refused_sold_out_are_issued_once_stock_is_added(
    api: Any, merchant: Any, clock: Any
) -> None:
    """A job from before the split that ended its pass with members refused SOLD_OUT (their results in its one
    partition, the counts on its job item) issues to them once stock comes, and its totals move once."""
    mid = merchant.merchant_id
    template_id = _template(api, merchant, stock=1)
    members = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(3)]
    job_id = _post_job(api, merchant, template_id, members)
    _drain()
    _as_before_the_split(mid, job_id)
    before = _job(api, merchant, job_id)
    assert (before["status"], before["issued"], before["failed"]) == ("DONE", 1, 2)

    status, body = api.patch(
        f"/v1/admin/coupon-templates/{template_id}", {"total_stock": 3}, token=api.admin_token(merchant)
    )
    assert status == 200, body
    clock.advance(minutes=11)
    issue_jobs.run()
    issue_jobs.run()
    after = _job(api, merchant, job_id)
    assert (after["status"], after["issued"], after["failed"]) == ("DONE", 3, 0)
    assert [_held(merchant, m, template_id) for m in members] == [1, 1, 1]
    assert sorted(r["status"] for r in _results(api, merchant, job_id, limit=2)) == ["ISSUED"] * 3
    assert int(issue_jobs.counted([IssueJob.get(issue_job_pk(mid), job_id, consistent_read=True)])[0].sold_out) == 0
    clock.advance(days=1)
    assert issue_jobs.run().jobs == 0  # off the list: nothing left to wait for
