"""WeChat 卡包 sync: every change of points, stored value or tier reaches the member's WeChat card,
coalesced, retried with backoff, never lost and never older-after-newer."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest

from mini_program_api.db.models import Member, member_pk
from mini_program_api.merchants import configuration
from mini_program_api.money import stored_value
from mini_program_api.wallet import sync
from mini_program_api.wallet.models import MEMBER_SK, MemberWallet
from tests.wallet_helpers import activate, deliver_stream, invoke, setup_wallet

pytestmark = pytest.mark.new_stream  # deliver_stream reads the stream from its start


@pytest.fixture
def shop(api: Any, sandbox: Any, stack: Any, merchant: Any) -> dict[str, Any]:
    wallet = setup_wallet(api, sandbox, stack, merchant)
    member = activate(api, sandbox, merchant, wallet)
    member["id"] = member["member"]["member_id"]
    return {"merchant": merchant, "wallet": wallet, "member": member, "staff": api.staff_token(merchant)}


def _shown(sandbox: Any, member: dict[str, Any]) -> dict[str, Any]:
    return sandbox.card.display(member["code"])


def _updates(sandbox: Any, member: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        body
        for path, body in sandbox.card.calls
        if path == "/card/membercard/updateuser" and body.get("code") == member["code"]
    ]


def _state(merchant: Any, member: dict[str, Any]) -> MemberWallet:
    return MemberWallet.get(member_pk(merchant.merchant_id, member["id"]), MEMBER_SK, consistent_read=True)


def _topup(api: Any, sandbox: Any, member: dict[str, Any], plan: str = "p300") -> str:
    status, order = api.post(
        "/v1/topup/orders", {"plan_id": plan}, token=member["token"], headers={"idempotency-key": uuid.uuid4().hex}
    )
    assert status == 201 or status == 200, order
    sandbox.pay.pay(order["order_id"])
    return str(order["order_id"])


def test_topup_checkout_refund_reach_the_card_through_the_stream(
    api: Any, sandbox: Any, stack: Any, shop: dict[str, Any]
) -> None:
    merchant, member = shop["merchant"], shop["member"]
    _, seen = deliver_stream(stack)  # the activation's own writes
    _topup(api, sandbox, member)  # 300 + 50 bonus
    answer, seen = deliver_stream(stack, seen)
    assert answer == {"batchItemFailures": []}
    assert _shown(sandbox, member)["balance"] == 35000
    assert _shown(sandbox, member)["notices"][-1] == "充值 +350.00 元"

    status, sale = api.post(
        "/v1/staff/checkout",
        {"member_code": api.member_code(member["token"]), "amount": 6800, "stored_value": 6800},
        token=shop["staff"],
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 200, sale
    deliver_stream(stack, seen)
    shown = _shown(sandbox, member)
    row = Member.get(member_pk(merchant.merchant_id, member["id"]), "PROFILE", consistent_read=True)
    assert shown["balance"] == int(row.principal) + int(row.bonus) == 35000 - 6800
    assert shown["bonus"] == int(row.points) == sale["points_earned"] > 0

    status, _ = api.post(f"/v1/staff/orders/{sale['order_id']}/refund", token=shop["staff"])
    assert status == 200
    pushes_before = len(_updates(sandbox, member))
    _, seen = deliver_stream(stack, seen)
    assert _shown(sandbox, member)["balance"] == 35000 and _shown(sandbox, member)["bonus"] == 0
    assert len(_updates(sandbox, member)) == pushes_before + 1
    # Redelivering the whole stream pushes nothing more: everything is at its pushed version.
    deliver_stream(stack)
    assert len(_updates(sandbox, member)) == pushes_before + 1
    state = _state(merchant, member)
    assert state.due_sk is None and state.record_balance is None  # told once: never announced again


def test_a_burst_of_ten_changes_is_one_push_of_the_final_values(
    api: Any, sandbox: Any, stack: Any, shop: dict[str, Any]
) -> None:
    merchant, member = shop["merchant"], shop["member"]
    _topup(api, sandbox, member, "p500")
    for i in range(10):
        stored_value.spend(merchant.merchant_id, member["id"], 100 + i, f"burst{i}")
    before = len(_updates(sandbox, member))
    answer, _ = deliver_stream(stack)
    assert answer == {"batchItemFailures": []}
    pushes = _updates(sandbox, member)[before:]
    assert len(pushes) == 1
    assert pushes[0]["balance"] == 60000 - sum(100 + i for i in range(10)) == _shown(sandbox, member)["balance"]


def _sale(api: Any, shop: dict[str, Any], amount: int) -> dict[str, Any]:
    member = shop["member"]
    status, sale = api.post(
        "/v1/staff/checkout",
        {"member_code": api.member_code(api.token(shop["merchant"], member["id"])), "amount": amount},
        token=shop["staff"],
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 200, sale
    return sale


def test_wechat_errors_and_lost_answers_are_retried_with_backoff_and_never_lost(
    api: Any, sandbox: Any, stack: Any, shop: dict[str, Any], clock: Any
) -> None:
    merchant, member = shop["merchant"], shop["member"]
    _sale(api, shop, 10000)  # +100 points
    sandbox.card.fail("/card/membercard/updateuser", -1, times=2)
    sandbox.card.fail("/card/membercard/updateuser", "lost", times=1)
    deliver_stream(stack)  # -1: deferred a minute
    state = _state(merchant, member)
    assert state.due_attempts == 1 and state.last_error == "WECHAT_UNAVAILABLE" and state.pushed < state.version
    assert sync.sweep().pushed == 0  # not due yet: the backoff holds
    clock.advance(minutes=1, seconds=1)
    assert len(sync.sweep().failed) == 1  # -1 again: two minutes now
    clock.advance(minutes=2, seconds=1)
    report = invoke("wallet_sweep")  # applied at WeChat, answer lost: still owed
    assert len(report["failed"]) == 1 and _state(merchant, member).pushed < _state(merchant, member).version
    _sale(api, shop, 5000)  # +50 points meanwhile
    clock.advance(minutes=4, seconds=1)
    assert invoke("wallet_sweep")["pushed"] == 1
    assert _shown(sandbox, member)["bonus"] == 150
    state = _state(merchant, member)
    assert state.pushed == state.version and state.due_sk is None and state.due_attempts is None
    # Four tries within eight minutes: the budget of 30 minutes holds with room for more failures.


def test_concurrent_consumers_never_send_older_after_newer(
    api: Any, sandbox: Any, stack: Any, shop: dict[str, Any]
) -> None:
    merchant, member = shop["merchant"], shop["member"]
    _topup(api, sandbox, member, "p500")
    stop = threading.Event()

    def spend() -> None:
        for i in range(15):
            stored_value.spend(merchant.merchant_id, member["id"], 100, f"race{i}")
        stop.set()

    def consume() -> None:
        while not stop.is_set():
            sync.sweep()
        sync.sweep()

    threads = [threading.Thread(target=spend)] + [threading.Thread(target=consume) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sync.sweep()
    balances = [body["balance"] for body in _updates(sandbox, member)]
    assert balances == sorted(balances, reverse=True), balances  # spending only: never back up
    assert _shown(sandbox, member)["balance"] == 60000 - 1500
    state = _state(merchant, member)
    assert state.pushed == state.version


def test_points_expiry_and_tier_review_are_synced(
    api: Any, sandbox: Any, stack: Any, shop: dict[str, Any], clock: Any
) -> None:
    merchant, member = shop["merchant"], shop["member"]
    configuration.update_settings(
        merchant.merchant_id, points_expiry="ROLLING", points_expiry_days=30, tier_review=True
    )
    status, sale = api.post(
        "/v1/staff/checkout",
        {"member_code": api.member_code(member["token"]), "amount": 150000},
        token=shop["staff"],
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 200 and sale["tier_after"] == "silver"
    sync.sweep()
    assert _shown(sandbox, member)["custom_field_value1"] == "银卡" and _shown(sandbox, member)["bonus"] == 1500
    clock.advance(days=31)
    assert invoke("points_expiry")["points_expired"] == 1500
    sync.sweep()
    assert _shown(sandbox, member)["bonus"] == 0 and "积分过期 -1500 积分" in _shown(sandbox, member)["notices"]
    clock.advance(days=366)
    invoke("tier_reviews")
    sync.sweep()
    assert _shown(sandbox, member)["custom_field_value1"] == "普通"


def test_a_deleted_card_stops_the_pushes(api: Any, sandbox: Any, stack: Any, shop: dict[str, Any]) -> None:
    merchant, member, wallet = shop["merchant"], shop["member"], shop["wallet"]
    response = sandbox.card.push_event(
        wallet["oa_appid"], "user_del_card", CardId=wallet["card_id"], UserCardCode=member["code"]
    )
    assert response.status_code == 200 and response.text == "success"
    before = len(_updates(sandbox, member))
    _topup(api, sandbox, member)
    deliver_stream(stack)
    sync.sweep()
    assert len(_updates(sandbox, member)) == before
    assert _state(merchant, member).status == "DELETED" and _state(merchant, member).due_sk is None
    status, body = api.get("/v1/me/wallet", token=member["token"])
    assert status == 200 and body["in_wallet"] is False


def test_a_member_without_a_wechat_card_is_settled_without_a_push(
    api: Any, sandbox: Any, stack: Any, shop: dict[str, Any]
) -> None:
    plain = api.member_with_card(shop["merchant"])
    _topup(api, sandbox, plain)
    calls = len(sandbox.card.calls)
    assert sync.sweep().settled >= 1
    assert len(sandbox.card.calls) == calls
    assert json.dumps(sync.sweep().__dict__) and sync.sweep().settled == 0


def test_one_bad_record_is_reported_alone_and_the_rest_are_pushed(
    api: Any, sandbox: Any, stack: Any, shop: dict[str, Any], monkeypatch: Any
) -> None:
    merchant, member, wallet = shop["merchant"], shop["member"], shop["wallet"]
    other = activate(api, sandbox, merchant, wallet)
    other["id"] = other["member"]["member_id"]
    _, seen = deliver_stream(stack)
    _sale(api, shop, 10000)
    _sale(api, {**shop, "member": other}, 20000)
    real = sync._send

    def send(item: MemberWallet) -> None:
        if item.member_id == member["id"]:
            raise RuntimeError("a bug for this member only")
        real(item)

    monkeypatch.setattr(sync, "_send", send)
    answer, _ = deliver_stream(stack, seen)
    failed = [f["itemIdentifier"] for f in answer["batchItemFailures"]]
    assert len(failed) == 1  # the bad member's record, for Lambda to retry alone
    assert _shown(sandbox, other)["bonus"] == 200 and _shown(sandbox, member)["bonus"] == 0
    monkeypatch.setattr(sync, "_send", real)
    state = _state(merchant, member)
    assert state.due_attempts == 1 and state.last_error == "RuntimeError"  # deferred, never lost
