"""The one job runner (jobs/runner.py): the deadline, a failing item isolated with backoff, the report.

Issue 22, item 5. WeChat Pay is made slow in the sandbox itself (it answers order queries late, over real
HTTP), and the scheduled function runs with a Lambda context, so its deadline comes from functions/budget.py
as it does in AWS.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import pytest

from mini_program_api.db.due import DueMarker
from mini_program_api.db.models import member_pk
from mini_program_api.db.topups import TopupOrder, topup_pk
from mini_program_api.db.transact import Transaction, update_if
from mini_program_api.jobs import due, runner
from mini_program_api.platform.errors import KabaoError
from mini_program_api.topup import reconciliation
from tests.ledger_checks import checked_balances

ORDERS = 12
SLOW = 0.5  # seconds WeChat Pay takes to answer an order query
RUNTIME_MS = 6000  # the Lambda's whole time: the budget leaves a fifth of it


def _slow_order_queries(sandbox: Any, monkeypatch: Any) -> None:
    real = sandbox.pay.handle

    def slow(request: Any) -> Any:
        if request.path.startswith("/v3/pay/transactions/out-trade-no/") and request.method == "GET":
            time.sleep(SLOW)
        return real(request)

    monkeypatch.setattr(sandbox.pay, "handle", slow)


def _invoke_with_lambda_time(name: str, runtime_ms: int) -> dict[str, Any]:
    from chalice.local import LambdaContext
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="test") as client:
        event = client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )
    return dict(app.handler_map[name](event, LambdaContext(name, 128, max_runtime_ms=runtime_ms)))


def test_reconciliation_stops_before_the_lambdas_end_when_wechat_pay_is_slow_and_the_next_run_resumes(
    api: Any, merchant: Any, sandbox: Any, clock: Any, monkeypatch: Any
) -> None:
    member = api.member_with_card(merchant)
    placed = []
    for _ in range(ORDERS):
        status, order = api.post(
            "/v1/topup/orders", {"amount": 1000}, token=member["token"], headers={"idempotency-key": uuid.uuid4().hex}
        )
        assert status == 200, order
        sandbox.pay.pay(order["order_id"], notify=False)  # paid at WeChat, the notify lost
        placed.append(order["order_id"])
    clock.advance(minutes=6)  # due for reconciliation
    _slow_order_queries(sandbox, monkeypatch)

    started = time.monotonic()
    report = _invoke_with_lambda_time("reconcile_topups", RUNTIME_MS)
    took = time.monotonic() - started

    assert report["stopped_early"] and report["more"]
    assert 1 <= report["done"] == report["credited"] < ORDERS and report["due"] == ORDERS
    assert took < RUNTIME_MS / 1000  # Lambda would not have killed it mid-order
    statuses = [TopupOrder.get(topup_pk(merchant.merchant_id, o), "ORDER", consistent_read=True).status for o in placed]
    assert statuses.count("PAID") == report["credited"] and statuses.count("PENDING") == ORDERS - report["credited"]

    rest = reconciliation.reconcile()  # the next run takes the orders left, and only those
    assert (rest.credited, rest.stopped_early) == (ORDERS - report["credited"], False)
    assert {
        TopupOrder.get(topup_pk(merchant.merchant_id, o), "ORDER", consistent_read=True).status for o in placed
    } == {"PAID"}
    assert checked_balances(merchant.merchant_id, member["member"]["member_id"])["principal"] == ORDERS * 1000


JOB = "runner_check"


def _on_list(merchant_id: str, member_id: str, at: Any) -> str:
    tx = Transaction()
    due.mark(tx, merchant_id, member_id, JOB, at)
    tx.commit()
    return member_pk(merchant_id, member_id)


def test_a_failing_item_is_isolated_and_retried_with_backoff(merchant: Any, clock: Any) -> None:
    now = clock.now
    bad = _on_list(merchant.merchant_id, "m-bad", now - timedelta(hours=1))  # oldest: at the head of the list
    good = [_on_list(merchant.merchant_id, f"m-good{i}", now - timedelta(minutes=i + 1)) for i in range(3)]
    tries: list[str] = []

    def settle(pk: str, sk: str) -> None:
        tries.append(pk)
        if pk == bad:
            raise KabaoError("WECHAT_UNAVAILABLE", "no answer")
        marker = DueMarker.get(pk, sk, consistent_read=True)
        update_if(marker, due.unslot(DueMarker), DueMarker.due_sk == marker.due_sk)

    first = runner.due_list(runner.Report(JOB), DueMarker, settle, now, 10, None)
    assert (first.due, first.done, first.failed, first.stopped_early) == (4, 3, ["WECHAT_UNAVAILABLE"], False)
    deferred = DueMarker.get(bad, f"DUE#{JOB}", consistent_read=True)
    assert int(deferred.due_attempts) == 1 and deferred.due_error.startswith("WECHAT_UNAVAILABLE")
    assert deferred.due_sk == due.stamp(due.retry_at(now, 1))
    assert all(DueMarker.get(pk, f"DUE#{JOB}", consistent_read=True).due_sk is None for pk in good)

    assert runner.due_list(runner.Report(JOB), DueMarker, settle, now, 10, None).due == 0  # backing off
    again = runner.due_list(runner.Report(JOB), DueMarker, settle, due.retry_at(now, 1), 10, None)
    assert (again.due, again.failed) == (1, ["WECHAT_UNAVAILABLE"])
    later = DueMarker.get(bad, f"DUE#{JOB}", consistent_read=True)
    assert int(later.due_attempts) == 2 and later.due_sk == due.stamp(due.retry_at(due.retry_at(now, 1), 2))
    assert tries.count(bad) == 2 and len(tries) == 5


def test_out_of_time_takes_no_item_at_all(merchant: Any, clock: Any) -> None:
    now = clock.now
    _on_list(merchant.merchant_id, "m-1", now - timedelta(minutes=1))
    taken: list[str] = []
    report = runner.due_list(
        runner.Report(JOB), DueMarker, lambda pk, sk: taken.append(pk), now, 10, time.monotonic()
    )  # the deadline is now: reached, so nothing starts
    assert (report.due, report.done, report.stopped_early, report.more, taken) == (1, 0, True, True, [])


@pytest.mark.parametrize("job", ["liability", "rfm"])
def test_a_nightly_job_whose_budget_ends_before_the_last_merchant_reaches_it_the_next_night(
    api: Any, make_merchant: Any, monkeypatch: pytest.MonkeyPatch, job: str
) -> None:
    """The budget is counted in roster pages here (one merchant's walk a night): in roster order each night
    started again from the first merchant, so the second was never checked."""
    from mini_program_api.reports import liability, rfm, roster

    first, second = make_merchant(), make_merchant()
    for merchant in (first, second):
        api.member_with_card(merchant)
    monkeypatch.setattr(roster, "merchant_ids", lambda: iter([first.merchant_id, second.merchant_id]))
    pages = [0]
    page = roster.page

    def counted(*args: Any, **kwargs: Any) -> Any:
        pages[0] += 1
        return page(*args, **kwargs)

    monkeypatch.setattr(roster, "page", counted)
    monkeypatch.setattr(runner, "out_of_time", lambda deadline: deadline is not None and pages[0] >= deadline)
    walks = 1 if job == "liability" else 2  # RFM walks the roster twice: histograms, then scores
    run_all, done = (liability.run_all, liability.MATCH) if job == "liability" else (rfm.run_all, "DONE")
    finished: list[set[str]] = []
    for _night in range(2):
        pages[0] = 0
        statuses = run_all(deadline=float(walks * roster.ROSTER_SHARDS)).statuses
        finished.append({m for m, status in statuses.items() if status == done})
    assert finished == [{first.merchant_id}, {second.merchant_id}]
