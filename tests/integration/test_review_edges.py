"""Adversarial review: edges where defects were found before (see the review's report)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from typing import Any

from tests import timeline
from tests.integration.test_bounded_paths import CASH, _claim, _template


def _cursor(data: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_a_coupon_cursor_outside_its_list_is_400_not_500(api: Any, merchant: Any, clock: Any) -> None:
    """A cursor from the available list used on the expired one, a forged one inside the prefix, and
    a real one whose coupon expired between two pages: DynamoDB refuses each starting key (was a 500)."""
    member = api.member_with_card(merchant)
    token = member["token"]
    soon, later = _template(api, merchant, days_after_claim=3), _template(api, merchant, days_after_claim=30)
    _claim(api, token, soon)
    for _ in range(2):
        _claim(api, token, later)
    status, page = api.get("/v1/me/coupons?status=available&limit=1", token=token)
    assert status == 200 and page["cursor"], page
    status, body = api.get(f"/v1/me/coupons?status=expired&limit=1&cursor={page['cursor']}", token=token)
    assert (status, body["error"]["code"]) == (400, "INVALID_CURSOR"), body
    forged = _cursor({"sk": "COUPON#x", "lsi1": "COUPON#AVAILABLE#0000"})
    status, body = api.get(f"/v1/me/coupons?status=available&limit=1&cursor={forged}", token=token)
    assert (status, body["error"]["code"]) == (400, "INVALID_CURSOR"), body
    clock.advance(days=4)  # the first page's coupon has expired before the member asks for the next page
    token = api.token(merchant, member["member"]["member_id"])
    status, body = api.get(f"/v1/me/coupons?status=available&limit=1&cursor={page['cursor']}", token=token)
    assert status < 500, body


def test_an_overlong_id_in_the_path_is_404_not_500(api: Any, merchant: Any) -> None:
    """DynamoDB refuses a key over 1024/2048 bytes with a ValidationException: every route that takes
    an id from the path answered 500 for a long one."""
    long = "x" * 3000
    member, staff, admin = api.member_with_card(merchant)["token"], api.staff_token(merchant), api.admin_token(merchant)
    calls = [
        ("GET", f"/v1/topup/orders/{long}", member),
        ("POST", f"/v1/coupons/offers/{long}/claim", member),
        ("POST", f"/v1/points/rewards/{long}/redeem", member),
        ("POST", f"/v1/punch-cards/plans/{long}/buy", member),
        ("GET", f"/v1/staff/orders/{long}", staff),
        ("POST", f"/v1/staff/orders/{long}/refund", staff),
        ("POST", f"/v1/admin/topup/orders/{long}/refund", admin),
    ]
    for method, path, token in calls:
        status, body = api.call(method, path, token=token, headers={"idempotency-key": uuid.uuid4().hex})
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND"), (path[:40], status, body)
    status, body = api.post(
        f"/v1/admin/members/{long}/punch-cards",
        {"plan_id": "PP1"},
        token=admin,
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 404, body
    status, body = api.post(f"/v1/wechatpay/notify/{long}", {})
    assert status == 404, body


def test_a_template_window_at_the_ends_of_the_calendar_is_400_not_500(api: Any, merchant: Any) -> None:
    """A time that is valid in its own offset but outside datetime's range in UTC overflowed when stored."""
    fixed = {**CASH, "days_after_claim": None}
    for window in (
        {"valid_from": timeline.iso(timeline.today()), "valid_until": "9999-12-31T23:59:59-10:00"},
        {
            "valid_from": "0001-01-01T00:00:00+08:00",
            "valid_until": timeline.iso(timeline.today() + timedelta(days=365)),
        },
    ):
        status, body = api.post("/v1/admin/coupon-templates", {**fixed, **window}, token=api.admin_token(merchant))
        assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), body


