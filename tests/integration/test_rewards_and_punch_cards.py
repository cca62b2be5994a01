"""Points-mall rewards, gift redemption by code, and punch cards."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mini_program_api.coupons import claims, held, stock
from mini_program_api.db.coupon_templates import CouponTemplate, template_pk
from mini_program_api.money import ledger
from mini_program_api.money.ledger import Account, Operation
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.till import punch_cards
from tests.ledger_checks import checked_balances

GIFT = {
    "name": "积分换拿铁",
    "kind": "GIFT",
    "gift_name": "拿铁一杯",
    "total_stock": 2,
    "per_member_limit": 5,
    "days_after_claim": 30,
    "points_price": 300,
}


@pytest.fixture
def member(api: Any, merchant: Any) -> dict[str, Any]:
    body = api.member_with_card(merchant)
    member_id = body["member"]["member_id"]
    ledger.post(
        merchant.merchant_id,
        member_id,
        Operation(
            "test-credit",
            "TEST_CREDIT",
            ledger.postings({Account.POINTS: 1000, Account.PRINCIPAL: 10000, Account.BONUS: 500}),
        ),
    )
    return {"token": body["token"], "id": member_id}


def _reward(api: Any, merchant: Any, **over: Any) -> str:
    status, body = api.post("/v1/admin/coupon-templates", {**GIFT, **over}, token=api.admin_token(merchant))
    assert status == 201, body
    return body["template_id"]


def _redeem(api: Any, token: str, reward_id: str, key: str | None = None) -> tuple[int, Any]:
    return api.post(
        f"/v1/points/rewards/{reward_id}/redeem", token=token, headers={"idempotency-key": key or uuid.uuid4().hex}
    )


# --- points mall ------------------------------------------------------------------------------------


def test_redeem_spends_points_and_issues_the_reward_once(api: Any, merchant: Any, member: dict[str, Any]) -> None:
    reward_id = _reward(api, merchant)
    _, listed = api.get("/v1/points/rewards", token=member["token"])
    assert [(r["reward_id"], r["points_price"]) for r in listed["rewards"]] == [(reward_id, 300)]
    assert api.get("/v1/coupons/offers", token=member["token"])[1]["offers"] == []  # a reward is not a free offer
    status, body = api.post(
        f"/v1/coupons/offers/{reward_id}/claim", token=member["token"], headers={"idempotency-key": uuid.uuid4().hex}
    )
    assert (status, body["error"]["code"]) == (404, "OFFER_NOT_FOUND")
    key = uuid.uuid4().hex
    status, coupon = _redeem(api, member["token"], reward_id, key)
    assert status == 200 and coupon["kind"] == "GIFT" and coupon["gift_name"] == "拿铁一杯"
    assert _redeem(api, member["token"], reward_id, key) == (200, coupon)  # retry: same coupon, points once
    assert checked_balances(merchant.merchant_id, member["id"])["points"] == 700
    _, points = api.get("/v1/me/ledger?account=points", token=member["token"])
    assert (points["entries"][0]["amount"], points["entries"][0]["kind"]) == (-300, "REWARD")


def test_no_stock_or_points_changes_nothing(api: Any, merchant: Any, member: dict[str, Any]) -> None:
    reward_id = _reward(api, merchant, total_stock=1)
    assert _redeem(api, member["token"], reward_id)[0] == 200
    status, body = _redeem(api, member["token"], reward_id)
    assert (status, body["error"]["code"]) == (409, "SOLD_OUT")
    assert checked_balances(merchant.merchant_id, member["id"])["points"] == 700
    pricey = _reward(api, merchant, points_price=800)
    status, body = _redeem(api, member["token"], pricey)
    assert (status, body["error"]["code"]) == (409, "INSUFFICIENT_POINTS")
    template = CouponTemplate.get(template_pk(merchant.merchant_id), pricey)
    assert stock.remaining_stock(merchant.merchant_id, template) == 2
    assert len(held.mine(merchant.merchant_id, member["id"], "available").items) == 1
    offer = api.post("/v1/admin/coupon-templates", {**GIFT, "points_price": None}, token=api.admin_token(merchant))[1]
    assert _redeem(api, member["token"], offer["template_id"])[1]["error"]["code"] == "REWARD_NOT_FOUND"
    bad = api.post("/v1/admin/coupon-templates", {**GIFT, "points_price": 0}, token=api.admin_token(merchant))
    assert bad[0] == 400


def test_concurrent_redemptions_never_oversell_or_overspend(api: Any, merchant: Any, member: dict[str, Any]) -> None:
    reward_id = _reward(api, merchant, total_stock=5)  # 1000 points buy 3 at 300; stock 5

    def redeem(_: int) -> str:
        try:
            claims.redeem_reward(merchant.merchant_id, member["id"], reward_id, uuid.uuid4().hex)
            return "ok"
        except KabaoError as exc:
            return exc.code

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(redeem, range(8)))
    assert outcomes.count("ok") == 3 and set(outcomes) <= {"ok", "INSUFFICIENT_POINTS", "CONCURRENT_UPDATE"}
    assert checked_balances(merchant.merchant_id, member["id"])["points"] == 100
    template = CouponTemplate.get(template_pk(merchant.merchant_id), reward_id)
    assert stock.remaining_stock(merchant.merchant_id, template) == 2


# --- gift redemption by code --------------------------------------------------------------------------


def test_gift_coupon_redeemed_by_code_once(api: Any, merchant: Any, member: dict[str, Any]) -> None:
    staff = api.staff_token(merchant, "s1")
    coupon = _redeem(api, member["token"], _reward(api, merchant))[1]
    key = uuid.uuid4().hex
    body = {"member_code": api.member_code(member["token"]), "coupon_id": coupon["coupon_id"]}
    status, used = api.post("/v1/staff/coupons/redeem", body, token=staff, headers={"idempotency-key": key})
    assert status == 200 and used["status"] == "used" and used["used_store_id"] == "s1"
    assert api.post("/v1/staff/coupons/redeem", body, token=staff, headers={"idempotency-key": key}) == (200, used)
    status, error = api.post(
        "/v1/staff/coupons/redeem", body, token=staff, headers={"idempotency-key": uuid.uuid4().hex}
    )
    assert (status, error["error"]["code"]) == (409, "COUPON_ALREADY_USED")
    cash = api.post(
        "/v1/admin/coupon-templates",
        {"name": "5元", "kind": "CASH", "amount": 500, "total_stock": 9, "per_member_limit": 1, "days_after_claim": 7},
        token=api.admin_token(merchant),
    )[1]["template_id"]
    cash_coupon = api.post(
        f"/v1/coupons/offers/{cash}/claim", token=member["token"], headers={"idempotency-key": uuid.uuid4().hex}
    )[1]
    status, error = api.post(
        "/v1/staff/coupons/redeem",
        {**body, "coupon_id": cash_coupon["coupon_id"]},
        token=staff,
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert (status, error["error"]["code"]) == (409, "COUPON_NOT_APPLICABLE")
    other = api.member_with_card(merchant)["token"]
    status, error = api.post(
        "/v1/staff/coupons/redeem",
        {"member_code": api.member_code(other), "coupon_id": coupon["coupon_id"]},
        token=staff,
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert (status, error["error"]["code"]) == (404, "COUPON_NOT_FOUND")


# --- punch cards ---------------------------------------------------------------------------------------


def _plan(api: Any, merchant: Any, **over: Any) -> dict[str, Any]:
    body = {"name": "10杯咖啡", "visits": 10, "valid_days": 90, "price": 2500, **over}
    status, plan = api.post("/v1/admin/punch-card-plans", body, token=api.admin_token(merchant))
    assert status == 201, plan
    return plan


def _use(api: Any, staff: str, member: dict[str, Any], card_id: str, key: str | None = None) -> tuple[int, Any]:
    return api.post(
        "/v1/staff/punch-cards/use",
        {"member_code": api.member_code(member["token"]), "card_id": card_id},
        token=staff,
        headers={"idempotency-key": key or uuid.uuid4().hex},
    )


def test_buy_with_stored_value_and_use_one_visit_per_scan(api: Any, merchant: Any, member: dict[str, Any]) -> None:
    plan = _plan(api, merchant, visits=2)
    assert [p["plan_id"] for p in api.get("/v1/punch-cards/plans", token=member["token"])[1]["plans"]] == [
        plan["plan_id"]
    ]
    key = uuid.uuid4().hex
    status, card = api.post(
        f"/v1/punch-cards/plans/{plan['plan_id']}/buy", token=member["token"], headers={"idempotency-key": key}
    )
    assert status == 200 and card["uses_left"] == 2 and card["status"] == "active"
    again = api.post(
        f"/v1/punch-cards/plans/{plan['plan_id']}/buy", token=member["token"], headers={"idempotency-key": key}
    )
    assert again == (200, card)
    balances = checked_balances(merchant.merchant_id, member["id"])
    assert (balances["bonus"], balances["principal"], balances[f"punch:{card['card_id']}"]) == (0, 8000, 2)
    staff = api.staff_token(merchant, "s1")
    scan = uuid.uuid4().hex
    assert _use(api, staff, member, card["card_id"], scan)[1]["uses_left"] == 1
    assert _use(api, staff, member, card["card_id"], scan)[1]["uses_left"] == 1  # a retried scan
    assert _use(api, staff, member, card["card_id"])[1]["uses_left"] == 0
    status, error = _use(api, staff, member, card["card_id"])
    assert (status, error["error"]["code"]) == (409, "PUNCH_CARD_USED_UP")
    assert checked_balances(merchant.merchant_id, member["id"])[f"punch:{card['card_id']}"] == 0
    _, mine = api.get("/v1/me/punch-cards", token=member["token"])
    assert [(c["card_id"], c["status"]) for c in mine["punch_cards"]] == [(card["card_id"], "used_up")]
    _, uses = api.get("/v1/me/ledger?account=punch", token=member["token"])
    assert [e["amount"] for e in uses["entries"]] == [-1, -1, 2]


def test_punch_card_rules(api: Any, merchant: Any, member: dict[str, Any], clock: Any) -> None:
    poor = api.member_with_card(merchant)
    assert api.post("/v1/admin/stores", {"store_id": "s1", "name": "One"}, token=api.admin_token(merchant))[0] == 201
    plan = _plan(api, merchant, store_ids=["s1"], valid_days=30)
    status, error = api.post(
        f"/v1/punch-cards/plans/{plan['plan_id']}/buy",
        token=poor["token"],
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert (status, error["error"]["code"]) == (409, "INSUFFICIENT_BALANCE")
    gift_only = _plan(api, merchant, price=None)
    status, error = api.post(
        f"/v1/punch-cards/plans/{gift_only['plan_id']}/buy",
        token=member["token"],
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert (status, error["error"]["code"]) == (409, "PUNCH_CARD_NOT_APPLICABLE")
    status, card = api.post(
        f"/v1/admin/members/{member['id']}/punch-cards",
        {"plan_id": gift_only["plan_id"]},
        token=api.admin_token(merchant),
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 201 and card["uses_left"] == 10
    assert checked_balances(merchant.merchant_id, member["id"])["principal"] == 10000  # a gift costs nothing
    bought = api.post(
        f"/v1/punch-cards/plans/{plan['plan_id']}/buy",
        token=member["token"],
        headers={"idempotency-key": uuid.uuid4().hex},
    )[1]
    status, error = _use(api, api.staff_token(merchant, "s2"), member, bought["card_id"])
    assert (status, error["error"]["code"]) == (409, "PUNCH_CARD_NOT_APPLICABLE")
    status, error = _use(api, api.staff_token(merchant, "s1"), poor, bought["card_id"])  # not the scanned member's
    assert (status, error["error"]["code"]) == (404, "PUNCH_CARD_NOT_FOUND")
    clock.advance(days=30)
    member["token"] = api.token(merchant, member["id"])
    status, error = _use(api, api.staff_token(merchant, "s1"), member, bought["card_id"])
    assert (status, error["error"]["code"]) == (409, "PUNCH_CARD_EXPIRED")
    assert checked_balances(merchant.merchant_id, member["id"])[f"punch:{bought['card_id']}"] == 10


def test_concurrent_scans_never_go_below_zero(api: Any, merchant: Any, member: dict[str, Any]) -> None:
    plan = _plan(api, merchant, visits=3)
    card = api.post(
        f"/v1/punch-cards/plans/{plan['plan_id']}/buy",
        token=member["token"],
        headers={"idempotency-key": uuid.uuid4().hex},
    )[1]
    staff = Principal(merchant.merchant_id, "cashier", "staff", "s1")
    codes = [api.member_code(member["token"]) for _ in range(10)]

    def scan(code: str) -> str:
        try:
            punch_cards.use(staff, code, card["card_id"], uuid.uuid4().hex)
            return "ok"
        except KabaoError as exc:
            return exc.code

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(scan, codes))
    assert outcomes.count("ok") == 3 and set(outcomes) == {"ok", "PUNCH_CARD_USED_UP"}
    assert checked_balances(merchant.merchant_id, member["id"])[f"punch:{card['card_id']}"] == 0
