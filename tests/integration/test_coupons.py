"""Coupon templates, offers, claims and the member's coupons; stock and limits under concurrency."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from mini_program_api.coupons import claims, shelf, stock
from mini_program_api.db.coupon_templates import CouponTemplate, StockShard, stock_pk, template_pk
from mini_program_api.db.coupons import Coupon
from mini_program_api.db.models import member_pk
from mini_program_api.platform import clock
from mini_program_api.platform.clock import iso
from mini_program_api.platform.errors import KabaoError
from tests import timeline

CASH = {
    "name": "5元无门槛",
    "kind": "CASH",
    "amount": 500,
    "total_stock": 100,
    "per_member_limit": 1,
    "days_after_claim": 7,
}

NEXT_MONTH = timeline.months_later(timeline.today(), 1)


def _create(api: Any, merchant: Any, **over: Any) -> tuple[int, Any]:
    return api.post("/v1/admin/coupon-templates", {**CASH, **over}, token=api.admin_token(merchant))


def _claim(api: Any, token: str, template_id: str, key: str | None = None) -> tuple[int, Any]:
    return api.post(
        f"/v1/coupons/offers/{template_id}/claim", token=token, headers={"idempotency-key": key or uuid.uuid4().hex}
    )


def _coupons_of(merchant: Any, member_id: str) -> list[Coupon]:
    return list(
        Coupon.query(member_pk(merchant.merchant_id, member_id), Coupon.sk.startswith("COUPON#"), consistent_read=True)
    )


@pytest.fixture
def member(api: Any, merchant: Any) -> dict[str, Any]:
    return api.member_with_card(merchant)


# --- templates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        {"name": "满100减20", "kind": "FULL_REDUCTION", "threshold": 10000, "amount": 2000},
        {"name": "八五折", "kind": "DISCOUNT", "rate": 85, "max_discount": 3000},
        {"name": "免费拿铁", "kind": "GIFT", "gift_name": "拿铁一杯", "store_ids": ["s1", "s2"]},
        {"name": "午市券", "kind": "CASH", "amount": 300, "daily_window": ["11:00", "14:00"], "tier_ids": ["gold"]},
        {
            "name": "双十二",
            "kind": "CASH",
            "amount": 300,
            "days_after_claim": None,
            "valid_from": timeline.iso(NEXT_MONTH),
            "valid_until": timeline.iso(NEXT_MONTH + timedelta(days=30), 23, 59, 59),
        },
    ],
)
def test_valid_templates_are_created_with_sharded_stock(api: Any, merchant: Any, template: dict[str, Any]) -> None:
    for store_id in template.get("store_ids", []):
        api.post("/v1/admin/stores", {"store_id": store_id, "name": store_id}, token=api.admin_token(merchant))
    status, body = _create(api, merchant, **template)
    assert status == 201, body
    assert body["kind"] == template["kind"] and body["stock_shards"] == 16
    stored = CouponTemplate.get(template_pk(merchant.merchant_id), body["template_id"])
    assert stock.remaining_stock(merchant.merchant_id, stored) == 100


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ({"kind": "FULL_REDUCTION", "threshold": 10000, "amount": 6000}, "more than half the threshold"),
        ({"kind": "FULL_REDUCTION", "threshold": 0, "amount": 100}, "no threshold"),
        ({"kind": "DISCOUNT", "rate": 40, "max_discount": 100}, "more than 50% off"),
        ({"kind": "DISCOUNT", "rate": 85}, "no maximum discount"),
        ({"kind": "GIFT"}, "no gift"),
        ({"kind": "CASH", "amount": 0}, "nothing off"),
        ({"kind": "CASH", "amount": 100, "threshold": 1000}, "cash with a threshold"),
        ({"kind": "BOGO"}, "unknown kind"),
        ({"days_after_claim": 2}, "under WeChat's 3 days"),
        ({"days_after_claim": None}, "no validity"),
        (
            {"valid_from": timeline.iso(NEXT_MONTH), "valid_until": timeline.iso(NEXT_MONTH + timedelta(days=30))},
            "both validities",
        ),
        (
            {
                "days_after_claim": None,
                "valid_from": timeline.iso(NEXT_MONTH + timedelta(days=30)),
                "valid_until": timeline.iso(NEXT_MONTH),
            },
            "ends first",
        ),
        (
            {
                "days_after_claim": None,
                "valid_from": "2020-01-01T00:00:00+08:00",
                "valid_until": "2020-02-01T00:00:00+08:00",
            },
            "past",
        ),
        (
            {
                "days_after_claim": None,
                "valid_from": timeline.iso(NEXT_MONTH)[:19],
                "valid_until": timeline.iso(NEXT_MONTH + timedelta(days=30))[:19],
            },
            "no offset",
        ),
        ({"total_stock": 0}, "no stock"),
        ({"per_member_limit": 0}, "no claims"),
        ({"daily_window": ["14:00", "11:00"]}, "window backwards"),
        ({"daily_window": ["25:00", "26:00"]}, "not a time"),
        ({"tier_ids": ["diamond"]}, "unknown tier"),
        ({"amount": "500"}, "amount as text"),
        ({"surprise": 1}, "unknown field"),
    ],
)
def test_invalid_templates_are_400_and_write_nothing(
    api: Any, merchant: Any, template: dict[str, Any], why: str
) -> None:
    status, body = _create(api, merchant, **template)
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), why
    assert list(CouponTemplate.query(template_pk(merchant.merchant_id))) == []


def test_only_admins_create_templates(api: Any, merchant: Any, member: dict[str, Any]) -> None:
    status, body = api.post("/v1/admin/coupon-templates", CASH, token=member["token"])
    assert (status, body["error"]["code"]) == (403, "FORBIDDEN")


# --- offers and claims ------------------------------------------------------------------------


def test_offers_list_what_this_member_can_claim_and_count_exposures(
    api: Any, merchant: Any, member: dict[str, Any]
) -> None:
    open_to_all = _create(api, merchant)[1]["template_id"]
    gold_only = _create(api, merchant, tier_ids=["gold"])[1]["template_id"]
    for _ in range(2):
        status, body = api.get("/v1/coupons/offers", token=member["token"])
        assert status == 200
    assert [o["template_id"] for o in body["offers"]] == [open_to_all] and body["offers"][0]["claimed"] == 0
    day = clock.local_date(merchant.timezone).isoformat()
    assert shelf.exposures(merchant.merchant_id, open_to_all, day) == 2
    status, error = _claim(api, member["token"], gold_only)
    assert (status, error["error"]["code"]) == (403, "TIER_NOT_ELIGIBLE")


def test_a_listing_resent_with_its_key_counts_one_view(api: Any, merchant: Any, member: dict[str, Any]) -> None:
    template_id = _create(api, merchant)[1]["template_id"]
    day = clock.local_date(merchant.timezone).isoformat()

    def views() -> list[tuple[int, int]]:
        status, body = api.get(f"/v1/admin/reports/funnel?from={day}&to={day}", token=api.admin_token(merchant))
        assert status == 200, body
        return [(r["views"], r["people"]) for r in body["rows"] if r["template_id"] == template_id]

    def listing(key: str | None) -> tuple[int, Any]:
        return api.get("/v1/coupons/offers", token=member["token"], headers={"idempotency-key": key} if key else None)

    key = uuid.uuid4().hex
    for _ in range(2):  # the first answer was lost: the client sends the same listing again, with its key
        status, body = listing(key)
        assert status == 200 and [o["template_id"] for o in body["offers"]] == [template_id], body
    assert views() == [(1, 1)]
    assert listing(uuid.uuid4().hex)[0] == 200 and listing(None)[0] == 200  # another listing; one with no key
    assert listing(key)[0] == 200
    assert views() == [(3, 1)]
    status, body = listing("not a key!")
    assert (status, body["error"]["code"]) == (400, "INVALID_IDEMPOTENCY_KEY")
    assert views() == [(3, 1)]


def test_claim_gives_a_coupon_once_per_key(api: Any, merchant: Any, member: dict[str, Any], clock: Any) -> None:
    template_id = _create(api, merchant, per_member_limit=2)[1]["template_id"]
    key = uuid.uuid4().hex
    status, coupon = _claim(api, member["token"], template_id, key)
    assert status == 200 and coupon["status"] == "available" and coupon["amount"] == 500
    assert coupon["valid_until"] == iso(clock.now + timedelta(days=7), "Asia/Shanghai")
    assert _claim(api, member["token"], template_id, key)[1] == coupon  # a retry: same coupon, no stock taken
    other = _create(api, merchant)[1]["template_id"]
    status, body = _claim(api, member["token"], other, key)
    assert (status, body["error"]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    template = CouponTemplate.get(template_pk(merchant.merchant_id), template_id)
    assert stock.remaining_stock(merchant.merchant_id, template) == 99
    _, offers = api.get("/v1/coupons/offers", token=member["token"])
    assert next(o for o in offers["offers"] if o["template_id"] == template_id)["claimed"] == 1


def test_claim_rules(api: Any, merchant: Any, member: dict[str, Any]) -> None:
    limited = _create(api, merchant)[1]["template_id"]
    assert _claim(api, member["token"], limited)[0] == 200
    status, body = _claim(api, member["token"], limited)
    assert (status, body["error"]["code"]) == (409, "CLAIM_LIMIT_REACHED")
    one = _create(api, merchant, total_stock=1)[1]["template_id"]
    status, last = _claim(api, member["token"], one, "the-last-one-key")
    assert status == 200
    status, body = _claim(api, api.member_with_card(merchant)["token"], one)
    assert (status, body["error"]["code"]) == (409, "SOLD_OUT")
    assert _claim(api, member["token"], one, "the-last-one-key") == (200, last)  # its retry still gets it
    status, body = _claim(api, member["token"], "CTnope")
    assert (status, body["error"]["code"]) == (404, "OFFER_NOT_FOUND")
    status, body = api.post(f"/v1/coupons/offers/{limited}/claim", token=member["token"])
    assert (status, body["error"]["code"]) == (400, "INVALID_IDEMPOTENCY_KEY")
    status, body = _claim(api, api.login(merchant)["token"], limited)
    assert (status, body["error"]["code"]) == (409, "CARD_NOT_OPEN")


def test_my_coupons_expire_at_read_time(api: Any, merchant: Any, member: dict[str, Any], clock: Any) -> None:
    template_id = _create(api, merchant, days_after_claim=3)[1]["template_id"]
    assert api.get("/v1/me", token=member["token"])[1]["coupon_count"] == 0
    _claim(api, member["token"], template_id)
    _, available = api.get("/v1/me/coupons", token=member["token"])
    assert [c["template_id"] for c in available["coupons"]] == [template_id]
    assert api.get("/v1/me", token=member["token"])[1]["coupon_count"] == 1
    clock.advance(days=3, seconds=1)
    token = api.token(merchant, member["member"]["member_id"])
    assert api.get("/v1/me", token=token)[1]["coupon_count"] == 0
    assert api.get("/v1/me/coupons?status=available", token=token)[1]["coupons"] == []
    assert [c["status"] for c in api.get("/v1/me/coupons?status=expired", token=token)[1]["coupons"]] == ["expired"]
    assert api.get("/v1/me/coupons?status=used", token=token)[1]["coupons"] == []
    status, body = api.get("/v1/me/coupons?status=lost", token=token)
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")


# --- concurrency (serialized local DynamoDB, real HTTP) -------------------------------------------


def _try_claim(merchant: Any, member_id: str, template_id: str) -> str:
    """One claim with a fresh key: "ok" or the refusal's error code."""
    try:
        claims.claim(merchant.merchant_id, member_id, template_id, uuid.uuid4().hex)
        return "ok"
    except KabaoError as exc:
        return exc.code


