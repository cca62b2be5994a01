"""Issue jobs after their results and counts were sharded (issue 26 §1), at the edges a review found: what a
retried POST answers, a job from before the split when the shard count grows, a member refused twice (once in
the old partition, once in a shard) by an old and a new runner at once during the deploy, and an old runner's
results for a job made after the split. And the edges that held: three racing runners after a killed one with
an erased member and a restock, crafted results cursors, member jobs' and imports' 404s and pages. Against
DynamoDB Local, runners in threads."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from mini_program_api.coupons import issue_jobs
from mini_program_api.data_rights import erasure
from mini_program_api.db.issue_jobs import IssueCount, IssueJob, IssueResult, issue_job_pk, issue_result_pk, issue_shard
from mini_program_api.platform.auth import Principal
from tests.integration.test_issue_jobs_shards import _cursor, _drain, _held, _job, _results, _template


def _key() -> dict[str, str]:
    return {"idempotency-key": uuid.uuid4().hex}


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


def test_three_runners_after_one_killed_mid_page_count_what_members_hold_before_and_after_a_restock(
    api: Any, merchant: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runner dies between its page's coupons and its cursor's save; a member is erased before their page;
    then three runners at once work the job while an admin reads it, the stock runs out, and after a restock
    three runners again. Every time: `issued` is the coupons members hold, each member has one result, and no
    read during a run shows more than the job counts once it stops."""
    mid = merchant.merchant_id
    template_id = _template(api, merchant, stock=6)
    members = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(10)]
    ids = [*members, "nobody"]
    status, job = _post(api, merchant, template_id, ids, uuid.uuid4().hex)
    assert status == 201, job
    job_id = job["job_id"]

    def killed(*_: Any, **__: Any) -> bool:
        raise RuntimeError("the Lambda was killed before the cursor's save")

    with monkeypatch.context() as patched:
        patched.setattr(issue_jobs, "_advance", killed)
        issue_jobs.run(page_size=4, max_pages=1)
    assert IssueJob.get(issue_job_pk(mid), job_id, consistent_read=True).cursor is None
    assert _job(api, merchant, job_id)["issued"] == 4  # its page's coupons were given, and counted
    erased = members[-1]
    erasure.erase(mid, erased, Principal(mid, erased, "member"))
    clock.advance(hours=1)  # past the killed run's backoff

    settled, reissue = issue_jobs._settled, issue_jobs._reissue
    meetings: dict[tuple[str, str], threading.Barrier] = {}
    lock = threading.Lock()

    def meet(*key: str) -> None:
        """The runners wait for each other at each member (a second at most), so all three race for them."""
        with lock:
            barrier = meetings.setdefault(key, threading.Barrier(3, timeout=1))
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass  # not every runner came to this member

    def racing_settled(job: IssueJob, key: tuple[str, str]) -> bool:
        found = settled(job, key)
        meet("give", key[1])
        return found

    def racing_reissue(job: IssueJob, *args: Any) -> bool:
        meet("reissue", str(args[1].member_id))
        return reissue(job, *args)

    monkeypatch.setattr(issue_jobs, "_settled", racing_settled)
    monkeypatch.setattr(issue_jobs, "_reissue", racing_reissue)

    def three(**kw: Any) -> list[tuple[int, int]]:
        """Three runners at once until the job rests, and what an admin read meanwhile."""
        barrier, stop, seen = threading.Barrier(4), threading.Event(), []

        def runner() -> None:
            barrier.wait()
            _drain(**kw)

        def reader() -> None:
            barrier.wait()
            while not stop.is_set():
                got = issue_jobs.get(mid, job_id)
                seen.append((int(got.issued), int(got.failed)))

        threads = [threading.Thread(target=runner) for _ in range(3)]
        watcher = threading.Thread(target=reader)
        for t in [*threads, watcher]:
            t.start()
        for t in threads:
            t.join()
        stop.set()
        watcher.join()
        return seen

    seen = three(page_size=3)
    done = _job(api, merchant, job_id)
    results = _results(api, merchant, job_id, limit=4)
    assert sorted(r["member_id"] for r in results) == sorted(ids)
    assert (done["status"], done["issued"], done["failed"]) == ("DONE", 6, 5), done
    assert sum(_held(merchant, m, template_id) for m in members) == 6
    assert sorted(r["error"] for r in results if r["status"] == "FAILED") == sorted(
        ["SOLD_OUT"] * 3 + ["CARD_NOT_OPEN", "MEMBER_NOT_FOUND"]
    )
    assert seen and all(issued <= 6 and failed <= 5 for issued, failed in seen), seen

    status, body = api.patch(
        f"/v1/admin/coupon-templates/{template_id}", {"total_stock": 20}, token=api.admin_token(merchant)
    )
    assert status == 200, body
    clock.advance(minutes=11)
    seen = three()
    after = _job(api, merchant, job_id)
    assert (after["status"], after["issued"], after["failed"]) == ("DONE", 9, 2), after
    assert [_held(merchant, m, template_id) for m in members] == [1] * 9 + [0]
    assert sorted(r["member_id"] for r in _results(api, merchant, job_id, limit=4)) == sorted(ids)
    assert all(issued <= 9 for issued, _ in seen), seen


