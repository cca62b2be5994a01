"""Scheduled jobs back off per item: items that keep failing never starve the work queued behind them.

Issue 11, item 10. The failing items sit at the head of their job's list (older, and in the
same `due_index` shard as the good item), so a job that left them in place would take only them
run after run. Nothing is mocked: reconciliation fails because WeChat Pay rejects the failing
merchant's credentials, the life-cycle jobs because the failing members' rows are gone.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any, Callable

import pytest

from mini_program_api.db.due import DueMarker
from mini_program_api.db.models import member_pk
from mini_program_api.db.topups import TopupOrder, topup_pk
from mini_program_api.db.transact import Transaction
from mini_program_api.jobs import due
from mini_program_api.members import lifecycle, members, tiers
from mini_program_api.merchants import configuration
from mini_program_api.platform import clock
from mini_program_api.topup import orders, reconciliation
from tests.ledger_checks import checked_balances


def _shard(job: str, item_key: str) -> str:
    return due.slot(job, item_key, clock.now())[0]


def _keys_in_shard(job: str, shard: str, n: int, key: Callable[[str], str]) -> list[str]:
    """`n` fresh ids whose items land in `shard` of `job`'s list."""
    found: list[str] = []
    while len(found) < n:
        candidate = uuid.uuid4().hex[:12]
        if _shard(job, key(candidate)) == shard:
            found.append(candidate)
    return found


def test_200_failing_orders_do_not_starve_a_lost_notify_behind_them(api: Any, make_merchant: Any, sandbox: Any) -> None:
    merchant = make_merchant()
    member = api.member_with_card(merchant)
    status, order = api.post(
        "/v1/topup/orders", {"plan_id": "p300"}, token=member["token"], headers={"idempotency-key": uuid.uuid4().hex}
    )
    assert status == 200, order
    json.loads(sandbox.pay.pay(order["order_id"], notify=False).get_data())  # paid, notify lost
    good = order["order_id"]

    broken = make_merchant()
    del sandbox.pay.merchants[broken.pay.mchid]  # WeChat Pay now rejects its every call
    now = clock.now()
    failing = _keys_in_shard(orders.JOB, _shard(orders.JOB, good), 210, lambda k: f"T{k}")
    with TopupOrder.batch_write() as batch:
        for i, key in enumerate(failing):
            item = TopupOrder(
                topup_pk(broken.merchant_id, f"T{key}"),
                "ORDER",
                merchant_id=broken.merchant_id,
                order_id=f"T{key}",
                member_id="m-gone",
                openid="o-gone",
                amount=100,
                bonus=0,
                status="PENDING",
                idempotency_key="",
                created_at=now,
                expires_at=now + timedelta(days=1),
            )
            item.due_pk, item.due_sk = due.slot(orders.JOB, f"T{key}", now - timedelta(hours=1, seconds=i))
            batch.save(item)

    later = now + timedelta(minutes=6)
    reports = [reconciliation.reconcile(later), reconciliation.reconcile(later)]
    assert sum(r.credited for r in reports) == 1 and len(reports[0].failed) == 200
    assert checked_balances(merchant.merchant_id, member["member"]["member_id"])["principal"] == 30000
    assert members.get(merchant.merchant_id, member["member"]["member_id"]).pending_topup == 0  # hold released
    tried = TopupOrder.get(topup_pk(broken.merchant_id, f"T{failing[0]}"), "ORDER", consistent_read=True)
    assert int(tried.due_attempts) == 1 and tried.due_error.startswith("WECHAT_UNAVAILABLE")
    assert tried.due_sk == due.stamp(due.retry_at(later, 1))  # tried again later, not at the head
    assert reconciliation.reconcile(due.retry_at(later, 1)).failed  # ... and it is tried again then


JOBS = [
    (lifecycle.expire_points, lifecycle.POINTS_JOB),
    (lifecycle.warn_points, lifecycle.POINTS_WARNING_JOB),
    (lifecycle.birthday_gifts, lifecycle.BIRTHDAY_JOB),
    (lifecycle.wake_dormant, lifecycle.DORMANT_JOB),
    (lifecycle.monthly_packs, lifecycle.MONTHLY_JOB),
    (lifecycle.review_tiers, tiers.REVIEW_JOB),
]


@pytest.mark.parametrize(("run", "job"), JOBS, ids=[job for _, job in JOBS])
def test_life_cycle_jobs_defer_a_failing_member_and_reach_the_next(
    api: Any, merchant: Any, run: Callable[..., lifecycle.Report], job: str
) -> None:
    configuration.update_settings(merchant.merchant_id, tier_review=True)
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    now = clock.now()
    tx = Transaction()
    due.mark(tx, merchant.merchant_id, member_id, job, now - timedelta(minutes=1))
    tx.commit()
    pk = member_pk(merchant.merchant_id, member_id)
    ghosts = _keys_in_shard(job, _shard(job, pk), 3, lambda k: member_pk(merchant.merchant_id, k))
    for i, ghost in enumerate(ghosts):  # members whose rows are gone: every job fails on them
        tx = Transaction()
        due.mark(tx, merchant.merchant_id, ghost, job, now - timedelta(hours=1, seconds=i))
        tx.commit()

    first = run(now=now, limit=3)
    assert (first.done, len(first.failed)) == (0, 3)
    second = run(now=now, limit=3)
    assert (second.done, second.failed) == (1, [])
    marker = DueMarker.get(pk, f"DUE#{job}", consistent_read=True)
    assert marker.due_sk is None or marker.due_sk > due.stamp(now)  # settled: removed or moved on
    ghost = DueMarker.get(member_pk(merchant.merchant_id, ghosts[0]), f"DUE#{job}", consistent_read=True)
    assert int(ghost.due_attempts) == 1 and ghost.due_error.startswith("DoesNotExist")
    assert datetime.fromisoformat(ghost.due_since) < now < datetime.fromisoformat(ghost.due_sk)