def test_a_number_dynamodb_cannot_store_is_400_not_500(api: Any, merchant: Any) -> None:
    """Over 38 significant digits DynamoDB refuses the write (ValidationException): was a 500."""
    big = 10**40 + 1
    admin = api.admin_token(merchant)
    for extra in (
        {"amount": big},
        {"kind": "FULL_REDUCTION", "threshold": big, "amount": 500},
        {"kind": "DISCOUNT", "amount": 0, "rate": 80, "max_discount": big},
    ):
        status, body = api.post("/v1/admin/coupon-templates", {**CASH, **extra}, token=admin)
        assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), body
    status, body = api.put(
        "/v1/admin/tiers",
        {"tiers": [{"tier_id": "a", "name": "A", "threshold": 0}, {"tier_id": "b", "name": "B", "threshold": big}]},
        token=admin,
    )
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), body


def test_concurrent_sale_refunds_and_top_ups_never_lift_principal_over_the_cap(
    api: Any, merchant: Any, sandbox: Any
) -> None:
    """8 threads: 4 refund one sale that freed room under the cap, 4 order top-ups into that room.
    The refund happens once; what it puts back plus what is paid never passes the cap."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.ledger_checks import checked_balances

    cap = 500000
    member = api.member_with_card(merchant)
    member_id = member["member"]["member_id"]
    status, order = api.post(
        "/v1/topup/orders", {"amount": cap}, token=member["token"], headers={"idempotency-key": uuid.uuid4().hex}
    )
    assert status == 200, order
    sandbox.pay.pay(order["order_id"])
    staff = api.staff_token(merchant, "s1")
    status, sale = api.post(
        "/v1/staff/checkout",
        {"member_code": api.member_code(member["token"]), "amount": 100000, "stored_value": 100000},
        token=staff,
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 200 and sale["principal_used"] == 100000, sale

    def act(n: int) -> tuple[str, int, Any]:
        if n % 2:
            return ("refund", *api.post(f"/v1/staff/orders/{sale['order_id']}/refund", token=staff))
        return (
            "topup",
            *api.post(
                "/v1/topup/orders",
                {"amount": 60000},
                token=member["token"],
                headers={"idempotency-key": uuid.uuid4().hex},
            ),
        )

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(act, range(8)))
    assert all(status < 500 for _, status, _ in results), results
    refunds = [body for kind, status, body in results if kind == "refund" and status == 200]
    assert refunds and {r["principal_over_cap"] for r in refunds} == {refunds[0]["principal_over_cap"]}, results
    for kind, status, body in results:
        if kind == "topup" and status == 200:
            sandbox.pay.pay(body["order_id"])
    balances = checked_balances(merchant.merchant_id, member_id)
    assert balances["principal"] <= cap, (balances, results)
    put_back = 100000 - refunds[0]["principal_over_cap"]
    paid = sum(60000 for kind, status, _ in results if kind == "topup" and status == 200)
    assert balances["principal"] == cap - 100000 + put_back + paid


def test_points_a_refund_clawed_back_do_not_shield_older_points_from_expiry(
    api: Any, merchant: Any, clock: Any
) -> None:
    """FIFO expiry counts positive entries after the cutoff as the lots still alive; a refund's clawback
    of a later lot is not subtracted, so that lot keeps shielding as many older points from expiry."""
    from mini_program_api.merchants import configuration
    from tests.integration.test_lifecycle import invoke
    from tests.integration.test_refunds_after_reviews import _refund, _sale
    from tests.ledger_checks import checked_balances

    configuration.update_settings(merchant.merchant_id, points_expiry="ROLLING", points_expiry_days=30)
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    _sale(api, merchant, member_id, 10000)  # 100 points on day 0
    clock.advance(days=10)
    later = _sale(api, merchant, member_id, 5000)  # 50 points on day 10 ...
    clock.advance(days=1)
    assert _refund(api, merchant, later["order_id"])["points_clawed_back"] == 50  # ... taken back on day 11
    assert checked_balances(merchant.merchant_id, member_id)["points"] == 100  # all of them from day 0
    clock.advance(days=20)  # day 31: every point the member holds was earned more than 30 days ago
    invoke("points_expiry")
    assert checked_balances(merchant.merchant_id, member_id)["points"] == 0
