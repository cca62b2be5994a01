"""Request paths that must not grow with history: offers, my coupons, the coupon count, punch cards.

Each test builds a history (ended templates, expired and used coupons, many
cards) and counts what one request reads and writes in DynamoDB Local.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from mini_program_api.coupons import shelf
from mini_program_api.money import ledger
from mini_program_api.money.ledger import Account, Operation
from mini_program_api.platform import clock as product_clock
from tests.db_calls import record

CASH = {"name": "5元", "kind": "CASH", "amount": 500, "total_stock": 100, "per_member_limit": 5, "days_after_claim": 3}


def _template(api: Any, merchant: Any, **over: Any) -> str:
    status, body = api.post("/v1/admin/coupon-templates", {**CASH, **over}, token=api.admin_token(merchant))
    assert status == 201, body
    return body["template_id"]


def _claim(api: Any, token: str, template_id: str) -> str:
    status, body = api.post(
        f"/v1/coupons/offers/{template_id}/claim", token=token, headers={"idempotency-key": uuid.uuid4().hex}
    )
    assert status == 200, body
    return body["coupon_id"]


def test_offers_read_only_running_templates_and_write_once(
    api: Any, merchant: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    now = product_clock.now()
    for _ in range(6):  # a history of ended drops
        _template(
            api,
            merchant,
            days_after_claim=None,
            valid_from=now.isoformat(),
            valid_until=(now + timedelta(days=3)).isoformat(),
        )
    _template(api, merchant, listed=False)  # a gift, never offered
    clock.advance(days=4)
    running = {_template(api, merchant) for _ in range(3)}
    token = api.token(merchant, member_id)
    calls = record(monkeypatch)
    status, body = api.get("/v1/coupons/offers", token=token)
    assert status == 200 and {o["template_id"] for o in body["offers"]} == running
    assert calls.items_read_by_queries <= len(running)
    assert len(calls.writes) <= 1
    day = product_clock.local_date(merchant.timezone).isoformat()
    api.get("/v1/coupons/offers", token=token)
    assert [shelf.exposures(merchant.merchant_id, t, day) for t in running] == [2, 2, 2]


def test_my_coupons_page_and_the_count_reads_only_usable_coupons(
    api: Any, merchant: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = api.member_with_card(merchant)
    token = member["token"]
    old = _template(api, merchant, days_after_claim=3)
    expired = {_claim(api, token, old) for _ in range(4)}
    clock.advance(days=4)
    token = api.token(merchant, member["member"]["member_id"])
    fresh = _template(api, merchant, days_after_claim=30)
    usable = [_claim(api, token, fresh) for _ in range(3)]

    calls = record(monkeypatch)
    status, me = api.get("/v1/me", token=token)
    assert status == 200 and me["coupon_count"] == 3
    assert calls.items_read_by_queries <= 3  # the 4 expired coupons are not read

    seen: list[str] = []
    cursor = None
    while True:
        query = "/v1/me/coupons?status=available&limit=2" + (f"&cursor={cursor}" if cursor else "")
        calls.clear()
        status, page = api.get(query, token=token)
        assert status == 200, page
        assert len(page["coupons"]) <= 2 and calls.items_read_by_queries <= 2
        seen += [c["coupon_id"] for c in page["coupons"]]
        cursor = page["cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(usable)
    status, page = api.get("/v1/me/coupons?status=expired&limit=10", token=token)
    assert status == 200 and {c["coupon_id"] for c in page["coupons"]} == expired and page["cursor"] is None
    status, body = api.get("/v1/me/coupons?status=available&cursor=not-a-cursor", token=token)
    assert (status, body["error"]["code"]) == (400, "INVALID_CURSOR")


def test_a_used_coupon_leaves_the_count_and_is_listed_as_used(api: Any, merchant: Any) -> None:
    member = api.member_with_card(merchant)
    template = _template(api, merchant, kind="FULL_REDUCTION", amount=500, threshold=1000)
    used, kept = _claim(api, member["token"], template), _claim(api, member["token"], template)
    staff = api.staff_token(merchant, "s1")
    status, sale = api.post(
        "/v1/staff/checkout",
        {"member_code": api.member_code(member["token"]), "amount": 2000, "coupon_id": used},
        token=staff,
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 200, sale
    assert api.get("/v1/me", token=member["token"])[1]["coupon_count"] == 1
    assert [c["coupon_id"] for c in api.get("/v1/me/coupons?status=used", token=member["token"])[1]["coupons"]] == [
        used
    ]
    assert [c["coupon_id"] for c in api.get("/v1/me/coupons", token=member["token"])[1]["coupons"]] == [kept]
    assert api.post(f"/v1/staff/orders/{sale['order_id']}/refund", token=staff)[0] == 200  # the coupon comes back
    assert api.get("/v1/me", token=member["token"])[1]["coupon_count"] == 2


def test_my_punch_cards_page(api: Any, merchant: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    member = api.member_with_card(merchant)
    ledger.post(
        merchant.merchant_id,
        member["member"]["member_id"],
        Operation(f"test-{uuid.uuid4().hex[:8]}", "TEST_CREDIT", ledger.postings({Account.PRINCIPAL: 50000})),
    )
    status, plan = api.post(
        "/v1/admin/punch-card-plans",
        {"name": "10杯", "visits": 10, "valid_days": 90, "price": 1000},
        token=api.admin_token(merchant),
    )
    assert status == 201, plan
    bought = set()
    for _ in range(5):
        status, card = api.post(
            f"/v1/punch-cards/plans/{plan['plan_id']}/buy",
            token=member["token"],
            headers={"idempotency-key": uuid.uuid4().hex},
        )
        assert status == 200, card
        bought.add(card["card_id"])
    calls = record(monkeypatch)
    seen, cursor = set(), None
    while True:
        calls.clear()
        status, page = api.get(
            "/v1/me/punch-cards?limit=2" + (f"&cursor={cursor}" if cursor else ""), token=member["token"]
        )
        assert status == 200, page
        assert len(page["punch_cards"]) <= 2 and calls.items_read_by_queries <= 2
        seen |= {c["card_id"] for c in page["punch_cards"]}
        cursor = page["cursor"]
        if cursor is None:
            break
    assert seen == bought
