"""Refunds against the prepaid cap, refunds with nothing to pay, and refunds WeChat Pay refuses.

Issue 11, items 8 and 9: principal never exceeds the cap (what does not fit is paid back
in cash), a refund of no cash completes without WeChat, a refusal for good gives the value
back in a visible state, and transient failures back off instead of repeating every run.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from mini_program_api.db.models import Merchant, TopupPlan
from mini_program_api.db.topups import TopupOrder, topup_pk
from mini_program_api.merchants import configuration
from mini_program_api.money import stored_value
from mini_program_api.platform import clock
from mini_program_api.topup import reconciliation
from tests.ledger_checks import checked_balances

CAP = 500000


@pytest.fixture
def member(api: Any, merchant: Any) -> dict[str, Any]:
    return api.member_with_card(merchant)


def _paid(api: Any, sandbox: Any, member: dict[str, Any], body: dict[str, Any]) -> str:
    status, order = api.post(
        "/v1/topup/orders", body, token=member["token"], headers={"idempotency-key": uuid.uuid4().hex}
    )
    assert status == 200, order
    assert json.loads(sandbox.pay.pay(order["order_id"]).get_data())["deliveries"] == [204]
    return str(order["order_id"])


def _refund(api: Any, merchant: Any, order_id: str) -> dict[str, Any]:
    status, body = api.post(f"/v1/admin/topup/orders/{order_id}/refund", token=api.admin_token(merchant))
    assert status == 200, body
    return body


def _order(merchant: Any, order_id: str) -> TopupOrder:
    return TopupOrder.get(topup_pk(merchant.merchant_id, order_id), "ORDER", consistent_read=True)


def _refunds(sandbox: Any, merchant: Any, order_id: str) -> list[dict[str, Any]]:
    return [
        r
        for (mchid, _), r in sandbox.pay.refunds.items()
        if mchid == merchant.pay.mchid and r["out_trade_no"] == order_id
    ]


def _balances(merchant: Any, member: dict[str, Any]) -> dict[str, int]:
    return checked_balances(merchant.merchant_id, member["member"]["member_id"])


# --- the cap (item 8) ------------------------------------------------------------------------------


def test_sale_refund_puts_back_only_what_fits_under_the_cap_and_pays_the_rest_in_cash(
    api: Any, merchant: Any, sandbox: Any, member: dict[str, Any]
) -> None:
    _paid(api, sandbox, member, {"amount": CAP})
    code = api.member_code(member["token"])
    status, sale = api.post(
        "/v1/staff/checkout",
        {"member_code": code, "amount": 150000, "stored_value": 100000},
        token=api.staff_token(merchant, "s1"),
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 200 and sale["principal_used"] == 100000 and sale["cash_due"] == 50000
    _paid(api, sandbox, member, {"amount": 100000})  # the room the sale freed
    assert _balances(merchant, member)["principal"] == CAP

    status, receipt = api.post(f"/v1/staff/orders/{sale['order_id']}/refund", token=api.admin_token(merchant))
    assert status == 200, receipt
    assert _balances(merchant, member)["principal"] == CAP
    assert receipt["principal_over_cap"] == 100000 and receipt["cash_refund"] == 150000  # cash 50000 + principal


def test_refund_closed_after_the_card_was_refilled_is_sent_again_not_put_over_the_cap(
    api: Any, merchant: Any, sandbox: Any, member: dict[str, Any]
) -> None:
    first = _paid(api, sandbox, member, {"amount": CAP})
    assert _refund(api, merchant, first)["status"] == "REFUNDING"
    _paid(api, sandbox, member, {"amount": CAP})  # principal was 0: allowed
    closed = _refunds(sandbox, merchant, first)[0]["out_refund_no"]
    sandbox.pay.settle_refund(closed, status="CLOSED", times=2)

    assert _balances(merchant, member)["principal"] == CAP
    assert _order(merchant, first).status == "REFUNDING"  # still owed: the refund stays open
    reconciliation.reconcile(clock.now() + timedelta(seconds=1))
    again = [r for r in _refunds(sandbox, merchant, first) if r["out_refund_no"] != closed]
    assert len(again) == 1 and again[0]["amount"] == CAP
    sandbox.pay.settle_refund(again[0]["out_refund_no"], status="SUCCESS")
    assert _order(merchant, first).status == "REFUNDED"
    paid_back = sum(r["amount"] for r in _refunds(sandbox, merchant, first) if r["status"] == "SUCCESS")
    assert paid_back == CAP and _balances(merchant, member)["principal"] == CAP


# --- nothing to pay, refused, failing (item 9) ------------------------------------------------------


@pytest.mark.parametrize("spent", [10000, 15000])
def test_refund_with_no_cash_to_pay_completes_without_wechat(
    api: Any, merchant: Any, sandbox: Any, member: dict[str, Any], spent: int
) -> None:
    configuration.update(
        merchant.merchant_id, [Merchant.topup_plans.set([TopupPlan(plan_id="x2", amount=10000, bonus=20000)])]
    )
    order_id = _paid(api, sandbox, member, {"plan_id": "x2"})
    stored_value.spend(merchant.merchant_id, member["member"]["member_id"], spent, "coffee")  # from bonus
    body = _refund(api, merchant, order_id)
    assert (body["status"], body["refund_amount"]) == ("REFUNDED", 0)
    assert _refunds(sandbox, merchant, order_id) == [] and order_id not in sandbox.pay.refund_calls
    assert _balances(merchant, member)["principal"] == 0 and _balances(merchant, member)["bonus"] == 0
    assert _order(merchant, order_id).due_pk is None  # nothing left for reconciliation


def test_refund_refused_for_good_gives_the_value_back_in_a_failed_state(
    api: Any, merchant: Any, sandbox: Any, member: dict[str, Any]
) -> None:
    order_id = _paid(api, sandbox, member, {"plan_id": "p300"})
    sandbox.pay.refund_failures[order_id] = {"status": 400, "code": "INVALID_REQUEST", "times": None}
    body = _refund(api, merchant, order_id)
    assert (body["status"], body["refund_error"]) == ("REFUND_FAILED", "INVALID_REQUEST")
    assert (_balances(merchant, member)["principal"], _balances(merchant, member)["bonus"]) == (30000, 5000)
    status, mine = api.get(f"/v1/topup/orders/{order_id}", token=member["token"])
    assert mine["status"] == "REFUND_FAILED"
    reconciliation.reconcile(clock.now() + timedelta(hours=1))
    assert sandbox.pay.refund_calls.count(order_id) == 1  # never sent again


def test_transient_refund_failures_back_off(api: Any, merchant: Any, sandbox: Any, member: dict[str, Any]) -> None:
    order_id = _paid(api, sandbox, member, {"plan_id": "p300"})
    sandbox.pay.refund_failures[order_id] = {"status": 500, "code": "SYSTEM_ERROR", "times": 3}
    start = clock.now()
    assert _refund(api, merchant, order_id)["status"] == "REFUNDING"  # call 1 failed

    def calls_after(minutes: int) -> int:
        reconciliation.reconcile(start + timedelta(minutes=minutes))
        return sandbox.pay.refund_calls.count(order_id)

    assert calls_after(6) == 2  # failed: next try 10 minutes later
    assert [calls_after(m) for m in (7, 11, 15)] == [2, 2, 2]
    assert calls_after(17) == 3  # failed again: 20 minutes later
    stored = _order(merchant, order_id)
    assert (int(stored.due_attempts), stored.due_error.split(":")[0]) == (2, "WECHAT_UNAVAILABLE")
    assert [calls_after(m) for m in (25, 35)] == [3, 3]
    assert calls_after(38) == 4  # WeChat takes it now
    assert _order(merchant, order_id).due_attempts is None
    sandbox.pay.settle_refund(_refunds(sandbox, merchant, order_id)[0]["out_refund_no"])
    assert _order(merchant, order_id).status == "REFUNDED"
    assert _balances(merchant, member)["principal"] == 0
