"""Staff checkout and its refund: every rule, replays, and races on the serialized local DynamoDB."""

from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from mini_program_api.coupons import claims, held, stock
from mini_program_api.db.coupon_templates import CouponTemplate, template_pk
from mini_program_api.db.coupons import Coupon
from mini_program_api.db.models import Member, member_pk
from mini_program_api.merchants import configuration
from mini_program_api.money import ledger
from mini_program_api.money.ledger import Account, Operation
from mini_program_api.platform import clock
from mini_program_api.platform.errors import KabaoError
from mini_program_api.staff import audit
from mini_program_api.till import checkout
from tests import timeline
from tests.ledger_checks import checked_balances

TIERS = [
    configuration.TierSpec("normal", "普通", 0),
    configuration.TierSpec("silver", "银卡", 1000, 95, 150),
    configuration.TierSpec("gold", "金卡", 5000, 90, 200),
]
MANJIAN = {
    "name": "满50减10",
    "kind": "FULL_REDUCTION",
    "threshold": 5000,
    "amount": 1000,
    "total_stock": 100,
    "per_member_limit": 5,
    "days_after_claim": 30,
}


@pytest.fixture
def shop(api: Any, merchant: Any) -> dict[str, Any]:
    configuration.set_tiers(merchant.merchant_id, TIERS)
    return {"merchant": merchant, "staff": api.staff_token(merchant, "s1")}


def _member(api: Any, merchant: Any, **balances: int) -> dict[str, Any]:
    member = api.member_with_card(merchant)
    member_id = member["member"]["member_id"]
    if balances:
        op = Operation(
            f"test-credit-{uuid.uuid4().hex[:8]}",
            "TEST_CREDIT",
            ledger.postings({Account(k): v for k, v in balances.items()}),
        )
        ledger.post(merchant.merchant_id, member_id, op)
    return {"token": member["token"], "id": member_id}


def _template(api: Any, merchant: Any, **over: Any) -> str:
    status, body = api.post("/v1/admin/coupon-templates", {**MANJIAN, **over}, token=api.admin_token(merchant))
    assert status == 201, body
    return body["template_id"]


def _coupon(api: Any, merchant: Any, member: dict[str, Any], **over: Any) -> str:
    template_id = _template(api, merchant, **over)
    status, body = api.post(
        f"/v1/coupons/offers/{template_id}/claim", token=member["token"], headers={"idempotency-key": uuid.uuid4().hex}
    )
    assert status == 200, body
    return body["coupon_id"]


def _checkout(api: Any, staff: str, member: dict[str, Any], key: str | None = None, **body: Any) -> tuple[int, Any]:
    payload = {"member_code": api.member_code(member["token"]), **body}
    return api.post("/v1/staff/checkout", payload, token=staff, headers={"idempotency-key": key or uuid.uuid4().hex})


def _coupon_status(merchant: Any, member: dict[str, Any], coupon_id: str) -> str:
    return Coupon.get(member_pk(merchant.merchant_id, member["id"]), f"COUPON#{coupon_id}", consistent_read=True).status


