"""The till: scan → member → amount, coupon, points and stored value with the quote as the cashier types →
checkout → the member confirms on their phone while the till polls with the same key → the receipt. Keyboard
only, and at a phone's 375 px without horizontal scrolling."""

from __future__ import annotations

import time
import uuid
from typing import Any

from playwright.sync_api import Page, Request, expect

from mini_program_api.money import ledger
from mini_program_api.money.ledger import Account, Operation

from .conftest import TIMINGS, account, assert_accessible, no_horizontal_overflow, screenshot, signed_in

PIN = "482916"


def test_scan_quote_checkout_confirmed_on_the_phone_gives_the_receipt_once(
    page: Page, console_url: str, api: Any, make_merchant: Any
) -> None:
    merchant = make_merchant()
    admin = api.admin_token(merchant)
    assert api.patch("/v1/admin/settings", {"password_free_max": 10000, "till_password": True}, token=admin)[0] == 200
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    member = api.member_with_card(merchant, phone)
    member_id, token = member["member"]["member_id"], member["token"]
    ledger.post(
        merchant.merchant_id,
        member_id,
        Operation(f"seed:{uuid.uuid4().hex[:8]}", "TEST", ledger.postings({Account.PRINCIPAL: 50000})),
    )
    status, body = api.post(
        "/v1/me/spending-password", {"phone_code": f"phone:{phone}:p1", "password": PIN}, token=token
    )
    assert status == 200, body
    api.ok(
        "POST",
        f"/v1/admin/members/{member_id}/adjustments",
        {"account": "points", "amount": 1000, "reason": "seed"},
        token=admin,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    template = api.ok(
        "POST",
        "/v1/admin/coupon-templates",
        {
            "name": "满50减10",
            "kind": "FULL_REDUCTION",
            "threshold": 5000,
            "amount": 1000,
            "total_stock": 10,
            "per_member_limit": 1,
            "days_after_claim": 30,
        },
        token=admin,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    coupon = api.ok(
        "POST",
        f"/v1/coupons/offers/{template['template_id']}/claim",
        token=token,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    cashier = account(api, merchant, "staff", store_id="s1")

    page.set_viewport_size({"width": 375, "height": 812})
    signed_in(page, api, merchant, cashier)
    checkouts: list[Request] = []
    page.on("request", lambda r: checkouts.append(r) if r.url.endswith("/v1/staff/checkout") else None)
    page.goto(f"{console_url}/")
    expect(page).to_have_url(f"{console_url}/till")
    expect(page.locator("#till-code")).to_be_focused()  # ready for the scanner
    assert_accessible(page)
    page.keyboard.type(api.member_code(token))  # a USB scanner types the code, then Enter
    page.keyboard.press("Enter")
    expect(page.locator("[data-test=till-member]")).to_contain_text("¥500.00")
    expect(page.locator("#till-amount")).to_be_focused()
    page.keyboard.type("80")
    expect(page.locator("[data-test=till-cash-due]")).to_have_text("¥80.00")  # the quote follows the typing
    page.keyboard.type(".50")
    expect(page.locator("[data-test=till-cash-due]")).to_have_text("¥80.50")
    page.keyboard.press("Tab")
    page.locator("#till-coupon").select_option(coupon["coupon_id"])
    page.keyboard.press("Tab")
    page.keyboard.type("500")
    page.keyboard.press("Tab")
    page.keyboard.type("60")
    # 80.50 - 10 (coupon) - 500 points - 60 stored value
    quote = api.ok(
        "POST",
        "/v1/staff/checkout/quote",
        {
            "member_code": api.member_code(token),
            "amount": 8050,
            "coupon_id": coupon["coupon_id"],
            "points": 500,
            "stored_value": 6000,
        },
        token=_cashier_token(api, merchant, cashier),
    )
    expect(page.locator("[data-test=till-cash-due]")).to_have_text(_yuan(quote["cash_due"]))
    assert quote["confirmation_required"] is True  # 60 yuan is above the member's password-free limit
    no_horizontal_overflow(page)
    assert_accessible(page)
    screenshot(page, "till-quote-375")

    page.keyboard.press("Enter")  # checkout from the keyboard
    expect(page.locator("[data-test=till-waiting]")).to_be_visible()
    pending = api.ok("GET", "/v1/me/pending-payments", token=token)["payments"]
    assert len(pending) == 1, pending
    receipt = api.ok(
        "POST", f"/v1/me/pending-payments/{pending[0]['confirmation_id']}/confirm", {"password": PIN}, token=token
    )
    expect(page.locator("[data-test=till-receipt]")).to_be_visible(timeout=10_000)
    expect(page.locator("[data-test=receipt-order]")).to_have_text(receipt["order_id"])
    expect(page.locator("[data-test=receipt-cash]")).to_have_text(_yuan(receipt["cash_due"]))
    no_horizontal_overflow(page)
    screenshot(page, "till-receipt-375")

    keys = {r.headers["idempotency-key"] for r in checkouts}
    assert len(checkouts) >= 2 and len(keys) == 1, (len(checkouts), keys)  # the poll reused the sale's key
    me = api.ok("GET", "/v1/me", token=token)
    assert me["balance"] == 50000 - 6000 and me["points"] == 1000 - 500 + receipt["points_earned"]
    orders = api.ok("GET", f"/v1/admin/members/{member_id}/orders", token=admin)["orders"]
    assert [o["order_id"] for o in orders] == [receipt["order_id"]]

    # The refund, from the receipt: everything back to the member, the cash to hand back shown.
    page.locator("[data-test=till-refund]").focus()
    page.keyboard.press("Enter")
    page.get_by_role("dialog").get_by_role("button", name="确定").click()
    expect(page.locator("[data-test=receipt-refunded]")).to_be_visible()
    expect(page.locator("[data-test=receipt-cash-refund]")).to_have_text(_yuan(receipt["cash_due"]))
    me = api.ok("GET", "/v1/me", token=token)
    assert me["balance"] == 50000 and me["points"] == 1000
    screenshot(page, "till-refunded-375")

    # The next customer, a plain sale: the click-to-receipt time is measured.
    page.locator("[data-test=till-next]").click()
    expect(page.locator("#till-code")).to_be_focused()
    page.keyboard.type(api.member_code(token))
    page.keyboard.press("Enter")
    page.locator("#till-amount").fill("12")
    expect(page.locator("[data-test=till-cash-due]")).to_have_text("¥12.00")
    started = time.perf_counter()
    page.locator("[data-test=till-checkout]").click()
    expect(page.locator("[data-test=till-receipt]")).to_be_visible()
    TIMINGS["till checkout, click to receipt"] = time.perf_counter() - started


def _cashier_token(api: Any, merchant: Any, username: str) -> str:
    from .conftest import PASSWORD

    return api.ok(
        "POST", "/v1/staff/login", {"merchant_id": merchant.merchant_id, "username": username, "password": PASSWORD}
    )["token"]


def _yuan(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"
