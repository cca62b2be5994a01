"""Issue 23, items 4, 6 and 8: numbers DynamoDB cannot store, numbers sent as dates, report ranges outside the
contract. Each is a 400 with a clear code that changes nothing, over the API (tests/infra/test_request_schemas.py
walks every request schema for the first two)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests import timeline
from tests.integration.test_admin_ops import CASH, WINDOW

HUGE = [10**40, 10**126, -(10**40)]  # 41 digits; past DynamoDB's largest number; and below its smallest


def _code(result: tuple[int, Any]) -> tuple[int, str]:
    status, body = result
    return status, body["error"]["code"]


def _key() -> dict[str, str]:
    return {"idempotency-key": uuid.uuid4().hex}


# --- item 4: integers past what DynamoDB (38 digits) and the business accept -------------------------


@pytest.mark.parametrize("number", HUGE)
def test_an_rfm_cut_point_too_large_is_a_400_and_changes_nothing(api: Any, merchant: Any, number: int) -> None:
    admin = api.admin_token(merchant)
    thresholds = {"r": [30, 60, 90, 180], "f": [1, 2, 3, 4], "m": [1000, 5000, 10000, 50000]}
    assert api.put("/v1/admin/reports/rfm-thresholds", thresholds, token=admin) == (200, thresholds)
    for measure in "rfm":
        bad = {**thresholds, measure: [*thresholds[measure][:3], number]}
        assert _code(api.put("/v1/admin/reports/rfm-thresholds", bad, token=admin)) == (400, "VALIDATION_ERROR")
    assert api.get("/v1/admin/reports/rfm-thresholds", token=admin) == (200, thresholds)


@pytest.mark.parametrize("number", HUGE)
def test_huge_numbers_in_admin_bodies_are_400s_that_change_nothing(api: Any, merchant: Any, number: int) -> None:
    admin = api.admin_token(merchant)
    tiers = api.get("/v1/admin/tiers", token=admin)[1]
    days = api.get("/v1/admin/member-days", token=admin)[1]
    templates = api.get("/v1/admin/coupon-templates", token=admin)[1]
    tier = {"tier_id": "normal", "name": "普通", "threshold": 0}
    for field in ("discount_rate", "points_multiplier"):
        body = {"tiers": [{**tier, field: number}]}
        assert _code(api.put("/v1/admin/tiers", body, token=admin)) == (400, "VALIDATION_ERROR"), field
    day = {"day_id": "d", "name": "会员日", "multiplier": 200, "weekdays": [number]}
    assert _code(api.put("/v1/admin/member-days", {"member_days": [day]}, token=admin)) == (400, "VALIDATION_ERROR")
    for field in ("total_stock", "per_member_limit", "days_after_claim", "points_price"):
        status, body = api.post("/v1/admin/coupon-templates", {**CASH, field: number}, token=admin, headers=_key())
        assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), field
    for field, value in (("max_discount", number), ("rate", number)):
        body = {**CASH, "kind": "DISCOUNT", "amount": 0, "rate": 90, "max_discount": 500, field: value}
        assert _code(api.post("/v1/admin/coupon-templates", body, token=admin, headers=_key())) == (
            400,
            "VALIDATION_ERROR",
        ), field
    assert api.get("/v1/admin/tiers", token=admin)[1] == tiers
    assert api.get("/v1/admin/member-days", token=admin)[1] == days
    assert api.get("/v1/admin/coupon-templates", token=admin)[1] == templates


@pytest.mark.parametrize("number", HUGE)
def test_huge_numbers_at_the_till_and_in_top_ups_are_400s(api: Any, merchant: Any, number: int) -> None:
    member = api.member_with_card(merchant)
    staff = api.staff_token(merchant)
    code = api.member_code(member["token"])
    for path in ("/v1/staff/checkout", "/v1/staff/checkout/quote"):
        for field in ("amount", "points", "stored_value"):
            body = {"member_code": code, "amount": 1000, field: number}
            status, answer = api.post(path, body, token=staff, headers=_key())
            # Below zero is checkout's own refusal (AMOUNT_OUT_OF_RANGE), above the largest order the schema's.
            assert status == 400 and answer["error"]["code"] in ("VALIDATION_ERROR", "AMOUNT_OUT_OF_RANGE"), (
                path,
                field,
                answer,
            )
            if number > 0:
                assert answer["error"]["code"] == "VALIDATION_ERROR", (path, field)
    assert _code(api.post("/v1/topup/orders", {"amount": number}, token=member["token"], headers=_key())) == (
        400,
        "VALIDATION_ERROR",
    )
    _, me = api.get("/v1/me", token=member["token"])
    assert (me["points"], me["principal"], me["bonus"]) == (0, 0, 0)


# --- item 6: dates and times are ISO-8601 text, never numbers ----------------------------------------


@pytest.mark.parametrize("number", [0, 1900000000, "1900000000", "20301203"])
def test_a_number_is_not_a_member_day(api: Any, merchant: Any, number: Any) -> None:
    admin = api.admin_token(merchant)
    today = timeline.local_day(datetime.now(UTC))
    good = {"day_id": "d", "name": "会员日", "multiplier": 200, "dates": [(today + timedelta(days=9)).isoformat()]}
    status, before = api.put("/v1/admin/member-days", {"member_days": [good]}, token=admin)
    assert status == 200, before
    for bad in ({**good, "dates": [number]}, {**good, "starts_on": number}, {**good, "ends_on": number}):
        assert _code(api.put("/v1/admin/member-days", {"member_days": [bad]}, token=admin)) == (
            400,
            "VALIDATION_ERROR",
        ), bad
    assert api.get("/v1/admin/member-days", token=admin) == (200, before)


@pytest.mark.parametrize("number", [1900000000, 0, "1900000000", "20301203"])
def test_a_number_is_not_a_coupon_validity(api: Any, merchant: Any, number: Any) -> None:
    admin = api.admin_token(merchant)
    status, made = api.post("/v1/admin/coupon-templates", {**CASH, **WINDOW}, token=admin, headers=_key())
    assert status == 201, made
    tid = made["template_id"]
    before = api.get(f"/v1/admin/coupon-templates/{tid}", token=admin)
    assert _code(api.patch(f"/v1/admin/coupon-templates/{tid}", {"valid_until": number}, token=admin)) == (
        400,
        "VALIDATION_ERROR",
    )
    assert api.get(f"/v1/admin/coupon-templates/{tid}", token=admin) == before
    for field in ("valid_from", "valid_until"):
        status, body = api.post(
            "/v1/admin/coupon-templates", {**CASH, **WINDOW, field: number}, token=admin, headers=_key()
        )
        assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), field


# --- item 8: report ranges are YYYY-MM-DD and not in the merchant's future ----------------------------


@pytest.mark.parametrize(
    "text",
    ["20261203", "2026-W01-1", "2026W011", "2026-W011", "2026-338", "2026-12-3", "２０２６-１２-０３", "2026-12-٠٣"],
)
def test_a_report_day_is_yyyy_mm_dd(api: Any, merchant: Any, text: str) -> None:
    admin = api.admin_token(merchant)
    for name in ("from", "to"):
        status, body = api.get(f"/v1/admin/reports/sales?{name}={quote(text)}", token=admin)
        assert (status, body["error"]["code"]) == (400, "INVALID_DATE_RANGE"), (name, text)


def test_to_is_never_after_the_merchants_today(api: Any, merchant: Any, clock: Any) -> None:
    """At 16:30 UTC Shanghai is already on the next day: that day is today, the one after it the future."""
    at = datetime.combine(clock.start.date(), time(16, 30), UTC)
    clock.set(at if at >= clock.start else at + timedelta(days=1))
    utc_today = clock.now.date()
    shanghai_today = clock.today
    assert shanghai_today == utc_today + timedelta(days=1)
    admin = api.admin_token(merchant)
    for path in ("sales", "points", "members", "stored-value", "funnel", "repurchase"):
        status, body = api.get(f"/v1/admin/reports/{path}?to={shanghai_today}&from={utc_today}", token=admin)
        assert status == 200 and body["to"] == shanghai_today.isoformat(), (path, body)
        tomorrow = shanghai_today + timedelta(days=1)
        for query in (f"to={tomorrow}", f"from={tomorrow}&to={tomorrow}"):
            status, body = api.get(f"/v1/admin/reports/{path}?{query}", token=admin)
            assert (status, body["error"]["code"]) == (400, "INVALID_DATE_RANGE"), (path, query)
    status, body = api.get("/v1/admin/reports/sales", token=admin)  # both default to the merchant's today
    assert status == 200 and (body["from"], body["to"]) == (shanghai_today.isoformat(), shanghai_today.isoformat())


# --- item 4: numbers WeChat's callbacks carry in query strings and headers ----------------------------


@pytest.mark.parametrize("timestamp", ["9" * 400, "1" + "0" * 309, "١٧٠٠٠٠٠٠٠٠", " 1700000000", "1_700_000_000"])
def test_a_wallet_push_with_a_timestamp_that_is_no_unix_time_is_refused(
    api: Any, sandbox: Any, stack: Any, merchant: Any, timestamp: str
) -> None:
    from tests.wallet_helpers import setup_wallet

    setup_wallet(api, sandbox, stack, merchant)
    url = f"{stack.api_url}/v1/wechat/card-events/{merchant.merchant_id}"
    answer = requests.get(
        url, params={"signature": "0" * 40, "timestamp": timestamp, "nonce": "n", "echostr": "e"}, timeout=10
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "INVALID_EVENT")


@pytest.mark.parametrize("timestamp", ["9" * 400, "1" + "0" * 309])
def test_a_pay_notify_with_a_timestamp_too_large_is_refused(api_url: str, merchant: Any, timestamp: str) -> None:
    answer = requests.post(
        f"{api_url}/v1/wechatpay/notify/{merchant.merchant_id}",
        data=b"{}",
        timeout=10,
        headers={
            "Content-Type": "application/json",
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": "n",
            "Wechatpay-Signature": "s",
            "Wechatpay-Serial": "x",
        },
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "INVALID_NOTIFY")
