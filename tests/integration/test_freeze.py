"""Issue 25 §3: freezing a member's points and stored value. Nothing spends them until unfrozen (checkout, its
quote, the points mall, a punch card bought with stored value), top-ups and refunds still go through, the member
sees why, every change is audited and read back; and the freeze is a condition of the spending transaction itself,
so a spend racing the freeze never commits after it. Over HTTP on the local stack."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mini_program_api.db import transact
from mini_program_api.member_care import freeze
from mini_program_api.money import ledger
from mini_program_api.money.ledger import Account, Operation
from mini_program_api.platform.auth import Principal
from tests.ledger_checks import checked_balances


def _key() -> dict[str, str]:
    return {"idempotency-key": uuid.uuid4().hex}


def _code(result: tuple[int, Any]) -> tuple[int, str]:
    return result[0], result[1]["error"]["code"]


@pytest.fixture
def member(api: Any, merchant: Any) -> dict[str, Any]:
    body = api.member_with_card(merchant)
    member_id = body["member"]["member_id"]
    ledger.post(
        merchant.merchant_id,
        member_id,
        Operation(
            f"test-credit-{uuid.uuid4().hex[:8]}",
            "TEST_CREDIT",
            ledger.postings({Account.POINTS: 1000, Account.PRINCIPAL: 10000, Account.BONUS: 500}),
        ),
    )
    return {"token": body["token"], "id": member_id}


def _checkout(
    api: Any, staff: str, member: dict[str, Any], path: str = "/v1/staff/checkout", **body: int
) -> tuple[int, Any]:
    return api.post(path, {"member_code": api.member_code(member["token"]), **body}, token=staff, headers=_key())


def _freeze(
    api: Any, token: str, member_id: str, action: str = "freeze", reason: str = "手机被盗", role: str = "admin"
) -> tuple[int, Any]:
    return api.post(f"/v1/{role}/members/{member_id}/{action}", {"reason": reason}, token=token)


def test_a_frozen_member_spends_nothing_until_unfrozen_while_top_ups_and_refunds_go_through(
    api: Any, sandbox: Any, merchant: Any, member: dict[str, Any]
) -> None:
    admin, staff = api.admin_token(merchant), api.staff_token(merchant)
    paid = api.ok("POST", "/v1/topup/orders", {"amount": 5000}, token=member["token"], headers=_key())
    assert json.loads(sandbox.pay.pay(paid["order_id"]).get_data())["deliveries"] == [204]
    reward = api.ok(
        "POST",
        "/v1/admin/coupon-templates",
        {
            "name": "积分换拿铁",
            "kind": "GIFT",
            "gift_name": "拿铁",
            "total_stock": 5,
            "per_member_limit": 5,
            "days_after_claim": 30,
            "points_price": 100,
        },
        token=admin,
    )["template_id"]
    plan = api.ok(
        "POST",
        "/v1/admin/punch-card-plans",
        {"name": "10杯", "visits": 10, "valid_days": 90, "price": 2500},
        token=admin,
    )["plan_id"]

    frozen = api.ok("POST", f"/v1/admin/members/{member['id']}/freeze", {"reason": "  手机被盗  "}, token=admin)
    assert frozen["frozen"]["reason"] == "手机被盗" and frozen["frozen"]["at"]
    before = checked_balances(merchant.merchant_id, member["id"])
    me = api.ok("GET", "/v1/me", token=member["token"])
    assert me["frozen"] == frozen["frozen"]  # the member sees the state and why
    assert api.ok("GET", f"/v1/admin/members/{member['id']}", token=admin)["frozen"] == frozen["frozen"]

    refused = [
        _checkout(api, staff, member, amount=1000, stored_value=1000),
        _checkout(api, staff, member, amount=1000, points=100),
        _checkout(api, staff, member, "/v1/staff/checkout/quote", amount=1000, stored_value=1),
        api.post(f"/v1/points/rewards/{reward}/redeem", token=member["token"], headers=_key()),
        api.post(f"/v1/punch-cards/plans/{plan}/buy", token=member["token"], headers=_key()),
    ]
    assert [_code(r) for r in refused] == [(409, "MEMBER_FROZEN")] * len(refused)
    assert checked_balances(merchant.merchant_id, member["id"]) == before

    cash = _checkout(api, staff, member, amount=1000)  # cash only: earning is not spending
    assert cash[0] == 200 and cash[1]["points_earned"] == 10, cash
    topup = api.ok("POST", "/v1/topup/orders", {"amount": 1000}, token=member["token"], headers=_key())
    assert json.loads(sandbox.pay.pay(topup["order_id"]).get_data())["deliveries"] == [204]
    refund = api.ok("POST", f"/v1/admin/topup/orders/{paid['order_id']}/refund", token=admin)
    assert refund["status"] in ("REFUNDING", "REFUNDED")  # balances debited at request time
    sale_refund = api.ok("POST", f"/v1/staff/orders/{cash[1]['order_id']}/refund", token=staff)
    assert sale_refund["status"] == "REFUNDED"  # takes back the points the sale earned: a refund, not a spend
    after = checked_balances(merchant.merchant_id, member["id"])
    assert (after["principal"], after["points"], after["bonus"]) == (
        before["principal"] - 5000 + 1000,
        before["points"],
        before["bonus"],
    )

    assert _code(_freeze(api, admin, member["id"])) == (409, "MEMBER_ALREADY_FROZEN")
    unfrozen = api.ok("POST", f"/v1/admin/members/{member['id']}/unfreeze", {"reason": "找回手机"}, token=admin)
    assert unfrozen["frozen"] is None and api.ok("GET", "/v1/me", token=member["token"])["frozen"] is None
    assert _code(_freeze(api, admin, member["id"], "unfreeze")) == (409, "MEMBER_NOT_FROZEN")
    assert _checkout(api, staff, member, amount=1000, stored_value=1000)[0] == 200
    trail = api.ok("GET", f"/v1/admin/members/{member['id']}/audit", token=admin)["records"]
    actions = [(r["action"], r["detail"].get("reason")) for r in trail if r["action"].startswith("MEMBER_")]
    assert actions == [("MEMBER_UNFREEZE", "找回手机"), ("MEMBER_FREEZE", "手机被盗")]


def test_who_may_freeze_and_bad_requests_change_nothing(
    api: Any, merchant: Any, make_merchant: Any, member: dict[str, Any]
) -> None:
    admin, staff = api.admin_token(merchant), api.staff_token(merchant)
    for reason in ("", "   ", "x" * 201):
        assert _freeze(api, admin, member["id"], reason=reason)[0] == 400, reason
    assert _code(_freeze(api, api.admin_token(make_merchant()), member["id"])) == (404, "MEMBER_NOT_FOUND")
    assert _code(_freeze(api, admin, "no-such-member")) == (404, "MEMBER_NOT_FOUND")
    assert _freeze(api, member["token"], member["id"])[0] == 403
    assert _code(_freeze(api, staff, member["id"], role="staff")) == (403, "FORBIDDEN")  # the merchant's setting
    assert api.ok("GET", "/v1/me", token=member["token"])["frozen"] is None

    api.ok("PATCH", "/v1/admin/settings", {"staff_may_freeze": True}, token=admin)
    assert api.ok("GET", "/v1/admin/settings", token=admin)["staff_may_freeze"] is True
    done = api.ok("POST", f"/v1/staff/members/{member['id']}/freeze", {"reason": "顾客来电挂失"}, token=staff)
    assert done["member_id"] == member["id"] and done["frozen"]["reason"] == "顾客来电挂失"
    trail = api.ok("GET", f"/v1/admin/members/{member['id']}/audit", token=admin)["records"]
    assert trail[0]["action"] == "MEMBER_FREEZE" and trail[0]["role"] == "staff"
    assert (
        api.ok("POST", f"/v1/staff/members/{member['id']}/unfreeze", {"reason": "本人到店"}, token=staff)["frozen"]
        is None
    )


def test_a_freeze_committed_between_a_checkouts_read_and_its_write_stops_the_sale(
    api: Any, merchant: Any, member: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkout has read an unfrozen member and priced the sale; the freeze commits just before the sale's
    transaction: only a condition in that transaction can refuse it now."""
    staff = api.staff_token(merchant)
    before = checked_balances(merchant.merchant_id, member["id"])
    real_commit, froze = transact.Transaction.commit, []

    def freeze_first(tx: transact.Transaction) -> None:
        labels = [label for ops in tx._ops.values() for label, _ in ops]
        if "order" in labels and not froze:  # the sale's own transaction, after its reads
            froze.append(freeze.freeze(Principal(merchant.merchant_id, "admin-1", "admin"), member["id"], "争议"))
        real_commit(tx)

    monkeypatch.setattr(transact.Transaction, "commit", freeze_first)
    status, error = _checkout(api, staff, member, amount=3000, stored_value=2000, points=100)
    assert froze and (status, error["error"]["code"]) == (409, "MEMBER_FROZEN")
    assert checked_balances(merchant.merchant_id, member["id"]) == before