def test_checkout_applies_coupon_points_and_stored_value_in_one_go(api: Any, shop: dict[str, Any]) -> None:
    merchant = shop["merchant"]
    member = _member(api, merchant, principal=10000, bonus=2000, points=1000)
    coupon_id = _coupon(api, merchant, member)
    key = uuid.uuid4().hex
    status, receipt = _checkout(
        api, shop["staff"], member, key, amount=10000, coupon_id=coupon_id, points=500, stored_value=3000
    )
    assert status == 200, receipt
    assert {
        k: receipt[k]
        for k in (
            "amount",
            "tier_discount",
            "coupon_discount",
            "points_used",
            "points_value",
            "bonus_used",
            "principal_used",
            "cash_due",
            "points_earned",
            "growth_earned",
        )
    } == {
        "amount": 10000,
        "tier_discount": 0,
        "coupon_discount": 1000,
        "points_used": 500,
        "points_value": 500,
        "bonus_used": 2000,
        "principal_used": 1000,
        "cash_due": 5500,
        "points_earned": 85,
        "growth_earned": 85,
    }
    assert receipt["status"] == "PAID" and receipt["store_id"] == "s1" and receipt["member_id"] == member["id"]
    expected = {"points": 585, "principal": 9000, "bonus": 0, "growth": 85}
    assert checked_balances(merchant.merchant_id, member["id"]) == expected
    assert _coupon_status(merchant, member, coupon_id) == "USED"
    # the same key again: the same receipt, nothing moves (even with a fresh member code)
    assert _checkout(
        api, shop["staff"], member, key, amount=10000, coupon_id=coupon_id, points=500, stored_value=3000
    ) == (200, receipt)
    assert checked_balances(merchant.merchant_id, member["id"]) == expected
    status, body = _checkout(api, shop["staff"], member, key, amount=9999)
    assert (status, body["error"]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert api.get(f"/v1/staff/orders/{receipt['order_id']}", token=shop["staff"]) == (200, receipt)
    _, mine = api.get("/v1/me/coupons?status=used", token=member["token"])
    assert [c["coupon_id"] for c in mine["coupons"]] == [coupon_id] and mine["coupons"][0]["used_store_id"] == "s1"
    trail = audit.day(merchant.merchant_id, clock.local_date(merchant.timezone).isoformat())
    sales = [r for r in trail if r.action == "CHECKOUT"]
    assert len(sales) == 1 and sales[0].target == receipt["order_id"] and sales[0].store_id == "s1"
    assert sales[0].actor == receipt["staff_id"] and sales[0].actor.startswith("cashier-")


def test_tier_upgrade_happens_in_the_checkout_that_crosses_it(api: Any, shop: dict[str, Any]) -> None:
    merchant = shop["merchant"]
    member = _member(api, merchant, growth=990)
    status, receipt = _checkout(api, shop["staff"], member, amount=2000)
    assert status == 200 and receipt["growth_earned"] == 20
    assert (receipt["tier_before"], receipt["tier_after"], receipt["upgraded"]) == ("normal", "silver", True)
    stored = Member.get(member_pk(merchant.merchant_id, member["id"]), "PROFILE")
    assert stored.tier_id == "silver" and stored.tier_reached_at is not None
    _, me = api.get("/v1/me", token=member["token"])
    assert me["tier"]["id"] == "silver" and me["next_tier"]["id"] == "gold" and me["growth_to_next_tier"] == 3990
    # silver: 5% off and 1.5x points
    status, receipt = _checkout(api, shop["staff"], member, amount=10000)
    assert (receipt["tier_discount"], receipt["cash_due"], receipt["points_earned"]) == (500, 9500, 142)
    assert receipt["upgraded"] is False


def test_concurrent_growth_never_misses_a_threshold(api: Any, shop: dict[str, Any]) -> None:
    merchant = shop["merchant"]
    member = _member(api, merchant, growth=980)
    codes = [api.member_code(member["token"]) for _ in range(8)]

    def pay(code: str) -> str | int:
        staff = checkout.Principal(merchant.merchant_id, "cashier", "staff", "s1")
        try:
            return int(checkout.checkout(staff, code, checkout.Request(amount=300), uuid.uuid4().hex).growth_earned)
        except KabaoError as exc:
            return exc.code

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(pay, codes))
    outcomes = ["ok" if isinstance(r, int) else r for r in results]
    stored = Member.get(member_pk(merchant.merchant_id, member["id"]), "PROFILE")
    assert int(stored.growth) == 980 + sum(r for r in results if isinstance(r, int))
    assert int(stored.growth) >= 1000 and stored.tier_id == "silver"
    # a member is rarely at eight tills at once: losers get a clean 409 and nothing changes
    assert set(outcomes) <= {"ok", "CONCURRENT_UPDATE"} and outcomes.count("ok") >= 4
    checked_balances(merchant.merchant_id, member["id"])


