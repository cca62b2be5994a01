"""Issue 13: member days — a time-boxed points multiplier by weekday or date, per tier, in the merchant's time
zone, applied in checkout's pricing, shown on the receipt, and taken back exactly by a refund."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest

from mini_program_api.merchants import configuration
from mini_program_api.platform import clock as product_clock
from tests import timeline
from tests.integration.test_lifecycle import invoke
from tests.ledger_checks import checked_balances


def _double_mondays(monday: date) -> dict[str, Any]:
    """Mondays' points doubled, from the week before `monday` to about two months after it."""
    return {
        "day_id": "mon",
        "name": "周一会员日",
        "multiplier": 200,
        "weekdays": [1],
        "starts_on": (monday - timedelta(days=7)).isoformat(),
        "ends_on": (monday + timedelta(days=60)).isoformat(),
    }


@pytest.fixture
def monday(clock: Any) -> date:
    """The clock at 10:00 on the next Monday in Shanghai."""
    day = timeline.next_weekday(clock.today, 0)
    clock.set(timeline.local(day, 10))
    return day


@pytest.fixture
def double_mondays(monday: date) -> dict[str, Any]:
    return _double_mondays(monday)


def _put(api: Any, merchant: Any, days: list[dict[str, Any]], token: str | None = None) -> tuple[int, Any]:
    return api.put("/v1/admin/member-days", {"member_days": days}, token=token or api.admin_token(merchant))


