"""Stored value through WeChat Pay: plans, orders, notify exactly once, reconciliation, spending, refunds.

The sandbox sends real signed, encrypted APIv3 notifies over HTTP to the app
served on loopback; DynamoDB is the serialized local server.
"""

from __future__ import annotations

import base64
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from mini_program_api.db.topups import TopupOrder, topup_pk
from mini_program_api.members import members
from mini_program_api.money import stored_value
from mini_program_api.money.ledger import MEMBER_ACCOUNTS, Account
from mini_program_api.platform import clock
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.topup import orders, reconciliation, refunds
from tests.ledger_checks import checked_balances


def _key() -> dict[str, str]:
    return {"idempotency-key": uuid.uuid4().hex}


def _order(
    api: Any, member: dict[str, Any], body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    return api.post("/v1/topup/orders", body, token=member["token"], headers=headers if headers is not None else _key())


def _balances(merchant: Any, member: dict[str, Any]) -> dict[Account, int]:
    return checked_balances(merchant.merchant_id, member["member"]["member_id"])


def _status(merchant: Any, order_id: str) -> str:
    return TopupOrder.get(topup_pk(merchant.merchant_id, order_id), "ORDER", consistent_read=True).status


def _pay(sandbox: Any, order_id: str, **options: Any) -> dict[str, Any]:
    import json

    return json.loads(sandbox.pay.pay(order_id, **options).get_data())


@pytest.fixture
def member(api: Any, merchant: Any) -> dict[str, Any]:
    return api.member_with_card(merchant)


# --- plans and orders ---------------------------------------------------------------------


def test_plans_list_bonus_and_limits(api: Any, member: dict[str, Any]) -> None:
    status, body = api.get("/v1/topup/plans", token=member["token"])
    assert status == 200
    assert body["plans"] == [
        {"plan_id": "p300", "amount": 30000, "bonus": 5000},
        {"plan_id": "p500", "amount": 50000, "bonus": 10000},
    ]
    assert body["prepaid_cap"] == 500000 and body["custom_amount"] == {"min": 100, "max": 500000}


@pytest.mark.parametrize("sign_with", ["platform", "public_key"])
def test_plan_order_paid_credits_principal_and_bonus(
    api: Any, make_merchant: Any, sandbox: Any, sign_with: str, merchant_pay_keys: Any
) -> None:
    merchant = make_merchant(sign_with)
    member = api.member_with_card(merchant)
    status, order = _order(api, member, {"plan_id": "p300"})
    assert status == 200, order
    assert order["status"] == "PENDING" and order["amount"] == 30000 and order["bonus"] == 5000

    params = order["pay_params"]
    assert set(params) == {"timeStamp", "nonceStr", "package", "signType", "paySign"} and params["signType"] == "RSA"
    assert params["package"].startswith("prepay_id=wx")
    message = f"{merchant.appid}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n".encode()
    public_key = serialization.load_pem_public_key(merchant_pay_keys.api.public_pem.encode())
    public_key.verify(base64.b64decode(params["paySign"]), message, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]

    assert _pay(sandbox, order["order_id"])["deliveries"] == [204]
    status, paid = api.get(f"/v1/topup/orders/{order['order_id']}", token=member["token"])
    assert status == 200 and paid["status"] == "PAID" and paid["paid_at"]
    _, me = api.get("/v1/me", token=member["token"])
    assert (me["principal"], me["bonus"], me["balance"]) == (30000, 5000, 35000)
    _, history = api.get("/v1/me/ledger?account=balance", token=member["token"])
    assert sorted((e["account"], e["amount"], e["kind"]) for e in history["entries"]) == [
        ("bonus", 5000, "TOPUP"),
        ("principal", 30000, "TOPUP"),
    ]


def test_custom_amount_has_no_bonus_and_respects_limits(
    api: Any, member: dict[str, Any], sandbox: Any, merchant: Any
) -> None:
    status, order = _order(api, member, {"amount": 12345})
    assert status == 200 and order["bonus"] == 0
    _pay(sandbox, order["order_id"])
    assert _balances(merchant, member)[Account.PRINCIPAL] == 12345
    for amount in (99, 500001):
        status, body = _order(api, member, {"amount": amount})
        assert (status, body["error"]["code"]) == (400, "AMOUNT_OUT_OF_RANGE")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"plan_id": "p300", "amount": 100},
        {"amount": "30000"},
        {"amount": 10.5},
        {"amount": -5},
        {"amount": 0},
        {"plan_id": "p300", "coupon": "x"},
    ],
)
def test_bad_order_request_is_400_and_creates_nothing(
    api: Any, member: dict[str, Any], body: dict[str, Any], merchant: Any
) -> None:
    status, error = _order(api, member, body)
    assert (status, error["error"]["code"]) == (400, "VALIDATION_ERROR")
    assert members.get(merchant.merchant_id, member["member"]["member_id"]).pending_topup == 0


