"""RFM: the checkout transaction keeps each member's 12 months (refunds taken back out), the nightly job
scores and files them by segment resumably, and segments are listed page by page over HTTP."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from mini_program_api.db.orders import CheckoutOrder, checkout_pk
from mini_program_api.platform import clock as product_clock
from mini_program_api.reports import rfm


def _sell(api: Any, merchant: Any, member: dict[str, Any], amount: int) -> str:
    staff = api.staff_token(merchant, "s1")
    token = api.token(merchant, member["id"])
    status, body = api.post(
        "/v1/staff/checkout",
        {"member_code": api.member_code(token), "amount": amount},
        token=staff,
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 200, body
    return str(body["order_id"])


def _recount(merchant: Any, order_ids: list[str], today: Any) -> tuple[int, int, int] | None:
    """(recency days, purchases, fen) from the member's orders alone."""
    orders = [CheckoutOrder.get(checkout_pk(merchant.merchant_id, o), "ORDER", consistent_read=True) for o in order_ids]
    oldest = f"{today.year - 1:04d}-{today.month + 1:02d}" if today.month < 12 else f"{today.year:04d}-01"
    kept = [
        o
        for o in orders
        if o.status == "PAID" and product_clock.local_date(merchant.timezone, o.created_at).isoformat()[:7] >= oldest
    ]
    if not kept:
        return None
    last = max(product_clock.local_date(merchant.timezone, o.created_at) for o in orders)
    return (
        (today - last).days,
        len(kept),
        sum(int(o.amount) - int(o.tier_discount) - int(o.coupon_discount) for o in kept),
    )


def _repurchase(merchant: Any, orders: dict[str, list[str]], start: Any, end: Any) -> dict[str, Any]:
    """Repurchase recomputed from the orders: every sale is a visit (refunded or not)."""
    buyers = repeat = 0
    gaps: list[int] = []
    for ids in orders.values():
        days = sorted(
            product_clock.local_date(
                merchant.timezone,
                CheckoutOrder.get(checkout_pk(merchant.merchant_id, o), "ORDER", consistent_read=True).created_at,
            )
            for o in ids
        )
        inside = [d for d in days if start <= d <= end]
        buyers += bool(inside)
        repeat += len(inside) >= 2
        gaps += [(b - a).days for a, b in zip(inside, inside[1:])]
    gaps.sort()
    return {
        "buyers": buyers,
        "repeat_buyers": repeat,
        "repeat_share": round(repeat / buyers, 4) if buyers else None,
        "median_days_between": gaps[(len(gaps) - 1) // 2] if gaps else None,
    }


def test_rfm_kept_by_checkout_scored_resumably_and_listed_by_segment(api: Any, merchant: Any, clock: Any) -> None:
    names = ("a", "a2", "b", "c", "d", "e")
    now = clock.start + timedelta(days=400)  # the scoring's day: 400 days of history behind it
    people = {n: {"id": api.member_with_card(merchant)["member"]["member_id"]} for n in names}
    orders: dict[str, list[str]] = {n: [] for n in names}
    orders["c"].append(_sell(api, merchant, people["c"], 8000))  # 13 months ago: outside the window
    clock.set(now - timedelta(days=330))
    orders["b"] += [_sell(api, merchant, people["b"], 3000), _sell(api, merchant, people["b"], 9000)]
    status, _ = api.post(f"/v1/staff/orders/{orders['b'][1]}/refund", token=api.admin_token(merchant))
    assert status == 200  # its purchase and money leave B's months
    clock.set(now)
    for name in ("a", "a2"):
        orders[name] += [_sell(api, merchant, people[name], 20000) for _ in range(3)]
    orders["d"].append(_sell(api, merchant, people["d"], 500))

    admin = api.admin_token(merchant)
    status, body = api.get("/v1/admin/reports/rfm-segments", token=admin)
    assert status == 404
    status, body = api.call(
        "PUT", "/v1/admin/reports/rfm-thresholds", {"r": [30, 60, 90], "f": [1, 2, 3, 4]}, token=admin
    )
    assert status == 400  # three cut points
    status, body = api.call("PUT", "/v1/admin/reports/rfm-thresholds", {}, token=admin)
    assert (status, body) == (200, {"r": None, "f": None, "m": None})  # the whole config: quintiles for all
    thresholds = {"r": [30, 60, 90, 180], "f": [1, 2, 3, 4], "m": [1000, 5000, 10000, 50000]}
    status, body = api.call("PUT", "/v1/admin/reports/rfm-thresholds", thresholds, token=admin)
    assert status == 200 and body == thresholds
    assert api.get("/v1/admin/reports/rfm-thresholds", token=admin) == (200, thresholds)

    # One member's row is unreadable (a corrupt map): logged and left unscored, the run goes on.
    from mini_program_api.db.models import Member, member_pk

    Member(member_pk(merchant.merchant_id, people["e"]["id"]), "PROFILE").update(
        actions=[Member.rfm.set({"last": "not a time", "n:2026-11": 1})]
    )
    assert rfm.run(merchant.merchant_id, deadline=0.0).phase == "HISTOGRAM"  # out of time: resumes next run
    job = rfm.run(merchant.merchant_id, page=1)
    assert job.phase == "DONE"

    today = product_clock.local_date(merchant.timezone)
    from mini_program_api.members import members

    for name in names[:-1]:  # (not "e", planted above)
        row = members.get(merchant.merchant_id, people[name]["id"])
        kept = rfm.values(row.rfm.as_dict() if row.rfm is not None else None, today, merchant.timezone)
        assert kept == _recount(merchant, orders[name], today), name
    expected = {"a": "重要价值", "a2": "重要价值", "b": "一般挽留", "d": "一般发展"}  # c: too old, e: never bought
    status, body = api.get("/v1/admin/reports/rfm-segments", token=admin)
    assert status == 200, body
    assert {k: v for k, v in body["segments"].items() if v} == {"重要价值": 2, "一般挽留": 1, "一般发展": 1}
    assert body["thresholds"] == thresholds

    seen, cursor = [], None
    while True:
        path = f"/v1/admin/reports/rfm-members?segment={quote('重要价值')}&limit=1" + (
            f"&cursor={cursor}" if cursor else ""
        )
        status, page = api.get(path, token=admin)
        assert status == 200, page
        seen += [(m["member_id"], m["r"], m["f"], m["m"]) for m in page["members"]]
        cursor = page["cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted((people[n]["id"], 5, 4, 5) for n in ("a", "a2"))
    for name, segment in expected.items():
        ids = [s.member_id for s in rfm.segment_members(merchant.merchant_id, segment, None, 100).items]
        assert people[name]["id"] in ids
    for start in (today - timedelta(days=365), today - timedelta(days=330), today):
        status, body = api.get(f"/v1/admin/reports/repurchase?from={start}&to={today}", token=admin)
        assert status == 200, body
        assert body["rows"] == [_repurchase(merchant, orders, start, today)], start
    status, body = api.get(f"/v1/admin/reports/rfm-members?segment={quote('高价值')}", token=admin)
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")