def test_a_results_cursor_from_another_job_or_merchant_pages_this_job_only(
    api: Any, merchant: Any, make_merchant: Any
) -> None:
    """A cursor is a place, never a partition: another job's (this merchant's or another's, sharded or from
    before the split) walks this job's results; one out of this job's shards, or not ours, is 400."""
    other = make_merchant()
    mine, theirs = [], []
    for shop, bucket in ((merchant, mine), (other, theirs), (merchant, mine)):
        template_id = _template(api, shop, stock=50)
        people = [api.member_with_card(shop)["member"]["member_id"] for _ in range(3)]
        status, job = _post(api, shop, template_id, [*people, f"ghost-{len(bucket)}"], uuid.uuid4().hex)
        assert status == 201, job
        bucket.append((job["job_id"], {*people, f"ghost-{len(bucket)}"}))
    _drain()
    (job_id, whose), (sibling, _) = mine
    status, page = api.get(f"/v1/admin/issue-jobs/{sibling}/results?limit=1", token=api.admin_token(merchant))
    assert status == 200 and page["cursor"], page
    status, page_b = api.get(f"/v1/admin/issue-jobs/{theirs[0][0]}/results?limit=1", token=api.admin_token(other))
    assert status == 200 and page_b["cursor"], page_b
    cursors = [page["cursor"], page_b["cursor"], _cursor({"sk": "0"}), _cursor({"p": 8, "sk": "0"})]
    for cursor in cursors:
        got = _results(api, merchant, job_id, limit=2, cursor=cursor)
        assert {r["member_id"] for r in got} <= whose, cursor
    for bad in (_cursor({"p": 9, "sk": "0"}), _cursor({"p": 0, "sk": ""}), _cursor({"p": 0}), "%%%", "e30"):
        status, body = api.get(f"/v1/admin/issue-jobs/{job_id}/results?cursor={bad}", token=api.admin_token(merchant))
        assert status == 400 and body["error"]["code"] in ("INVALID_CURSOR", "VALIDATION_ERROR"), (bad, body)
    status, body = api.get(f"/v1/admin/issue-jobs/{job_id}/results?limit=101", token=api.admin_token(merchant))
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")


