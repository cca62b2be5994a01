"""Issue 13, the counter: after a scan the cashier sees the member (masked), tier, balances and what is
usable at THIS store now; a quote prices a sale exactly as checkout then charges it, writing nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from mini_program_api.money import ledger
from mini_program_api.money.ledger import Account, Operation
from tests import timeline
from tests.ledger_checks import checked_balances

CASH = {"name": "5元", "kind": "CASH", "amount": 500, "total_stock": 50, "per_member_limit": 5, "days_after_claim": 7}


def _key() -> dict[str, str]:
    return {"idempotency-key": uuid.uuid4().hex}


def _error(result: tuple[int, Any]) -> tuple[int, str]:
    return result[0], result[1]["error"]["code"]


def _give(api: Any, merchant: Any, member_id: str, **over: Any) -> str:
    admin = api.admin_token(merchant)
    template = api.ok("POST", "/v1/admin/coupon-templates", {**CASH, **over}, token=admin)
    return api.ok(
        "POST",
        f"/v1/admin/members/{member_id}/coupons",
        {"template_id": template["template_id"], "reason": "test"},
        token=admin,
        headers=_key(),
    )["coupon_id"]


@pytest.fixture
def member(api: Any, merchant: Any) -> dict[str, Any]:
    found = api.member_with_card(merchant, phone="13811112222")
    ledger.post(
        merchant.merchant_id,
        found["member"]["member_id"],
        Operation(
            f"test-{uuid.uuid4().hex[:8]}",
            "TEST_CREDIT",
            ledger.postings({Account.PRINCIPAL: 20000, Account.BONUS: 3000, Account.POINTS: 1000}),
        ),
    )
    return found


def test_the_scanned_member_and_what_is_usable_at_this_store(
    api: Any, merchant: Any, member: dict[str, Any], make_merchant: Any, clock: Any
) -> None:
    member_id = member["member"]["member_id"]
    here, there = api.staff_token(merchant, "s1"), api.staff_token(merchant, "s2")
    anywhere = _give(api, merchant, member_id)
    only_here = _give(api, merchant, member_id, store_ids=["s1"])
    only_there = _give(api, merchant, member_id, store_ids=["s2"])
    # A minute's window half a day from now, on the held clock: "00:00"-"00:01" was now itself when the suite
    # ran across Shanghai's midnight (KABAO_TEST_EPOCH at a month's last minutes).
    away = (clock.now.astimezone(timeline.SHANGHAI) + timedelta(hours=12)).replace(minute=0)
    _give(api, merchant, member_id, daily_window=[f"{away:%H}:00", f"{away:%H}:01"])  # not at this hour
    admin = api.admin_token(merchant)
    plan = api.ok(
        "POST",
        "/v1/admin/punch-card-plans",
        {"name": "洗车", "visits": 5, "valid_days": 30, "store_ids": ["s2"]},
        token=admin,
    )
    card = api.ok(
        "POST", f"/v1/admin/members/{member_id}/punch-cards", {"plan_id": plan["plan_id"]}, token=admin, headers=_key()
    )
    code = api.member_code(member["token"])
    seen = api.ok("GET", f"/v1/staff/member?member_code={code}", token=here)
    assert seen["phone"] == "138****2222" and "13811112222" not in str(seen)
    assert (seen["member_id"], seen["balance"], seen["bonus"], seen["points"]) == (member_id, 23000, 3000, 1000)
    assert seen["tier"]["id"] == "normal" and seen["card_number"] == member["member"]["card"]["number"]
    assert {c["coupon_id"] for c in seen["coupons"]} == {anywhere, only_here} and seen["coupons_more"] is False
    assert seen["punch_cards"] == []
    seen = api.ok("GET", f"/v1/staff/member?member_code={code}", token=there)
    assert {c["coupon_id"] for c in seen["coupons"]} == {anywhere, only_there}
    assert [c["card_id"] for c in seen["punch_cards"]] == [card["card_id"]]

    # Refused: no code, a bad or unknown code, another merchant's staff, a member, an admin, a disabled cashier.
    assert api.get("/v1/staff/member", token=here)[0] == 400
    assert api.get("/v1/staff/member?member_code=12", token=here)[0] == 400
    assert api.get(f"/v1/staff/member?member_code={'9' * 18}", token=here)[1]["error"]["code"] == "NOT_FOUND"
    assert api.get(f"/v1/staff/member?member_code={code}", token=api.staff_token(make_merchant()))[0] == 404
    assert api.get(f"/v1/staff/member?member_code={code}", token=member["token"])[0] == 403
    assert api.get(f"/v1/staff/member?member_code={code}", token=admin)[0] == 403
    cashier = api.ok("GET", "/v1/admin/staff?limit=100", token=admin)["staff"]
    there_name = [a["username"] for a in cashier if a["store_id"] == "s2"][0]
    here_name = [a["username"] for a in cashier if a["store_id"] == "s1"][0]
    api.ok("POST", f"/v1/admin/staff/{there_name}/disable", token=admin)
    api.ok("POST", f"/v1/admin/staff/{here_name}/revoke-sessions", token=admin)
    quote = {"member_code": code, "amount": 100}
    for path, body in ((f"/v1/staff/member?member_code={code}", None), ("/v1/staff/checkout/quote", quote)):
        method = "POST" if body else "GET"
        assert _error(api.call(method, path, body, token=there)) == (403, "ACCOUNT_DISABLED")
        assert _error(api.call(method, path, body, token=here)) == (401, "SESSION_REVOKED")


def test_a_quote_is_what_checkout_charges_and_writes_nothing(api: Any, merchant: Any, member: dict[str, Any]) -> None:
    admin, member_id = api.admin_token(merchant), member["member"]["member_id"]
    api.ok(
        "PUT",
        "/v1/admin/tiers",
        {
            "tiers": [
                {"tier_id": "normal", "name": "普通", "threshold": 0, "discount_rate": 95},
                {"tier_id": "silver", "name": "银卡", "threshold": 100, "discount_rate": 90, "points_multiplier": 150},
            ]
        },
        token=admin,
    )
    staff, elsewhere = api.staff_token(merchant, "s1"), api.staff_token(merchant, "s2")
    coupon = _give(api, merchant, member_id, kind="FULL_REDUCTION", threshold=5000, amount=800, store_ids=["s1"])
    body = {"amount": 12345, "coupon_id": coupon, "points": 300, "stored_value": 4000}
    before = checked_balances(merchant.merchant_id, member_id)
    code = api.member_code(member["token"])
    quote = api.ok("POST", "/v1/staff/checkout/quote", {**body, "member_code": code}, token=staff)
    assert checked_balances(merchant.merchant_id, member_id) == before  # nothing moved
    assert api.ok("GET", "/v1/staff/member?member_code=" + code, token=staff)["coupons"][0]["coupon_id"] == coupon
    assert quote["upgraded"] is True and quote["tier_after"] == "silver" and quote["confirmation_required"] is False
    sale = api.ok("POST", "/v1/staff/checkout", {**body, "member_code": code}, token=staff, headers=_key())
    for field in set(quote) - {"confirmation_required"}:  # every priced field the receipt also shows
        assert quote[field] == sale[field], field

    # What checkout refuses, the quote refuses with the same code.
    code = api.member_code(member["token"])
    refusals = [
        ({"amount": 100000, "points": 5000}, staff, "INSUFFICIENT_POINTS"),
        ({"amount": 1000, "stored_value": 5000}, staff, "PAYMENT_EXCEEDS_DUE"),
        ({"amount": 1000, "coupon_id": coupon}, staff, "COUPON_ALREADY_USED"),
        ({"amount": 1000, "coupon_id": "Cnope"}, staff, "COUPON_NOT_FOUND"),
        ({"amount": 0}, staff, "AMOUNT_OUT_OF_RANGE"),
    ]
    fresh = _give(api, merchant, member_id, kind="FULL_REDUCTION", threshold=5000, amount=800, store_ids=["s1"])
    refusals.append(({"amount": 9000, "coupon_id": fresh}, elsewhere, "COUPON_NOT_APPLICABLE"))
    for extra, token, error in refusals:
        quoted = api.post("/v1/staff/checkout/quote", {"member_code": code, **extra}, token=token)
        charged = api.post("/v1/staff/checkout", {"member_code": code, **extra}, token=token, headers=_key())
        assert quoted[1]["error"]["code"] == charged[1]["error"]["code"] == error, (extra, quoted, charged)
        assert quoted[0] == charged[0]
    assert api.post("/v1/staff/checkout/quote", {"member_code": code, "amount": "100"}, token=staff)[0] == 400
    assert api.post("/v1/staff/checkout/quote", {"member_code": code, "amount": 100}, token=admin)[0] == 403
    assert api.post("/v1/staff/checkout/quote", {"member_code": code, "amount": 100}, token=member["token"])[0] == 403


def test_a_quote_says_when_the_member_must_confirm(api: Any, merchant: Any, member: dict[str, Any]) -> None:
    api.ok("PATCH", "/v1/admin/settings", {"spending_password_required": True}, token=api.admin_token(merchant))
    staff, code = api.staff_token(merchant, "s1"), api.member_code(member["token"])
    body = {"member_code": code, "amount": 3000, "stored_value": 1000}
    assert api.ok("POST", "/v1/staff/checkout/quote", body, token=staff)["confirmation_required"] is True
    assert (
        api.post("/v1/staff/checkout", body, token=staff, headers=_key())[1]["error"]["code"] == "CONFIRMATION_REQUIRED"
    )
    cash = {"member_code": code, "amount": 3000}
    assert api.ok("POST", "/v1/staff/checkout/quote", cash, token=staff)["confirmation_required"] is False


def test_a_templates_used_count_follows_uses_and_refunds(api: Any, merchant: Any, member: dict[str, Any]) -> None:
    admin, member_id = api.admin_token(merchant), member["member"]["member_id"]
    staff = api.staff_token(merchant, "s1")
    template = api.ok(
        "POST", "/v1/admin/coupon-templates", {**CASH, "kind": "FULL_REDUCTION", "threshold": 1000}, token=admin
    )["template_id"]
    given = [
        api.ok(
            "POST",
            f"/v1/admin/members/{member_id}/coupons",
            {"template_id": template, "reason": "t"},
            token=admin,
            headers=_key(),
        )["coupon_id"]
        for _ in range(3)
    ]

    def used() -> tuple[int, int]:
        view = api.ok("GET", f"/v1/admin/coupon-templates/{template}", token=admin)
        listed = [
            t
            for t in api.ok("GET", "/v1/admin/coupon-templates", token=admin)["templates"]
            if t["template_id"] == template
        ]
        assert listed[0]["used"] == view["used"]
        return view["claimed"], view["used"]

    assert used() == (3, 0)
    sales = [
        api.ok(
            "POST",
            "/v1/staff/checkout",
            {"member_code": api.member_code(member["token"]), "amount": 2000, "coupon_id": c},
            token=staff,
            headers=_key(),
        )
        for c in given[:2]
    ]
    assert used() == (3, 2)
    api.ok("POST", f"/v1/staff/orders/{sales[0]['order_id']}/refund", token=staff)  # the coupon comes back
    assert used() == (3, 1)
    api.ok("POST", f"/v1/staff/orders/{sales[0]['order_id']}/refund", token=staff)  # once
    assert used() == (3, 1)