def _post(url: str, body: Any, token: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "content-type": "application/json",
            "authorization": f"Bearer {token}",
            "idempotency-key": uuid.uuid4().hex,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_no_spend_commits_after_a_freeze_racing_concurrent_checkouts(
    api: Any, api_url: str, merchant: Any, member: dict[str, Any]
) -> None:
    """Four tills keep selling (stored value and points) over HTTP until they are refused; the freeze lands in
    the middle. The balances read right after the freeze returned are the final ones: nothing spent after it."""
    staff = [api.staff_token(merchant) for _ in range(4)]
    code = api.member_code(member["token"])
    started, stop = threading.Barrier(len(staff) + 1), threading.Event()

    def till(token: str) -> list[tuple[int, str]]:
        outcomes: list[tuple[int, str]] = []
        started.wait()
        while len(outcomes) < 60:
            status, body = _post(
                f"{api_url}/v1/staff/checkout",
                {"member_code": code, "amount": 20, "stored_value": 10, "points": 1},
                token,
            )
            outcomes.append((status, "" if status == 200 else body["error"]["code"]))
            if status != 200 and body["error"]["code"] == "MEMBER_FROZEN":
                if stop.is_set():  # refused after the freeze returned: this till is done
                    break
        return outcomes

    with ThreadPoolExecutor(len(staff)) as pool:
        runs = [pool.submit(till, token) for token in staff]
        started.wait()
        while (
            sum(
                1
                for e in ledger.history(merchant.merchant_id, member["id"], "balance", None, 50).items
                if e.kind == "CHECKOUT"
            )
            < 4
        ):
            pass  # let some sales through first
        freeze.freeze(Principal(merchant.merchant_id, "admin-1", "admin"), member["id"], "dispute")
        at_freeze = checked_balances(merchant.merchant_id, member["id"])
        stop.set()
        outcomes = [o for run in runs for o in run.result()]
    sold = sum(1 for status, _ in outcomes if status == 200)
    assert sold >= 4 and all(code in ("", "MEMBER_FROZEN", "CONCURRENT_UPDATE") for _, code in outcomes), outcomes
    assert outcomes.count((409, "MEMBER_FROZEN")) >= len(staff)
    final = checked_balances(merchant.merchant_id, member["id"])
    assert final == at_freeze
    assert final["principal"] + final["bonus"] == 10500 - 10 * sold and final["points"] == 1000 - sold