def _sale(api: Any, merchant: Any, staff: str, member_id: str, amount: int) -> dict[str, Any]:
    code = api.member_code(api.token(merchant, member_id))
    status, receipt = api.post(
        "/v1/staff/checkout",
        {"member_code": code, "amount": amount},
        token=staff,
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 200, receipt
    return receipt


def test_member_days_are_set_read_back_and_audited(api: Any, merchant: Any, double_mondays: Any) -> None:
    silver = {
        "day_id": "d1212",
        "name": "双十二",
        "multiplier": 300,
        "dates": [timeline.months_later(timeline.local_day(product_clock.now()), 1).replace(day=12).isoformat()],
        "tier_ids": ["silver"],
    }
    status, body = _put(api, merchant, [double_mondays, silver])
    assert status == 200, body
    status, read = api.get("/v1/admin/member-days", token=api.admin_token(merchant))
    expected = [
        {**double_mondays, "dates": [], "tier_ids": []},
        {**silver, "weekdays": [], "starts_on": None, "ends_on": None},
    ]
    assert status == 200 and read == body == {"member_days": expected}
    day = product_clock.local_date(merchant.timezone).isoformat()
    records = [
        r
        for r in api.get(f"/v1/admin/audit?day={day}", token=api.admin_token(merchant))[1]["records"]
        if r["action"] == "MEMBER_DAYS_SET"
    ]
    assert len(records) == 1 and "d1212" in records[0]["detail"]["new"] and records[0]["detail"]["old"] == "[]"
    # What is read back can be sent again as it is; the same list again changes and records nothing.
    assert _put(api, merchant, read["member_days"]) == (200, read)
    assert (
        len(
            [
                r
                for r in api.get(f"/v1/admin/audit?day={day}", token=api.admin_token(merchant))[1]["records"]
                if r["action"] == "MEMBER_DAYS_SET"
            ]
        )
        == 1
    )


BAD_DAYS = [
    {"multiplier": 100},
    {"multiplier": 1001},
    {"weekdays": [], "dates": []},
    {"weekdays": [8]},
    {"weekdays": [1, 1]},
    {"tier_ids": ["platinum"]},
    {"starts_on": "2026-12-31", "ends_on": "2026-12-01"},
    {"dates": ["2026-02-30"]},
    {"multiplier": "200"},
    {"surprise": 1},
]


def test_bad_member_days_change_nothing(api: Any, merchant: Any, double_mondays: Any) -> None:
    assert _put(api, merchant, [double_mondays])[0] == 200
    for bad in BAD_DAYS:
        status, body = _put(api, merchant, [{**double_mondays, "day_id": "x", **bad}])
        assert status == 400 and body["error"]["code"] == "VALIDATION_ERROR", (bad, body)
    assert [
        d["day_id"] for d in api.get("/v1/admin/member-days", token=api.admin_token(merchant))[1]["member_days"]
    ] == ["mon"]


def test_member_days_are_for_admins_and_an_empty_put_is_refused(
    api: Any, merchant: Any, make_merchant: Any, double_mondays: Any
) -> None:
    member = api.member_with_card(merchant)
    for token in (member["token"], api.staff_token(merchant)):
        assert _put(api, merchant, [double_mondays], token=token)[0] == 403
        assert api.get("/v1/admin/member-days", token=token)[0] == 403
    assert api.put("/v1/admin/member-days", {}, token=api.admin_token(merchant))[0] == 400
    assert _put(api, merchant, [double_mondays, double_mondays])[0] == 400  # ids are unique
    # Another merchant's admin writes only their own merchant's days.
    other = make_merchant()
    assert _put(api, other, [double_mondays])[0] == 200
    assert api.get("/v1/admin/member-days", token=api.admin_token(merchant))[1] == {"member_days": []}
    # [] ends them all.
    assert _put(api, other, []) == (200, {"member_days": []})


def test_member_day_points_follow_local_weekday_and_tier_and_show_on_the_receipt(
    api: Any, merchant: Any, clock: Any, monday: date, double_mondays: Any
) -> None:
    gold_only = {"day_id": "gold", "name": "金卡日", "multiplier": 500, "weekdays": [2], "tier_ids": ["gold"]}
    assert _put(api, merchant, [double_mondays, gold_only])[0] == 200
    staff = api.staff_token(merchant)
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    on_monday = _sale(api, merchant, staff, member_id, 10000)  # 100 yuan cash, Monday in Shanghai
    assert (on_monday["points_earned"], on_monday["member_day_id"], on_monday["member_day_multiplier"]) == (
        200,
        "mon",
        200,
    )
    clock.set(timeline.local(monday + timedelta(days=1), 1))  # Monday in UTC, Tuesday for the merchant
    # (and the gold day is not theirs)
    staff = api.staff_token(merchant)
    tuesday = _sale(api, merchant, staff, member_id, 10000)
    assert (tuesday["points_earned"], tuesday["member_day_id"], tuesday["member_day_multiplier"]) == (100, None, None)
    status, order = api.get(f"/v1/staff/orders/{on_monday['order_id']}", token=staff)
    assert status == 200 and order["member_day_id"] == "mon" and order["points_earned"] == 200
    assert checked_balances(merchant.merchant_id, member_id)["points"] == 300
    after_the_end = timeline.next_weekday(date.fromisoformat(double_mondays["ends_on"]), 0)
    clock.set(timeline.local(after_the_end, 10))
    staff = api.staff_token(merchant)
    assert _sale(api, merchant, staff, member_id, 10000)["points_earned"] == 100


def test_refund_takes_back_exactly_the_member_day_points_after_settings_and_tier_changed(
    api: Any, merchant: Any, clock: Any, double_mondays: Any
) -> None:
    configuration.update_settings(merchant.merchant_id, tier_review=True)
    assert _put(api, merchant, [double_mondays])[0] == 200
    staff = api.staff_token(merchant)
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    big = _sale(api, merchant, staff, member_id, 150000)  # 1500 yuan: silver, 3000 points on the member day
    assert (big["points_earned"], big["tier_after"]) == (3000, "silver")
    # The settings change, then a year on the review moves the member down to the entry tier.
    assert _put(api, merchant, [{**double_mondays, "multiplier": 400, "ends_on": None}])[0] == 200
    configuration.update_settings(merchant.merchant_id, earn_points_per_yuan=5)
    clock.set(timeline.years_later(clock.now) + timedelta(days=1, seconds=1))
    assert invoke("tier_reviews")["changed"] == 1
    status, refund = api.post(f"/v1/staff/orders/{big['order_id']}/refund", token=api.admin_token(merchant))
    assert status == 200, refund
    assert refund["points_clawed_back"] == 3000 and refund["member_day_id"] == "mon"
    assert checked_balances(merchant.merchant_id, member_id)["points"] == 0
