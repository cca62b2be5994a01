"""Exactly once per operation, not per ledger account (issue 11: items 1-4 and 18).

One Idempotency-Key names one operation: the same key with the same request returns
the first result however a retry would compute today, the same key with another
request is 422 IDEMPOTENCY_KEY_REUSED, and neither moves any value.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mini_program_api.money import stored_value
from mini_program_api.money.ledger import Account
from tests.ledger_checks import checked_balances
from tests.integration.test_checkout import _member

GIFT = {
    "name": "拿铁券",
    "kind": "GIFT",
    "gift_name": "拿铁一杯",
    "total_stock": 5,
    "per_member_limit": 5,
    "days_after_claim": 30,
    "points_price": 100,
}


@pytest.fixture
def staff(api: Any, merchant: Any) -> str:
    return api.staff_token(merchant, "s1")


def _checkout(api: Any, staff: str, code: str, key: str, **body: Any) -> tuple[int, Any]:
    return api.post("/v1/staff/checkout", {"member_code": code, **body}, token=staff, headers={"idempotency-key": key})


def _use(api: Any, staff: str, code: str, card_id: str, key: str) -> tuple[int, Any]:
    return api.post(
        "/v1/staff/punch-cards/use",
        {"member_code": code, "card_id": card_id},
        token=staff,
        headers={"idempotency-key": key},
    )


def _plan(api: Any, merchant: Any) -> str:
    status, plan = api.post(
        "/v1/admin/punch-card-plans",
        {"name": "10杯", "visits": 10, "valid_days": 90, "price": 1000},
        token=api.admin_token(merchant),
    )
    assert status == 201, plan
    return str(plan["plan_id"])


def _card(api: Any, merchant: Any, member: dict[str, Any]) -> dict[str, Any]:
    status, card = api.post(
        f"/v1/punch-cards/plans/{_plan(api, merchant)}/buy",
        token=member["token"],
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 200, card
    return card


def _error(response: tuple[int, Any]) -> tuple[int, str]:
    status, body = response
    return status, body["error"]["code"]


# --- 1: a spend split by today's balances --------------------------------------------------------


def test_spend_retried_after_the_bonus_ran_out_is_the_first_spend(api: Any, merchant: Any, staff: str) -> None:
    """No route spends stored value under a caller's key but checkout and punch-card buy (covered below);
    the spend itself is the domain call, everything around it goes over HTTP."""
    member = _member(api, merchant, principal=10000, bonus=500)
    first = stored_value.spend(merchant.merchant_id, member["id"], 500, "spend-coffee-1")
    assert first.amounts == {Account.BONUS: -500}
    status, receipt = _checkout(
        api, staff, api.member_code(member["token"]), uuid.uuid4().hex, amount=100, stored_value=100
    )
    assert status == 200 and receipt["principal_used"] == 100
    again = stored_value.spend(merchant.merchant_id, member["id"], 500, "spend-coffee-1")
    assert again.replayed and again.amounts == first.amounts
    assert checked_balances(merchant.merchant_id, member["id"])["principal"] == 10000 - 100


def test_punch_card_buy_retried_after_the_bonus_ran_out_is_the_first_buy(api: Any, merchant: Any, staff: str) -> None:
    member = _member(api, merchant, principal=10000, bonus=1000)
    key = uuid.uuid4().hex
    buy = f"/v1/punch-cards/plans/{_plan(api, merchant)}/buy"
    first = api.post(buy, token=member["token"], headers={"idempotency-key": key})
    assert first[0] == 200
    assert (
        _checkout(api, staff, api.member_code(member["token"]), uuid.uuid4().hex, amount=100, stored_value=100)[0]
        == 200
    )
    assert api.post(buy, token=member["token"], headers={"idempotency-key": key}) == first
    balances = checked_balances(merchant.merchant_id, member["id"])
    assert (balances["bonus"], balances["principal"]) == (0, 10000 - 100)


# --- 2: the sign-in reward changed during the day ------------------------------------------------


def test_sign_in_reward_changed_during_the_day_pays_once(api: Any, merchant: Any) -> None:
    admin = api.admin_token(merchant)
    assert api.call("PATCH", "/v1/admin/settings", {"sign_in_points": 0, "sign_in_growth": 5}, token=admin)[0] == 200
    member = _member(api, merchant)
    status, first = api.post("/v1/me/sign-in", token=member["token"])
    assert status == 200 and (first["points_earned"], first["growth_earned"]) == (0, 5)
    assert api.call("PATCH", "/v1/admin/settings", {"sign_in_points": 10, "sign_in_growth": 0}, token=admin)[0] == 200
    status, again = api.post("/v1/me/sign-in", token=member["token"])
    assert status == 200 and again["already_signed_in"] is True
    assert (again["points_earned"], again["growth_earned"]) == (0, 5)
    balances = checked_balances(merchant.merchant_id, member["id"])
    assert (balances["points"], balances["growth"]) == (0, 5)


# --- 3: one key, another punch card --------------------------------------------------------------


def test_punch_use_key_reused_on_another_card_is_422(api: Any, merchant: Any, staff: str) -> None:
    member = _member(api, merchant, principal=10000)
    one, two = _card(api, merchant, member), _card(api, merchant, member)
    key = uuid.uuid4().hex
    assert _use(api, staff, api.member_code(member["token"]), one["card_id"], key)[0] == 200
    assert _error(_use(api, staff, api.member_code(member["token"]), two["card_id"], key)) == (
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )
    balances = checked_balances(merchant.merchant_id, member["id"])
    assert (balances[f"punch:{one['card_id']}"], balances[f"punch:{two['card_id']}"]) == (9, 10)


# --- 4: one checkout key, another member ---------------------------------------------------------


def test_checkout_key_reused_for_another_member_is_422(api: Any, merchant: Any, staff: str) -> None:
    alice, bob = _member(api, merchant, principal=10000), _member(api, merchant, principal=10000)
    key = uuid.uuid4().hex
    status, receipt = _checkout(api, staff, api.member_code(alice["token"]), key, amount=3000, stored_value=3000)
    assert status == 200 and receipt["member_id"] == alice["id"]
    assert _error(_checkout(api, staff, api.member_code(bob["token"]), key, amount=3000, stored_value=3000)) == (
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )
    assert checked_balances(merchant.merchant_id, alice["id"])["principal"] == 7000
    assert checked_balances(merchant.merchant_id, bob["id"])["principal"] == 10000


# --- 18: a retry after the member code expired ---------------------------------------------------


def test_punch_use_retried_after_the_code_expired_returns_the_first_result(
    api: Any, merchant: Any, staff: str, clock: Any
) -> None:
    member = _member(api, merchant, principal=10000)
    card = _card(api, merchant, member)
    code, key = api.member_code(member["token"]), uuid.uuid4().hex
    first = _use(api, staff, code, card["card_id"], key)
    assert first[0] == 200 and first[1]["uses_left"] == 9
    clock.advance(seconds=61)
    assert _use(api, staff, code, card["card_id"], key) == first
    assert checked_balances(merchant.merchant_id, member["id"])[f"punch:{card['card_id']}"] == 9


def test_gift_redemption_retried_after_the_code_expired_returns_the_first_result(
    api: Any, merchant: Any, staff: str, clock: Any
) -> None:
    member = _member(api, merchant, points=1000)
    status, reward = api.post("/v1/admin/coupon-templates", GIFT, token=api.admin_token(merchant))
    coupon = api.post(
        f"/v1/points/rewards/{reward['template_id']}/redeem",
        token=member["token"],
        headers={"idempotency-key": uuid.uuid4().hex},
    )[1]
    body, key = {"member_code": api.member_code(member["token"]), "coupon_id": coupon["coupon_id"]}, uuid.uuid4().hex
    first = api.post("/v1/staff/coupons/redeem", body, token=staff, headers={"idempotency-key": key})
    assert first[0] == 200 and first[1]["status"] == "used"
    clock.advance(seconds=61)
    assert api.post("/v1/staff/coupons/redeem", body, token=staff, headers={"idempotency-key": key}) == first
    other = {**body, "coupon_id": "C" + "0" * 24}
    assert _error(api.post("/v1/staff/coupons/redeem", other, token=staff, headers={"idempotency-key": key})) == (
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )


def test_checkout_retried_after_the_code_expired_returns_the_first_receipt(
    api: Any, merchant: Any, staff: str, clock: Any
) -> None:
    member = _member(api, merchant, principal=10000)
    code, key = api.member_code(member["token"]), uuid.uuid4().hex
    first = _checkout(api, staff, code, key, amount=3000, stored_value=3000)
    assert first[0] == 200
    clock.advance(seconds=61)
    assert _checkout(api, staff, code, key, amount=3000, stored_value=3000) == first
    assert _error(_checkout(api, staff, code, key, amount=3001, stored_value=3000)) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert checked_balances(merchant.merchant_id, member["id"])["principal"] == 7000


# --- races ----------------------------------------------------------------------------------------


def test_one_key_sent_by_8_threads_at_once_moves_value_once(api: Any, merchant: Any, staff: str) -> None:
    member = _member(api, merchant, principal=10000, bonus=1000)
    codes = [api.member_code(member["token"]) for _ in range(8)]
    key = uuid.uuid4().hex
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda code: _checkout(api, staff, code, key, amount=3000, stored_value=3000), codes))
    assert all(r == results[0] for r in results) and results[0][0] == 200, results
    balances = checked_balances(merchant.merchant_id, member["id"])
    assert (balances["bonus"], balances["principal"]) == (0, 8000)


def test_one_key_with_two_requests_at_once_one_wins_the_other_is_422(api: Any, merchant: Any, staff: str) -> None:
    alice, bob = _member(api, merchant, principal=10000), _member(api, merchant, principal=10000)
    key = uuid.uuid4().hex
    requests = [(api.member_code(m["token"]), m["id"]) for _ in range(4) for m in (alice, bob)]
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda r: (r[1], _checkout(api, staff, r[0], key, amount=3000, stored_value=3000)), requests)
        )
    winners = {member_id for member_id, (status, _) in results if status == 200}
    assert len(winners) == 1, results
    for member_id, (status, body) in results:
        assert (
            (status, body["member_id"]) == (200, *winners)
            if member_id in winners
            else (status, body["error"]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
        )
    principals = sorted(checked_balances(merchant.merchant_id, m["id"])["principal"] for m in (alice, bob))
    assert principals == [7000, 10000]


def test_sign_in_by_8_threads_while_the_reward_changes_pays_once(api: Any, merchant: Any) -> None:
    member = _member(api, merchant)
    admin = api.admin_token(merchant)

    def sign_in(n: int) -> tuple[int, Any]:
        if n == 4:
            api.call("PATCH", "/v1/admin/settings", {"sign_in_points": 7, "sign_in_growth": 0}, token=admin)
        return api.post("/v1/me/sign-in", token=member["token"])

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(sign_in, range(8)))
    assert all(status == 200 for status, _ in results), results
    assert sum(not body["already_signed_in"] for _, body in results) == 1
    paid = {(body["points_earned"], body["growth_earned"]) for _, body in results}
    assert len(paid) == 1
    balances = checked_balances(merchant.merchant_id, member["id"])
    assert {(balances["points"], balances["growth"])} == paid


def test_a_clients_key_is_forgotten_a_week_after_its_operation_and_a_natural_key_never(
    api: Any, merchant: Any, staff: str, clock: Any
) -> None:
    """Operation records are bounded: a client's Idempotency-Key record carries a TTL one retention period after
    the operation (checkout's record is written by the ledger, a claim's by the claim); a sign-in's natural key
    (its day) keeps its record, as its ledger entries are kept."""
    from mini_program_api.db.ledger import OperationRecord
    from mini_program_api.db.models import member_pk
    from mini_program_api.money.idempotency import CLIENT_KEY_RETENTION

    member = _member(api, merchant, principal=5000)
    checkout_key = uuid.uuid4().hex
    assert (
        _checkout(api, staff, api.member_code(member["token"]), checkout_key, amount=1000, stored_value=1000)[0] == 200
    )
    assert api.post("/v1/me/sign-in", token=member["token"])[0] == 200
    sale = OperationRecord.get(f"MCH#{merchant.merchant_id}#OP#checkout:{checkout_key}", "OP", consistent_read=True)
    assert sale.expires_ttl is not None
    assert abs((sale.expires_ttl - (sale.created_at + CLIENT_KEY_RETENTION)).total_seconds()) < 1
    assert sale.created_at == clock.now
    day = clock.today.isoformat()
    signed = OperationRecord.get(
        member_pk(merchant.merchant_id, member["id"]), f"OP#signin:{day}", consistent_read=True
    )
    assert signed.expires_ttl is None
    # Within the retention the key still answers with its first result, whatever the balances say now.
    clock.advance(days=6)
    staff_now = api.staff_token(merchant, "s1")
    member_now = api.token(merchant, member["id"])
    again = _checkout(api, staff_now, api.member_code(member_now), checkout_key, amount=1000, stored_value=1000)
    assert again[0] == 200 and checked_balances(merchant.merchant_id, member["id"])["principal"] == 4000
