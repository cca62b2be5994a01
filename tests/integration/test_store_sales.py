"""The till's recent orders (GET /v1/staff/orders): this store's sales of a merchant-local day, newest first,
paged by the API's cursor, refunds shown; never another store's or another merchant's."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from mini_program_api.money import ledger
from mini_program_api.money.ledger import Account, Operation
from tests import timeline


def _member(api: Any, merchant: Any) -> dict[str, Any]:
    member = api.member_with_card(merchant)
    op = Operation(f"seed-{uuid.uuid4().hex[:8]}", "TEST_CREDIT", ledger.postings({Account.PRINCIPAL: 10000}))
    ledger.post(merchant.merchant_id, member["member"]["member_id"], op)
    return member


def _sell(api: Any, staff: str, member: dict[str, Any], amount: int) -> dict[str, Any]:
    status, body = api.post(
        "/v1/staff/checkout",
        {"member_code": api.member_code(member["token"]), "amount": amount},
        token=staff,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert status == 200, body
    return body


def _orders(api: Any, staff: str, **query: Any) -> tuple[int, Any]:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return api.get(f"/v1/staff/orders{'?' + qs if qs else ''}", token=staff)


def test_a_store_lists_its_own_sales_newest_first_page_by_page(api: Any, make_merchant: Any, clock: Any) -> None:
    shop, elsewhere = make_merchant(), make_merchant()
    first, second, other_store = api.staff_token(shop, "s1"), api.staff_token(shop, "s1"), api.staff_token(shop, "s2")
    member = _member(api, shop)
    sold = []
    for i, staff in enumerate((first, second, first)):
        sold.append(_sell(api, staff, member, 1000 + i))
        clock.advance(seconds=1)
    _sell(api, other_store, member, 999)  # another store's sale is not this till's
    other_merchant = api.staff_token(elsewhere, "s1")  # the same store id at another merchant
    _sell(api, other_merchant, _member(api, elsewhere), 777)
    status, refunded = api.post(f"/v1/staff/orders/{sold[1]['order_id']}/refund", token=second)
    assert status == 200, refunded

    status, page = _orders(api, first, limit=2)
    assert status == 200, page
    assert [o["order_id"] for o in page["orders"]] == [sold[2]["order_id"], sold[1]["order_id"]]
    assert page["orders"][1]["status"] == "REFUNDED" and page["orders"][1]["staff_id"] != page["orders"][0]["staff_id"]
    assert page["cursor"]
    status, rest = _orders(api, first, limit=2, cursor=page["cursor"])
    assert status == 200 and [o["order_id"] for o in rest["orders"]] == [sold[0]["order_id"]], rest
    assert rest["cursor"] is None
    assert [o["amount"] for o in _orders(api, other_store)[1]["orders"]] == [999]
    assert [o["amount"] for o in _orders(api, other_merchant)[1]["orders"]] == [777]

    assert _orders(api, first, day=clock.today.isoformat())[1]["orders"] == page["orders"] + rest["orders"]
    assert _orders(api, first, day=(clock.today - timedelta(days=1)).isoformat())[1] == {"orders": [], "cursor": None}


def test_sales_are_listed_under_the_merchants_local_day(api: Any, merchant: Any, clock: Any) -> None:
    tomorrow = clock.today + timedelta(days=1)
    clock.set(timeline.local(tomorrow, 0, 30))  # 00:30 in Shanghai: still the day before in UTC
    staff, member = api.staff_token(merchant, "s1"), _member(api, merchant)
    sale = _sell(api, staff, member, 500)
    assert [o["order_id"] for o in _orders(api, staff)[1]["orders"]] == [sale["order_id"]]
    assert [o["order_id"] for o in _orders(api, staff, day=tomorrow.isoformat())[1]["orders"]] == [sale["order_id"]]
    assert _orders(api, staff, day=(tomorrow - timedelta(days=1)).isoformat())[1]["orders"] == []


def test_bad_queries_and_other_roles_are_refused(api: Any, merchant: Any) -> None:
    staff = api.staff_token(merchant, "s1")
    for query in (
        {"day": "2026-02-30"},
        {"day": "20260101"},
        {"limit": 0},
        {"limit": 101},
        {"cursor": "!!"},
        {"other": 1},
    ):
        status, body = _orders(api, staff, **query)
        assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), (query, body)
    status, body = _orders(api, staff, cursor="eyJzayI6MX0")  # well-formed base64, not one of ours
    assert (status, body["error"]["code"]) == (400, "INVALID_CURSOR"), body
    assert _orders(api, api.admin_token(merchant))[0] == 403
    member = api.member_with_card(merchant)
    assert _orders(api, member["token"])[0] == 403


def test_a_busy_stores_day_is_spread_over_shards_and_read_as_one_list(api: Any, make_merchant: Any, clock: Any) -> None:
    """Every checkout of a store wrote one partition per day (bench heat: 66% of a partition's writes at the seeds'
    5000 requests/s with one store): the references are spread by order id, a page merges the shards by time
    (one cursor), and a reference written before the split, in the day's old partition, is still listed."""
    from mini_program_api.db.orders import OrderRef
    from mini_program_api.till import store_sales

    shop = make_merchant()
    staff, member = api.staff_token(shop, "s1"), _member(api, shop)
    sold = []
    for i in range(12):
        sold.append(_sell(api, staff, member, 100 + i))
        clock.advance(seconds=1)
    day = clock.today
    refs = {
        pk: [r.order_id for r in OrderRef.query(pk, consistent_read=True)]
        for pk in store_sales.day_pks(shop.merchant_id, "s1", day)
    }
    legacy, *shards = store_sales.day_pks(shop.merchant_id, "s1", day)
    assert refs[legacy] == [] and sum(1 for pk in shards if refs[pk]) >= 2, refs
    # A sale from before the split: its reference in the day's one partition, as it was written then.
    moved = next(pk for pk in shards if refs[pk])
    before = OrderRef.get(moved, next(r.sk for r in OrderRef.query(moved, consistent_read=True)))
    OrderRef(legacy, before.sk, order_id=before.order_id, created_at=before.created_at).save()
    before.delete()

    listed, cursor = [], None
    for _ in range(10):
        status, page = _orders(api, staff, limit=5, **({"cursor": cursor} if cursor else {}))
        assert status == 200 and len(page["orders"]) <= 5, page
        listed += [o["order_id"] for o in page["orders"]]
        cursor = page["cursor"]
        if cursor is None:
            break
    assert listed == [s["order_id"] for s in reversed(sold)]
