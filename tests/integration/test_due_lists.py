"""A job's due list read by jobs/due.py `owed`: its shards are read at once (a cold scheduled run waited for 32
queries one after another, bench/cold_start.py), and what it yields is what reading them in order gave.

Given members owed to a job across the shards, some not yet due, when `owed` reads the list with a limit below,
at and above the count, then it yields the keys of the shards in order, each oldest first, cut at the limit:
the same as the shards queried one by one.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from mini_program_api.db.due import DueMarker
from mini_program_api.db.schema import DUE_SHARDS
from mini_program_api.db.transact import Transaction
from mini_program_api.jobs import due

MEMBERS = 60


def _one_by_one(job: str, now: Any, limit: int) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    for shard in range(DUE_SHARDS):
        for item in DueMarker.due.query(f"DUE#{job}#{shard}", DueMarker.due_sk <= due.stamp(now)):
            keys.append((item.pk, item.sk))
    return keys[:limit]


@pytest.mark.parametrize("limit", [1, 7, 45, MEMBERS, 500])
def test_owed_reads_the_shards_at_once_and_yields_them_in_order(merchant: Any, clock: Any, limit: int) -> None:
    job = f"test-{uuid.uuid4().hex[:8]}"
    for n in range(MEMBERS):
        tx = Transaction()
        late = n % 4 == 0  # a quarter owed only tomorrow: not due yet, never yielded
        due.mark(tx, merchant.merchant_id, f"m{n:03d}", job, clock.now + timedelta(days=1 if late else -1, minutes=n))
        tx.commit()
    owed = list(due.owed(DueMarker, job, clock.now, limit))
    expected = _one_by_one(job, clock.now, limit)
    assert owed == expected
    assert len(owed) == min(limit, MEMBERS - MEMBERS // 4)
    assert len({due.slot(job, pk, clock.now)[0] for pk, _ in owed}) > 1 or limit == 1  # several shards were read


def test_nothing_owed_reads_every_shard_and_yields_nothing(merchant: Any, clock: Any) -> None:
    assert list(due.owed(DueMarker, f"test-{uuid.uuid4().hex[:8]}", clock.now, 100)) == []
    assert list(due.owed(DueMarker, "any", clock.now, 0)) == []


def test_the_shards_are_queried_by_several_readers_at_once(merchant: Any, clock: Any) -> None:
    """What keeps the cut: the 32 queries are not made one after another by the job's own thread."""
    import threading

    from mini_program_api.db.models import connection

    readers: list[str] = []

    def seen(**_: Any) -> None:
        readers.append(threading.current_thread().name)

    events = connection().client.meta.events
    events.register("before-call.dynamodb.Query", seen)
    try:
        list(due.owed(DueMarker, f"test-{uuid.uuid4().hex[:8]}", clock.now, 100))
    finally:
        events.unregister("before-call.dynamodb.Query", seen)
    assert len(readers) == DUE_SHARDS
    assert threading.current_thread().name not in readers and len(set(readers)) > 1


def test_a_one_shard_list_is_read_by_one_query_in_the_runs_own_thread(merchant: Any, clock: Any) -> None:
    """The issue jobs' list (every minute, few items) is one partition: no reader threads, one Query."""
    import threading

    from mini_program_api.coupons import issue_jobs
    from mini_program_api.db.issue_jobs import IssueJob
    from mini_program_api.db.models import connection

    assert due.shards_of(issue_jobs.JOB) == 1
    readers: list[str] = []

    def seen(**_: Any) -> None:
        readers.append(threading.current_thread().name)

    events = connection().client.meta.events
    events.register("before-call.dynamodb.Query", seen)
    try:
        assert list(due.owed(IssueJob, issue_jobs.JOB, clock.now, 100)) == []
    finally:
        events.unregister("before-call.dynamodb.Query", seen)
    assert readers == [threading.current_thread().name]


