"""Checkout refunds against the growth a tier review moved into the base, and the points they give back.

Issue 11, items 5-7: a refund never drives qualifying growth below zero (nor crashes a
sign-in, a checkout or the review job), and points a refund gives back expire like any others.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from mini_program_api.db.models import Member, member_pk
from mini_program_api.merchants import configuration
from tests import timeline
from tests.integration.test_lifecycle import invoke
from tests.ledger_checks import checked_balances


def _sale(api: Any, merchant: Any, member_id: str, amount: int, **paid: int) -> dict[str, Any]:
    code = api.member_code(api.token(merchant, member_id))
    status, receipt = api.post(
        "/v1/staff/checkout",
        {"member_code": code, "amount": amount, **paid},
        token=api.staff_token(merchant, "s1"),
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 200, receipt
    return receipt


def _refund(api: Any, merchant: Any, order_id: str) -> dict[str, Any]:
    status, receipt = api.post(f"/v1/staff/orders/{order_id}/refund", token=api.admin_token(merchant))
    assert status == 200, receipt
    return receipt


def _stored(merchant: Any, member_id: str) -> Member:
    return Member.get(member_pk(merchant.merchant_id, member_id), "PROFILE", consistent_read=True)


def test_refunding_sales_after_a_review_keeps_qualifying_growth_whole(api: Any, merchant: Any, clock: Any) -> None:
    configuration.update_settings(merchant.merchant_id, tier_review=True)
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    before_window = _sale(api, merchant, member_id, 600000)  # 6000 growth: gold
    clock.advance(days=200)
    in_window = _sale(api, merchant, member_id, 120000)  # 1200 growth, inside the review's window
    clock.set(timeline.years_later(clock.start) + timedelta(seconds=1))
    assert invoke("tier_reviews")["changed"] == 1
    stored = _stored(merchant, member_id)
    assert (stored.tier_id, int(stored.growth), int(stored.tier_base)) == ("silver", 7200, 6000)

    _refund(api, merchant, before_window["order_id"])  # its growth is in the base: the base gives it back
    stored = _stored(merchant, member_id)
    assert (stored.tier_id, int(stored.growth), int(stored.tier_base)) == ("silver", 1200, 0)
    _refund(api, merchant, in_window["order_id"])  # its growth counted: qualifying growth gives it back
    stored = _stored(merchant, member_id)
    assert (stored.tier_id, int(stored.growth), int(stored.tier_base)) == ("silver", 0, 0)  # tier not lowered

    token = api.token(merchant, member_id)
    status, body = api.post("/v1/me/sign-in", token=token)
    assert status == 200, body
    _sale(api, merchant, member_id, 1000)
    status, me = api.get("/v1/me", token=token)
    assert status == 200 and me["tier_growth"] == int(_stored(merchant, member_id).growth) > 0
    checked_balances(merchant.merchant_id, member_id)


def test_review_of_a_window_holding_only_a_clawback_places_the_member_and_reviews_the_rest(
    api: Any, merchant: Any, clock: Any
) -> None:
    configuration.update_settings(merchant.merchant_id, tier_review=True)
    other = api.member_with_card(merchant)["member"]["member_id"]
    clock.advance(hours=1)
    _sale(api, merchant, other, 120000)  # silver, review due an hour before the first's
    clock.advance(hours=1)
    sold_at = clock.now
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    sale = _sale(api, merchant, member_id, 600000)  # gold
    clock.advance(days=1)
    _refund(api, merchant, sale["order_id"])  # growth back to 0, the tier stays gold
    assert (_stored(merchant, member_id).tier_id, int(_stored(merchant, member_id).growth)) == ("gold", 0)

    clock.set(timeline.years_later(sold_at) + timedelta(hours=1))  # the window holds the clawback, not the sale
    report = invoke("tier_reviews")
    assert report["failed"] == [] and report["done"] == 2
    for who, base in ((member_id, 0), (other, 1200)):  # no growth in either window: the entry tier
        stored = _stored(merchant, who)
        assert (stored.tier_id, int(stored.growth) - int(stored.tier_base), int(stored.tier_base)) == (
            "normal",
            0,
            base,
        )
    assert invoke("tier_reviews")["done"] == 0  # back on the entry tier: off the list


def test_points_given_back_by_a_refund_expire(api: Any, merchant: Any, clock: Any) -> None:
    configuration.update_settings(merchant.merchant_id, points_expiry="ROLLING", points_expiry_days=30)
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    assert api.post("/v1/me/sign-in", token=api.token(merchant, member_id))[0] == 200  # 10 points, expire day 30
    sale = _sale(api, merchant, member_id, 10, points=10)  # all of them spent
    clock.advance(days=31)
    assert invoke("points_expiry")["points_expired"] == 0  # nothing left to expire: off the list
    receipt = _refund(api, merchant, sale["order_id"])
    assert receipt["points_clawed_back"] == 0 and checked_balances(merchant.merchant_id, member_id)["points"] == 10
    clock.advance(days=31)
    assert invoke("points_expiry")["points_expired"] == 10
    assert checked_balances(merchant.merchant_id, member_id)["points"] == 0