def test_64_concurrent_claims_of_stock_1_limit_1_give_one_coupon(
    api: Any, merchant: Any, member: dict[str, Any]
) -> None:
    template_id = _create(api, merchant, total_stock=1, per_member_limit=1)[1]["template_id"]
    mid = member["member"]["member_id"]
    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(lambda _: _try_claim(merchant, mid, template_id), range(64)))
    assert outcomes.count("ok") == 1 and set(outcomes) <= {"ok", "SOLD_OUT", "CLAIM_LIMIT_REACHED"}
    assert len(_coupons_of(merchant, mid)) == 1


def test_200_concurrent_claims_by_50_members_of_stock_20_give_20(api: Any, merchant: Any) -> None:
    template_id = _create(api, merchant, total_stock=20, per_member_limit=2)[1]["template_id"]
    people = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(50)]
    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(lambda i: _try_claim(merchant, people[i % 50], template_id), range(200)))
    held = {p: len(_coupons_of(merchant, p)) for p in people}
    assert outcomes.count("ok") == sum(held.values()) == 20
    assert max(held.values()) <= 2
    shards = [
        StockShard.get(stock_pk(merchant.merchant_id, template_id, i), "STOCK", consistent_read=True) for i in range(16)
    ]
    assert [int(s.left) for s in shards] == [0] * 16