def test_items_left_on_a_lowered_lists_old_shards_are_moved_into_its_one_shard(
    api: Any, merchant: Any, monkeypatch: Any
) -> None:
    """An issue job written before its list went from 32 shards to one waits on an old shard, unread, until
    `infra.deploy.upgrade` moves it; moving is conditional on the slot read, so a second run moves nothing and
    a job that took a new slot meanwhile keeps it."""
    from infra.deploy import upgrade
    from mini_program_api.coupons import issue_jobs
    from mini_program_api.db import transact
    from mini_program_api.db.issue_jobs import IssueJob
    from mini_program_api.platform import clock

    admin = api.admin_token(merchant)
    jobs = _issue_jobs(api, merchant, 2)
    waiting, moved_meanwhile = jobs
    for job, shard in ((waiting, 7), (moved_meanwhile, 31)):  # where the 32-shard list had put them
        job.update(actions=[IssueJob.due_pk.set(f"DUE#{issue_jobs.JOB}#{shard}")])
    assert issue_jobs.run().jobs == 0  # unread where they are

    later = due.stamp(clock.now() + timedelta(minutes=5))
    update_if = transact.update_if

    def racing(model: Any, actions: Any, condition: Any) -> bool:
        """The second job takes a slot of the new list between the move's read and its write."""
        if (model.pk, model.sk) == (moved_meanwhile.pk, moved_meanwhile.sk):
            moved_meanwhile.update(actions=[IssueJob.due_pk.set(f"DUE#{issue_jobs.JOB}#0"), IssueJob.due_sk.set(later)])
        return update_if(model, actions, condition)

    monkeypatch.setattr(transact, "update_if", racing)
    assert upgrade.move_due_items() == 1
    monkeypatch.setattr(transact, "update_if", update_if)
    assert upgrade.move_due_items() == 0  # run again: nothing left to move

    after = {j.job_id: IssueJob.get(j.pk, j.sk, consistent_read=True) for j in jobs}
    assert (after[waiting.job_id].due_pk, after[waiting.job_id].due_sk) == (f"DUE#{issue_jobs.JOB}#0", waiting.due_sk)
    assert (after[moved_meanwhile.job_id].due_pk, after[moved_meanwhile.job_id].due_sk) == (
        f"DUE#{issue_jobs.JOB}#0",
        later,
    )
    assert issue_jobs.run().jobs == 1  # the waiting job is read again, and runs
    status, done = api.get(f"/v1/admin/issue-jobs/{waiting.job_id}", token=admin)
    assert status == 200 and (done["status"], done["issued"]) == ("DONE", 1), done


def test_a_job_deferred_on_its_old_shard_while_the_upgrade_runs_is_still_moved(
    api: Any, merchant: Any, monkeypatch: Any
) -> None:
    """A run of the code from before the deploy (a scheduled run takes up to its minute) defers a job it failed on:
    the job keeps its old shard with a later `due_sk`, between the move's read of the list (an index, eventually
    consistent) and its write. Moving it rewrites only `due_pk`, so only that must still be the one read: pinned
    to the old `due_sk` too, the move was refused and the job waited, unread, on its old shard for good."""
    from infra.deploy import upgrade
    from mini_program_api.coupons import issue_jobs
    from mini_program_api.db import transact
    from mini_program_api.db.issue_jobs import IssueJob
    from mini_program_api.platform import clock
    from mini_program_api.platform.errors import KabaoError

    (made,) = _issue_jobs(api, merchant, 1)
    key = (made.pk, made.sk)
    old = f"DUE#{issue_jobs.JOB}#5"  # where the 32-shard list had put it
    IssueJob(*key).update(actions=[IssueJob.due_pk.set(old)])
    update_if = transact.update_if

    def deferred_meanwhile(model: Any, actions: Any, condition: Any) -> bool:
        if (model.pk, model.sk) == key:
            assert due.defer(
                IssueJob.get(*key, consistent_read=True), clock.now(), KabaoError("TEMPLATE_NOT_USABLE", "x")
            )
        return update_if(model, actions, condition)

    monkeypatch.setattr(transact, "update_if", deferred_meanwhile)
    assert upgrade.move_due_items() == 1
    monkeypatch.setattr(transact, "update_if", update_if)
    after = IssueJob.get(*key, consistent_read=True)
    assert after.due_pk == f"DUE#{issue_jobs.JOB}#0" and int(after.due_attempts) == 1  # moved, its backoff kept
    assert after.due_sk > due.stamp(clock.now())


def _issue_jobs(api: Any, merchant: Any, count: int) -> list[Any]:
    """`count` running issue jobs of one coupon to one member, as stored (IssueJob items)."""
    from mini_program_api.db.issue_jobs import IssueJob, issue_job_pk

    admin = api.admin_token(merchant)
    body = {"name": "回馈券", "kind": "CASH", "amount": 300, "per_member_limit": 1, "days_after_claim": 7}
    status, template = api.post("/v1/admin/coupon-templates", {**body, "listed": False, "total_stock": 10}, token=admin)
    assert status == 201, template
    member = api.member_with_card(merchant)["member"]["member_id"]
    jobs = []
    for _ in range(count):
        status, job = api.post(
            "/v1/admin/issue-jobs",
            {"template_id": template["template_id"], "member_ids": [member]},
            token=admin,
            headers={"idempotency-key": uuid.uuid4().hex},
        )
        assert status == 201, job
        jobs.append(IssueJob.get(issue_job_pk(merchant.merchant_id), job["job_id"], consistent_read=True))
    return jobs