def test_a_checkout_computed_from_a_stale_member_row_is_recomputed(
    api: Any, shop: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Force the interleaving a race produces: B reads the member, A commits, then B commits."""
    merchant = shop["merchant"]
    member = _member(api, merchant, growth=990)
    staff = checkout.Principal(merchant.merchant_id, "cashier", "staff", "s1")
    stale = checkout.members.get(merchant.merchant_id, member["id"])  # growth 990
    checkout.checkout(staff, api.member_code(member["token"]), checkout.Request(amount=500), uuid.uuid4().hex)
    real_get, reads, code = checkout.members.get, [], api.member_code(member["token"])

    def first_read_is_stale(merchant_id: str, member_id: str) -> Member:
        reads.append(member_id)
        return stale if len(reads) == 1 else real_get(merchant_id, member_id)

    monkeypatch.setattr(checkout.members, "get", first_read_is_stale)
    order = checkout.checkout(staff, code, checkout.Request(amount=500), uuid.uuid4().hex)
    assert len(reads) == 2  # the stale attempt was refused by its pin and computed again
    stored = Member.get(member_pk(merchant.merchant_id, member["id"]), "PROFILE")
    assert (int(stored.growth), stored.tier_id, order.tier_after) == (1000, "silver", "silver")


@pytest.mark.parametrize(
    ("coupon", "body", "code", "why"),
    [
        ({}, {"amount": 4999}, "COUPON_NOT_APPLICABLE", "under the threshold"),
        ({"store_ids": ["s2"]}, {"amount": 6000}, "COUPON_NOT_APPLICABLE", "another store's coupon"),
        ({"daily_window": "outside now"}, {"amount": 6000}, "COUPON_NOT_APPLICABLE", "outside its hours"),
        (
            {"kind": "GIFT", "gift_name": "拿铁", "threshold": 0, "amount": 0},
            {"amount": 6000},
            "COUPON_NOT_APPLICABLE",
            "gifts are redeemed by code",
        ),
        (
            {
                "days_after_claim": None,
                "valid_from": timeline.iso(timeline.today() + timedelta(days=10)),
                "valid_until": timeline.iso(timeline.today() + timedelta(days=40)),
            },
            {"amount": 6000},
            "COUPON_NOT_APPLICABLE",
            "not valid yet",
        ),
    ],
)
def test_coupon_rules_refuse_and_change_nothing(
    api: Any, shop: dict[str, Any], clock: Any, coupon: dict[str, Any], body: dict[str, Any], code: str, why: str
) -> None:
    merchant = shop["merchant"]
    member = _member(api, merchant, principal=10000, points=100)
    if coupon.get("daily_window") == "outside now":
        coupon = {**coupon, "daily_window": timeline.hours_apart_from(clock.now)}
    for store_id in coupon.get("store_ids", []):
        api.post("/v1/admin/stores", {"store_id": store_id, "name": store_id}, token=api.admin_token(merchant))
    coupon_id = _coupon(api, merchant, member, **coupon)
    before = checked_balances(merchant.merchant_id, member["id"])
    status, error = _checkout(api, shop["staff"], member, coupon_id=coupon_id, stored_value=1000, points=100, **body)
    assert (status, error["error"]["code"]) == (409, code), why
    assert checked_balances(merchant.merchant_id, member["id"]) == before
    assert _coupon_status(merchant, member, coupon_id) == "AVAILABLE"


def test_used_expired_and_other_members_coupons(api: Any, shop: dict[str, Any], clock: Any) -> None:
    merchant = shop["merchant"]
    member, other = _member(api, merchant), _member(api, merchant)
    coupon_id = _coupon(api, merchant, member)
    status, error = _checkout(api, shop["staff"], other, amount=6000, coupon_id=coupon_id)
    assert (status, error["error"]["code"]) == (404, "COUPON_NOT_FOUND")  # not the scanned member's
    assert _checkout(api, shop["staff"], member, amount=6000, coupon_id=coupon_id)[0] == 200
    status, error = _checkout(api, shop["staff"], member, amount=6000, coupon_id=coupon_id)
    assert (status, error["error"]["code"]) == (409, "COUPON_ALREADY_USED")
    later = _coupon(api, merchant, member, days_after_claim=3)
    clock.advance(days=3)
    member["token"] = api.token(merchant, member["id"])
    staff = api.staff_token(merchant, "s1")
    status, error = _checkout(api, staff, member, amount=6000, coupon_id=later)
    assert (status, error["error"]["code"]) == (409, "COUPON_EXPIRED")


def test_payment_rules(api: Any, shop: dict[str, Any], make_merchant: Any) -> None:
    merchant = shop["merchant"]
    member = _member(api, merchant, principal=1000, points=300)
    cases = [
        ({"amount": 0}, 400, "AMOUNT_OUT_OF_RANGE"),
        ({"amount": -5}, 400, "AMOUNT_OUT_OF_RANGE"),
        ({"amount": 1000, "points": -1}, 400, "AMOUNT_OUT_OF_RANGE"),
        ({"amount": 1000, "stored_value": 800, "points": 300}, 400, "PAYMENT_EXCEEDS_DUE"),
        ({"amount": 5000, "points": 301}, 409, "INSUFFICIENT_POINTS"),
        ({"amount": 5000, "stored_value": 1001}, 409, "INSUFFICIENT_BALANCE"),
        ({"amount": "100"}, 400, "VALIDATION_ERROR"),
        ({"amount": 100.5}, 400, "VALIDATION_ERROR"),
    ]
    for body, status, code in cases:
        got = _checkout(api, shop["staff"], member, **body)
        assert (got[0], got[1]["error"]["code"]) == (status, code), body
    configuration.update_settings(merchant.merchant_id, points_per_yuan=200)  # 2 points = 1 fen
    got = _checkout(api, shop["staff"], member, amount=1000, points=3)
    assert (got[0], got[1]["error"]["code"]) == (400, "VALIDATION_ERROR")
    assert _checkout(api, shop["staff"], member, amount=1000, points=300)[1]["points_value"] == 150
    unknown = api.post(
        "/v1/staff/checkout",
        {"member_code": "0" * 18, "amount": 100},
        token=shop["staff"],
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert (unknown[0], unknown[1]["error"]["code"]) == (404, "NOT_FOUND")
    no_key = api.post(
        "/v1/staff/checkout", {"member_code": api.member_code(member["token"]), "amount": 100}, token=shop["staff"]
    )
    assert (no_key[0], no_key[1]["error"]["code"]) == (400, "INVALID_IDEMPOTENCY_KEY")
    # another merchant's staff cannot charge this member's code
    other_staff = api.staff_token(make_merchant(), "s1")
    stranger = _checkout(api, other_staff, member, amount=100)
    assert (stranger[0], stranger[1]["error"]["code"]) == (404, "NOT_FOUND")
    assert (
        api.post(
            "/v1/staff/checkout",
            {"member_code": api.member_code(member["token"]), "amount": 100},
            token=member["token"],
            headers={"idempotency-key": uuid.uuid4().hex},
        )[0]
        == 403
    )
    assert checked_balances(merchant.merchant_id, member["id"])["principal"] == 1000


def test_expired_member_code_is_refused(api: Any, shop: dict[str, Any], clock: Any) -> None:
    member = _member(api, shop["merchant"])
    code = api.member_code(member["token"])
    clock.advance(seconds=61)
    status, body = api.post(
        "/v1/staff/checkout",
        {"member_code": code, "amount": 100},
        token=api.staff_token(shop["merchant"]),
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")


def test_two_checkouts_racing_for_one_coupon_one_wins(api: Any, shop: dict[str, Any]) -> None:
    merchant = shop["merchant"]
    member = _member(api, merchant, principal=100000)
    coupon_id = _coupon(api, merchant, member)
    codes = [api.member_code(member["token"]) for _ in range(8)]
    staff = checkout.Principal(merchant.merchant_id, "cashier", "staff", "s1")

    def pay(code: str) -> str:
        try:
            checkout.checkout(staff, code, checkout.Request(6000, coupon_id, stored_value=5000), uuid.uuid4().hex)
            return "ok"
        except KabaoError as exc:
            return exc.code

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(pay, codes))
    assert outcomes.count("ok") == 1, outcomes
    assert set(outcomes) == {"ok", "COUPON_ALREADY_USED"}
    assert checked_balances(merchant.merchant_id, member["id"])["principal"] == 100000 - 5000


# --- refunds -------------------------------------------------------------------------------------


def test_refund_restores_what_was_spent_and_claws_back_what_was_earned(api: Any, shop: dict[str, Any]) -> None:
    merchant = shop["merchant"]
    member = _member(api, merchant, principal=10000, bonus=2000, points=1000)
    coupon_id = _coupon(api, merchant, member)
    _, receipt = _checkout(api, shop["staff"], member, amount=10000, coupon_id=coupon_id, points=500, stored_value=3000)
    path = f"/v1/staff/orders/{receipt['order_id']}/refund"
    assert (
        api.post(path, token=api.staff_token(merchant, "s2"))[1]["error"]["code"] == "ORDER_NOT_FOUND"
    )  # another store
    status, refunded = api.post(path, token=shop["staff"])
    assert status == 200 and refunded["status"] == "REFUNDED"
    assert (refunded["points_clawed_back"], refunded["growth_clawed_back"], refunded["coupon_restored"]) == (
        85,
        85,
        True,
    )
    assert checked_balances(merchant.merchant_id, member["id"]) == {
        "points": 1000,
        "principal": 10000,
        "bonus": 2000,
        "growth": 0,
    }
    assert _coupon_status(merchant, member, coupon_id) == "AVAILABLE"
    assert api.post(path, token=api.admin_token(merchant)) == (200, refunded)  # again: nothing more
    assert checked_balances(merchant.merchant_id, member["id"])["principal"] == 10000
    assert api.post("/v1/staff/orders/Knope/refund", token=shop["staff"])[0] == 404


def test_refund_after_earned_points_were_spent_writes_off_the_rest(api: Any, shop: dict[str, Any], clock: Any) -> None:
    merchant = shop["merchant"]
    member = _member(api, merchant)
    coupon_id = _coupon(api, merchant, member, days_after_claim=3)
    _, first = _checkout(api, shop["staff"], member, amount=20000, coupon_id=coupon_id)  # earns 190 points
    assert first["points_earned"] == 190
    _checkout(api, shop["staff"], member, amount=1000, points=150)  # spends 150 of them, earns 8
    clock.advance(days=3)
    status, refunded = api.post(f"/v1/staff/orders/{first['order_id']}/refund", token=api.staff_token(merchant, "s1"))
    assert status == 200
    # 48 points left (40 + 8) are clawed back; the 142 already spent are written off; expired coupon stays used
    assert (refunded["points_clawed_back"], refunded["coupon_restored"]) == (48, False)
    balances = checked_balances(merchant.merchant_id, member["id"])
    assert balances["points"] == 0 and balances["growth"] == 8
    assert _coupon_status(merchant, member, coupon_id) == "USED"


def test_concurrent_refunds_refund_once(api: Any, shop: dict[str, Any]) -> None:
    merchant = shop["merchant"]
    member = _member(api, merchant, principal=5000)
    _, receipt = _checkout(api, shop["staff"], member, amount=5000, stored_value=5000)
    admin = checkout.Principal(merchant.merchant_id, "admin-1", "admin")
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: checkout.refund(admin, receipt["order_id"]).status, range(6)))
    assert results == ["REFUNDED"] * 6
    assert checked_balances(merchant.merchant_id, member["id"])["principal"] == 5000


# --- the randomized invariant ----------------------------------------------------------------------


def test_random_claims_checkouts_and_refunds_keep_every_invariant(api: Any, shop: dict[str, Any]) -> None:
    merchant = shop["merchant"]
    units = 12
    template_id = _template(api, merchant, total_stock=units, per_member_limit=3, threshold=2000, amount=500)
    people = [_member(api, merchant, principal=20000, bonus=3000, points=2000) for _ in range(5)]
    staff = checkout.Principal(merchant.merchant_id, "cashier", "staff", "s1")
    orders: list[str] = []
    rng = random.Random(20261123)
    plan = [
        (rng.choice(["claim", "claim", "checkout", "checkout", "refund"]), rng.choice(people), rng.random())
        for _ in range(60)
    ]
    codes = {p["id"]: [api.member_code(p["token"]) for _ in range(20)] for p in people}

    def act(step: tuple[str, dict[str, Any], float]) -> str:
        kind, person, r = step
        try:
            if kind == "claim":
                claims.claim(merchant.merchant_id, person["id"], template_id, uuid.uuid4().hex)
            elif kind == "checkout":
                usable = held.mine(merchant.merchant_id, person["id"], "available").items
                coupon = usable[0].coupon_id if usable and r < 0.7 else None
                code = codes[person["id"]].pop()
                order = checkout.checkout(
                    staff,
                    code,
                    checkout.Request(
                        amount=2000 + int(r * 8000), coupon_id=coupon, points=int(r * 300), stored_value=int(r * 1500)
                    ),
                    uuid.uuid4().hex,
                )
                orders.append(order.order_id)
            elif orders:
                checkout.refund(staff, rng.choice(orders))
            return "ok"
        except KabaoError as exc:
            return exc.code

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(act, plan))
    assert "ok" in outcomes
    assert set(outcomes) <= {
        "ok",
        "SOLD_OUT",
        "CLAIM_LIMIT_REACHED",
        "COUPON_ALREADY_USED",
        "CONCURRENT_UPDATE",
        "INSUFFICIENT_POINTS",
        "INSUFFICIENT_BALANCE",
        "PAYMENT_EXCEEDS_DUE",
    }, outcomes
    claimed = used = 0
    for person in people:
        balances = checked_balances(merchant.merchant_id, person["id"])  # = ledger, none negative
        theirs = list(Coupon.query(member_pk(merchant.merchant_id, person["id"]), Coupon.sk.startswith("COUPON#")))
        claimed += len(theirs)
        used += sum(c.status == "USED" for c in theirs)
        for coupon in theirs:  # a used coupon belongs to exactly one paid order
            if coupon.status == "USED":
                assert checkout.get_order(merchant.merchant_id, coupon.used_ref).status == "PAID"
        paid = [checkout.get_order(merchant.merchant_id, o) for o in set(orders)]
        mine = [o for o in paid if o.member_id == person["id"]]
        spent = sum(int(o.bonus_used) + int(o.principal_used) for o in mine if o.status == "PAID")
        assert balances["principal"] + balances["bonus"] == 23000 - spent
    template = CouponTemplate.get(template_pk(merchant.merchant_id), template_id)
    assert used <= claimed <= units
    assert claimed + stock.remaining_stock(merchant.merchant_id, template) == units