def test_member_jobs_and_imports_keep_their_404s_and_page_with_their_cursors(
    api: Any, merchant: Any, make_merchant: Any
) -> None:
    """After the one find/get/page (jobs/records.py): another merchant's job or a made-up id is 404 with each
    kind's own message, and a merchant's member jobs page one at a time to the end with the cursors given."""
    admin, stranger = api.admin_token(merchant), api.admin_token(make_merchant())
    tag = api.ok("POST", "/v1/admin/tags", {"name": "常客"}, token=admin)["tag_id"]
    made = [
        api.ok("POST", "/v1/admin/member-jobs", {"kind": kind, "tag_id": tag}, token=admin, headers=_key())["job_id"]
        for kind in ("TAG", "UNTAG")
    ]
    for path, message in (
        (f"/v1/admin/member-jobs/{made[0]}", "no such member job"),
        ("/v1/admin/member-jobs/MJnope", "no such member job"),
        ("/v1/admin/member-imports/Inope", "no such import"),
        ("/v1/admin/issue-jobs/Jnope", "no such issue job"),
    ):
        status, body = api.get(path, token=stranger)
        assert (status, body["error"]) == (404, {"code": "NOT_FOUND", "message": message}), path
    walked, cursor = [], None
    while True:
        page = api.ok("GET", "/v1/admin/member-jobs?limit=1" + (f"&cursor={cursor}" if cursor else ""), token=admin)
        walked += [j["job_id"] for j in page["jobs"]]
        cursor = page["cursor"]
        if not cursor:
            break
    assert sorted(walked) == sorted(made)
    assert api.ok("GET", "/v1/admin/member-jobs", token=stranger)["jobs"] == []
    assert api.ok("GET", "/v1/admin/member-imports?limit=1", token=stranger) == {"imports": [], "cursor": None}


def test_a_refusal_an_old_runner_wrote_for_a_job_made_after_the_split_is_listed_and_issued_once_stock_comes(
    api: Any, merchant: Any, clock: Any
) -> None:
    """During the deploy a runner still on the old code (a minute's Lambda) can take up a job the new API just
    made: it writes its results in the job's one partition and counts them on the job item. The job's counts
    include them, so its results must list them and its stock recheck must find them."""
    mid = merchant.merchant_id
    template_id = _template(api, merchant, stock=1)
    members = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(2)]
    status, job = _post(api, merchant, template_id, members, uuid.uuid4().hex)
    assert status == 201, job
    job_id = job["job_id"]
    _drain()
    # The refusal as the old runner wrote it: in the one partition, counted on the job item (the job keeps `shards`).
    (refused,) = [
        r
        for n in range(8)
        for r in IssueResult.query(issue_result_pk(mid, job_id, n), consistent_read=True)
        if r.status == "FAILED"
    ]
    IssueResult(
        issue_result_pk(mid, job_id),
        refused.sk,
        member_id=refused.member_id,
        status="FAILED",
        error="SOLD_OUT",
        at=refused.at,
    ).save()
    refused.delete()
    for shard in IssueCount.query(f"MCH#{mid}#ISSUEJOB#{job_id}#COUNT#{issue_shard(str(refused.member_id))}"):
        shard.update(actions=[IssueCount.failed.add(-1), IssueCount.sold_out.add(-1)])
    IssueJob(issue_job_pk(mid), job_id).update(actions=[IssueJob.failed.set(1), IssueJob.sold_out.set(1)])
    before = _job(api, merchant, job_id)
    assert (before["issued"], before["failed"]) == (1, 1)
    listed = _results(api, merchant, job_id, limit=1)
    assert sorted((r["member_id"], r["status"]) for r in listed) == sorted(
        [(members[0], "ISSUED"), (members[1], "FAILED")]
    )

    status, body = api.patch(
        f"/v1/admin/coupon-templates/{template_id}", {"total_stock": 5}, token=api.admin_token(merchant)
    )
    assert status == 200, body
    clock.advance(minutes=11)
    issue_jobs.run()
    after = _job(api, merchant, job_id)
    assert (after["status"], after["issued"], after["failed"]) == ("DONE", 2, 0), after
    assert [_held(merchant, m, template_id) for m in members] == [1, 1]
    clock.advance(days=1)
    assert issue_jobs.run().jobs == 0  # off the list: nobody is waiting for stock