def test_unknown_plan_is_404(api: Any, member: dict[str, Any]) -> None:
    status, body = _order(api, member, {"plan_id": "p999"})
    assert (status, body["error"]["code"]) == (404, "PLAN_NOT_FOUND")


def test_order_needs_an_idempotency_key_and_a_card(api: Any, member: dict[str, Any], merchant: Any) -> None:
    status, body = _order(api, member, {"plan_id": "p300"}, headers={})
    assert (status, body["error"]["code"]) == (400, "INVALID_IDEMPOTENCY_KEY")
    no_card = api.login(merchant)
    status, body = api.post("/v1/topup/orders", {"plan_id": "p300"}, token=no_card["token"], headers=_key())
    assert (status, body["error"]["code"]) == (409, "CARD_NOT_OPEN")


def test_same_idempotency_key_returns_the_same_order(api: Any, member: dict[str, Any], merchant: Any) -> None:
    key = _key()
    first = _order(api, member, {"plan_id": "p300"}, key)[1]
    again = _order(api, member, {"plan_id": "p300"}, key)[1]
    assert again["order_id"] == first["order_id"] and again["pay_params"]["package"] == first["pay_params"]["package"]
    status, body = _order(api, member, {"plan_id": "p500"}, key)
    assert (status, body["error"]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert members.get(merchant.merchant_id, member["member"]["member_id"]).pending_topup == 30000


def test_concurrent_orders_with_one_key_make_one_order(api: Any, member: dict[str, Any], merchant: Any) -> None:
    key = uuid.uuid4().hex
    with ThreadPoolExecutor(8) as pool:
        made = list(
            pool.map(
                lambda _: (
                    orders.create_order(merchant.merchant_id, member["member"]["member_id"], key, "p300", None)[
                        0
                    ].order_id
                ),
                range(8),
            )
        )
    assert len(set(made)) == 1
    assert members.get(merchant.merchant_id, member["member"]["member_id"]).pending_topup == 30000


def test_prepaid_cap_counts_balance_and_unpaid_orders(api: Any, make_merchant: Any, sandbox: Any) -> None:
    merchant = make_merchant(prepaid_cap=70000)
    member = api.member_with_card(merchant)
    first = _order(api, member, {"plan_id": "p300"})[1]
    status, body = _order(api, member, {"plan_id": "p500"})  # 30000 pending + 50000 > 70000
    assert (status, body["error"]["code"]) == (409, "PREPAID_CAP_EXCEEDED")
    assert body["error"]["details"] == {"cap": 70000, "room": 40000}
    _pay(sandbox, first["order_id"])
    assert _order(api, member, {"amount": 40000})[0] == 200
    status, body = _order(api, member, {"amount": 100})
    assert (status, body["error"]["code"]) == (409, "PREPAID_CAP_EXCEEDED")
    assert _balances(merchant, member)[Account.PRINCIPAL] == 30000  # bonus does not count toward the cap


def test_another_members_order_is_404(api: Any, member: dict[str, Any], merchant: Any) -> None:
    order = _order(api, member, {"plan_id": "p300"})[1]
    other = api.member_with_card(merchant)
    for token in (other["token"],):
        status, body = api.get(f"/v1/topup/orders/{order['order_id']}", token=token)
        assert (status, body["error"]["code"]) == (404, "ORDER_NOT_FOUND")
    status, body = api.get("/v1/topup/orders/Tnope", token=member["token"])
    assert (status, body["error"]["code"]) == (404, "ORDER_NOT_FOUND")


# --- notify ---------------------------------------------------------------------------------


def test_five_concurrent_notifies_credit_once(api: Any, member: dict[str, Any], merchant: Any, sandbox: Any) -> None:
    order = _order(api, member, {"plan_id": "p500"})[1]
    result = _pay(sandbox, order["order_id"], times=5, concurrent=True)
    assert result["deliveries"] == [204] * 5
    assert _balances(merchant, member) == {
        Account.PRINCIPAL: 50000,
        Account.BONUS: 10000,
        Account.POINTS: 0,
        Account.GROWTH: 0,
    }
    assert members.get(merchant.merchant_id, member["member"]["member_id"]).pending_topup == 0
    _pay(sandbox, order["order_id"], times=2)  # and again later
    assert _balances(merchant, member)[Account.PRINCIPAL] == 50000


@pytest.mark.parametrize(
    ("options", "status"),
    [
        ({"bad_signature": True}, 401),
        ({"stale": True}, 401),
        ({"tamper": {"amount": {"total": 1, "payer_total": 1, "currency": "CNY"}}}, 400),
        ({"tamper": {"mchid": "1999999999"}}, 400),
        ({"tamper": {"appid": "wx-someone-else"}}, 400),
        ({"tamper": {"out_trade_no": "Tunknown000000"}}, 400),
    ],
)
def test_bad_notify_is_4xx_and_credits_nothing(
    api: Any, member: dict[str, Any], merchant: Any, sandbox: Any, options: dict[str, Any], status: int
) -> None:
    order = _order(api, member, {"plan_id": "p300"})[1]
    assert _pay(sandbox, order["order_id"], **options)["deliveries"] == [status]
    assert _balances(merchant, member)[Account.PRINCIPAL] == 0
    assert _status(merchant, order["order_id"]) == "PENDING"


def test_notify_for_another_merchant_does_not_verify(
    api: Any, member: dict[str, Any], make_merchant: Any, sandbox: Any, merchant: Any
) -> None:
    import requests

    from mini_program_api.platform.config import settings

    order = _order(api, member, {"plan_id": "p300"})[1]
    other = make_merchant()
    sandbox.pay.orders[next(k for k in sandbox.pay.orders if k[1] == order["order_id"])]["notify_url"] = (
        f"{settings().public_url}/v1/wechatpay/notify/{other.merchant_id}"
    )
    assert _pay(sandbox, order["order_id"])["deliveries"] == [400]  # signed and encrypted fine, but not its order
    assert _status(merchant, order["order_id"]) == "PENDING"
    garbage = requests.post(
        f"{settings().public_url}/v1/wechatpay/notify/{merchant.merchant_id}", data=b"{}", timeout=5
    )
    assert garbage.status_code == 401


def test_contract_notify_path_serves_the_deployment_merchant(
    api: Any, member: dict[str, Any], merchant: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:

    from mini_program_api.platform.config import settings
    from mini_program_api.routes.wechat import topup as topup_routes

    order = _order(api, member, {"plan_id": "p300"})[1]
    sandbox_order = next(o for (_, no), o in sandbox.pay.orders.items() if no == order["order_id"])
    sandbox_order["notify_url"] = f"{settings().public_url}/v1/wechatpay/notify"
    assert _pay(sandbox, order["order_id"])["deliveries"] == [404]  # no KABAO_MERCHANT_ID: refused, not guessed
    monkeypatch.setattr(topup_routes, "settings", lambda: settings()._replace(default_merchant_id=merchant.merchant_id))
    assert _pay(sandbox, order["order_id"])["deliveries"] == [204]
    assert _balances(merchant, member)[Account.PRINCIPAL] == 30000


# --- reconciliation --------------------------------------------------------------------------


def test_lost_notify_is_credited_by_reconciliation_then_late_notify_changes_nothing(
    api: Any, member: dict[str, Any], merchant: Any, sandbox: Any
) -> None:
    order = _order(api, member, {"plan_id": "p300"})[1]
    _pay(sandbox, order["order_id"], notify=False)
    assert reconciliation.reconcile(clock.now() + timedelta(minutes=1)).credited == 0  # not due yet
    report = reconciliation.reconcile(clock.now() + timedelta(minutes=6))
    assert report.credited >= 1 and _status(merchant, order["order_id"]) == "PAID"
    assert _pay(sandbox, order["order_id"], times=3)["deliveries"] == [204] * 3
    reconciliation.reconcile(clock.now() + timedelta(minutes=12))
    assert _balances(merchant, member)[Account.PRINCIPAL] == 30000


def test_reconciliation_job_runs_from_its_schedule(
    api: Any, member: dict[str, Any], merchant: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalice.test import Client

    from app import app

    order = _order(api, member, {"plan_id": "p300"})[1]
    _pay(sandbox, order["order_id"], notify=False)
    later = clock.now() + timedelta(minutes=6)
    monkeypatch.setattr(clock, "_now", lambda: later)
    with Client(app, stage_name="test") as client:
        result = client.lambda_.invoke(
            "reconcile_topups",
            client.events.generate_cw_event(
                source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
            ),
        )
    assert result.payload["credited"] >= 1
    assert _balances(merchant, member)[Account.PRINCIPAL] == 30000


def test_unpaid_order_is_closed_after_expiry_and_releases_the_cap(
    api: Any, member: dict[str, Any], merchant: Any, sandbox: Any
) -> None:
    order = _order(api, member, {"plan_id": "p300"})[1]
    reconciliation.reconcile(clock.now() + timedelta(minutes=6))
    assert _status(merchant, order["order_id"]) == "PENDING"
    reconciliation.reconcile(clock.now() + timedelta(minutes=31))
    assert _status(merchant, order["order_id"]) == "CLOSED"
    assert order["order_id"] in sandbox.pay.closed_calls
    assert members.get(merchant.merchant_id, member["member"]["member_id"]).pending_topup == 0
    status, body = api.get(f"/v1/topup/orders/{order['order_id']}", token=member["token"])
    assert body["status"] == "CLOSED"
    assert _pay(sandbox, order["order_id"])["code"] == "ORDERCLOSED"  # WeChat will not take money for it now


def test_reconciliation_twice_at_once_credits_once(
    api: Any, member: dict[str, Any], merchant: Any, sandbox: Any
) -> None:
    placed = [_order(api, member, {"amount": 1000 * (i + 1)})[1] for i in range(4)]
    for order in placed:
        _pay(sandbox, order["order_id"], notify=False)
    later = clock.now() + timedelta(minutes=6)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: reconciliation.reconcile(later), range(2)))
    assert _balances(merchant, member)[Account.PRINCIPAL] == 10000


# --- spending -------------------------------------------------------------------------------


def test_spend_takes_bonus_first_and_never_overdraws(
    api: Any, member: dict[str, Any], merchant: Any, sandbox: Any
) -> None:
    _pay(sandbox, _order(api, member, {"plan_id": "p300"})[1]["order_id"])
    mid = member["member"]["member_id"]
    posted = stored_value.spend(merchant.merchant_id, mid, 6000, "checkout-1")
    assert posted.amounts == {Account.BONUS: -5000, Account.PRINCIPAL: -1000}
    assert stored_value.spend(merchant.merchant_id, mid, 6000, "checkout-1").replayed
    with pytest.raises(KabaoError) as exc:
        stored_value.spend(merchant.merchant_id, mid, 29001, "checkout-2")
    assert exc.value.code == "INSUFFICIENT_BALANCE"
    assert _balances(merchant, member)[Account.PRINCIPAL] == 29000


# --- refunds --------------------------------------------------------------------------------


def _paid(api: Any, member: dict[str, Any], sandbox: Any, plan: str) -> str:
    order_id = _order(api, member, {"plan_id": plan})[1]["order_id"]
    _pay(sandbox, order_id)
    return order_id


def _refund_no(sandbox: Any, order_id: str) -> str:
    return next(no for (_, no), r in sandbox.pay.refunds.items() if r["out_trade_no"] == order_id)


def test_refund_returns_principal_and_claws_back_bonus(
    api: Any, member: dict[str, Any], merchant: Any, sandbox: Any
) -> None:
    order_id = _paid(api, member, sandbox, "p300")
    status, body = api.post(f"/v1/admin/topup/orders/{order_id}/refund", token=api.admin_token(merchant))
    assert status == 200 and body["status"] == "REFUNDING" and body["refund_amount"] == 30000
    assert _balances(merchant, member)[Account.PRINCIPAL] == 0 and _balances(merchant, member)[Account.BONUS] == 0
    sandbox.pay.settle_refund(_refund_no(sandbox, order_id), times=3, concurrent=True)
    assert _status(merchant, order_id) == "REFUNDED"
    again = api.post(f"/v1/admin/topup/orders/{order_id}/refund", token=api.admin_token(merchant))[1]
    assert again["status"] == "REFUNDED" and len(sandbox.pay.refunds) >= 1
    assert _balances(merchant, member) == {a: 0 for a in MEMBER_ACCOUNTS}


def test_refund_after_partial_spend_deducts_the_spent_bonus(
    api: Any, member: dict[str, Any], merchant: Any, sandbox: Any
) -> None:
    order_id = _paid(api, member, sandbox, "p300")
    stored_value.spend(merchant.merchant_id, member["member"]["member_id"], 3000, "coffee")  # all from bonus
    body = api.post(f"/v1/admin/topup/orders/{order_id}/refund", token=api.admin_token(merchant))[1]
    assert body["refund_amount"] == 27000  # 30000 paid - 3000 of bonus already enjoyed
    assert sandbox.pay.refunds[(merchant.pay.mchid, _refund_no(sandbox, order_id))]["amount"] == 27000
    assert _balances(merchant, member) == {a: 0 for a in MEMBER_ACCOUNTS}


def test_refund_refused_once_principal_is_spent(api: Any, member: dict[str, Any], merchant: Any, sandbox: Any) -> None:
    order_id = _paid(api, member, sandbox, "p300")
    stored_value.spend(merchant.merchant_id, member["member"]["member_id"], 5001, "coffee")
    status, body = api.post(f"/v1/admin/topup/orders/{order_id}/refund", token=api.admin_token(merchant))
    assert (status, body["error"]["code"]) == (409, "REFUND_PRINCIPAL_SPENT")
    assert _status(merchant, order_id) == "PAID" and _balances(merchant, member)[Account.PRINCIPAL] == 29999


def test_refund_closed_by_wechat_puts_the_money_back(
    api: Any, member: dict[str, Any], merchant: Any, sandbox: Any
) -> None:
    order_id = _paid(api, member, sandbox, "p500")
    api.post(f"/v1/admin/topup/orders/{order_id}/refund", token=api.admin_token(merchant))
    sandbox.pay.settle_refund(_refund_no(sandbox, order_id), status="CLOSED", times=2)
    assert _status(merchant, order_id) == "PAID"
    assert (
        _balances(merchant, member)[Account.PRINCIPAL] == 50000 and _balances(merchant, member)[Account.BONUS] == 10000
    )


def test_refund_rules(api: Any, member: dict[str, Any], merchant: Any, sandbox: Any) -> None:
    pending = _order(api, member, {"plan_id": "p300"})[1]["order_id"]
    status, body = api.post(f"/v1/admin/topup/orders/{pending}/refund", token=api.admin_token(merchant))
    assert (status, body["error"]["code"]) == (409, "ORDER_NOT_REFUNDABLE")
    status, body = api.post(f"/v1/admin/topup/orders/{pending}/refund", token=member["token"])
    assert (status, body["error"]["code"]) == (403, "FORBIDDEN")
    status, body = api.post("/v1/admin/topup/orders/Tmissing/refund", token=api.admin_token(merchant))
    assert (status, body["error"]["code"]) == (404, "ORDER_NOT_FOUND")


# --- invariants under a randomized concurrent mix ----------------------------------------------


def test_randomized_concurrent_mix_keeps_money_whole(api: Any, merchant: Any, sandbox: Any) -> None:
    import random

    from mini_program_api.db.ledger import LedgerEntry
    from mini_program_api.db.models import member_pk

    rng = random.Random(3)
    people = [api.member_with_card(merchant) for _ in range(3)]
    ids = [p["member"]["member_id"] for p in people]
    paid: list[tuple[int, str]] = []

    def top_up(i: int) -> None:
        who = rng.randrange(3)
        body = {"plan_id": rng.choice(["p300", "p500"])} if rng.random() < 0.5 else {"amount": rng.randint(100, 20000)}
        try:
            order, _ = orders.create_order(
                merchant.merchant_id, ids[who], uuid.uuid4().hex, body.get("plan_id"), body.get("amount")
            )
        except KabaoError as exc:
            assert exc.code in {"PREPAID_CAP_EXCEEDED", "CONCURRENT_UPDATE"}
            return
        fate = rng.random()
        if fate < 0.6:
            _pay(sandbox, order.order_id, times=rng.randint(1, 4), concurrent=True)
            paid.append((who, order.order_id))
        elif fate < 0.8:
            _pay(sandbox, order.order_id, notify=False)  # lost notify: reconciliation's job

    def spend(i: int) -> None:
        try:
            stored_value.spend(merchant.merchant_id, ids[rng.randrange(3)], rng.randint(100, 30000), f"spend-{i}")
        except KabaoError as exc:
            assert exc.code in {"INSUFFICIENT_BALANCE", "CONCURRENT_UPDATE"}

    def refund(i: int) -> None:
        if paid:
            try:
                refunds.refund(Principal(merchant.merchant_id, "admin", "admin"), rng.choice(paid)[1])
            except KabaoError as exc:
                assert exc.code in {"REFUND_PRINCIPAL_SPENT", "CONCURRENT_UPDATE", "ORDER_NOT_REFUNDABLE"}

    jobs = [top_up] * 30 + [spend] * 30 + [refund] * 12
    rng.shuffle(jobs)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda pair: pair[1](pair[0]), enumerate(jobs)))
    for (_, out_refund_no), r in list(sandbox.pay.refunds.items()):
        if r["status"] == "PROCESSING" and r["mchid"] == merchant.pay.mchid:
            sandbox.pay.settle_refund(out_refund_no, status=rng.choice(["SUCCESS", "SUCCESS", "CLOSED"]), times=2)
    reconciliation.reconcile(clock.now() + timedelta(hours=1))

    at_wechat = {no: o for (mchid, no), o in sandbox.pay.orders.items() if mchid == merchant.pay.mchid}
    taken = sum(o["total"] for o in at_wechat.values() if o["trade_state"] in ("SUCCESS", "REFUND"))
    refunded_cash = sum(
        r["amount"]
        for r in sandbox.pay.refunds.values()
        if r["mchid"] == merchant.pay.mchid and r["status"] == "SUCCESS"
    )
    credited = 0
    for who, member_id in enumerate(ids):
        assert members.get(merchant.merchant_id, member_id).pending_topup == 0  # every order is paid or closed now
        checked_balances(merchant.merchant_id, member_id)
        credited += sum(
            int(e.amount)
            for e in LedgerEntry.query(member_pk(merchant.merchant_id, member_id))
            if e.kind == "TOPUP" and e.account == "principal"
        )
    assert taken == credited > 0  # every fen WeChat took was credited, once
    ours = {}
    for no, o in at_wechat.items():
        try:
            ours[no] = TopupOrder.get(topup_pk(merchant.merchant_id, no), "ORDER", consistent_read=True)
        except TopupOrder.DoesNotExist:
            assert o["trade_state"] == "NOTPAY"  # a prepay whose order lost a race: never handed out, never paid
            continue
        assert (o["trade_state"] in ("SUCCESS", "REFUND")) == (ours[no].status in ("PAID", "REFUNDING", "REFUNDED"))
    assert refunded_cash == sum(int(o.refund_amount) for o in ours.values() if o.status == "REFUNDED")
