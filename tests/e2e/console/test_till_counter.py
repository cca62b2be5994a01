"""The till beyond a plain sale: recent orders and their refund (a lost answer retried refunds once), punch-card
visits and gifts handed over (a double press moves once), the camera scan through a faked BarcodeDetector, and the
spending password typed at the till while the sale waits for the phone (right after a wrong one)."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import Page, Route, expect

from mini_program_api.money import ledger
from mini_program_api.money.ledger import Account, Operation

from .conftest import account, assert_accessible, no_horizontal_overflow, screenshot, signed_in

PIN, WRONG_PIN = "482916", "730158"


def _key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def _member(api: Any, merchant: Any, principal: int = 0) -> dict[str, Any]:
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    member = api.member_with_card(merchant, phone)
    member["phone"], member["id"] = phone, member["member"]["member_id"]
    if principal:
        ledger.post(
            merchant.merchant_id,
            member["id"],
            Operation(f"seed:{uuid.uuid4().hex[:8]}", "TEST", ledger.postings({Account.PRINCIPAL: principal})),
        )
    return member


def _balance(api: Any, member: dict[str, Any]) -> int:
    return int(api.ok("GET", "/v1/me", token=member["token"])["balance"])


def _till(page: Page, api: Any, merchant: Any, console_url: str, cashier: str) -> None:
    signed_in(page, api, merchant, cashier)
    page.goto(f"{console_url}/till")
    expect(page.locator("#till-code")).to_be_focused()


def _scan(page: Page, code: str) -> None:
    page.locator("#till-code").fill(code)
    page.keyboard.press("Enter")
    expect(page.locator("[data-test=till-member]")).to_be_visible()


def test_recent_orders_open_one_and_refund_it_once_though_its_answer_was_lost(
    page: Page, console_url: str, api: Any, make_merchant: Any
) -> None:
    merchant = make_merchant()
    cashier = account(api, merchant, "staff", store_id="s1")
    member = _member(api, merchant, principal=10000)
    staff = api.ok(
        "POST",
        "/v1/staff/login",
        {"merchant_id": merchant.merchant_id, "username": cashier, "password": "correct horse battery"},
    )["token"]
    sales = [
        api.ok(
            "POST",
            "/v1/staff/checkout",
            {"member_code": api.member_code(member["token"]), "amount": amount, "stored_value": amount},
            token=staff,
            headers=_key(),
        )
        for amount in (1200, 3400)
    ]

    page.set_viewport_size({"width": 375, "height": 812})
    _till(page, api, merchant, console_url, cashier)
    page.locator("[data-test=till-tab-recent]").click()
    rows = page.locator("[data-test=till-order]")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("¥34.00")  # newest first
    no_horizontal_overflow(page)
    assert_accessible(page)
    screenshot(page, "till-recent-375")

    rows.nth(1).focus()
    page.keyboard.press("Enter")  # keyboard only: the older sale opens as its receipt
    expect(page.locator("[data-test=receipt-order]")).to_have_text(sales[0]["order_id"])
    lost: list[int] = []

    def lose_first_answer(route: Route) -> None:
        if not lost:
            lost.append(route.fetch().status)  # the refund reaches the API; its answer never reaches the till
            route.abort()
        else:
            route.continue_()

    page.route(f"**/v1/staff/orders/{sales[0]['order_id']}/refund", lose_first_answer)
    for attempt in range(2):
        page.locator("[data-test=till-refund]").click()
        page.get_by_role("dialog").get_by_role("button", name="确定").click()
        if attempt == 0:
            expect(page.locator("[data-test=receipt-error]")).to_be_visible()  # where the cashier pressed
    expect(page.locator("[data-test=receipt-refunded]")).to_be_visible()
    assert lost == [200]
    assert _balance(api, member) == 10000 - 3400  # refunded once, though asked twice
    assert_accessible(page)
    screenshot(page, "till-recent-refunded-375")

    page.keyboard.press("Escape")  # back to the list, which shows the refund
    expect(rows.nth(1)).to_contain_text("已退款")
    expect(rows.nth(1)).to_be_focused()
    page.keyboard.press("Escape")  # and back to the sale
    expect(page.locator("#till-code")).to_be_focused()


def _perks_member(api: Any, merchant: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    admin = api.admin_token(merchant)
    member = _member(api, merchant)
    plan = api.ok(
        "POST",
        "/v1/admin/punch-card-plans",
        {"name": "10杯咖啡", "visits": 10, "valid_days": 30},
        token=admin,
        headers=_key(),
    )
    card = api.ok(
        "POST",
        f"/v1/admin/members/{member['id']}/punch-cards",
        {"plan_id": plan["plan_id"]},
        token=admin,
        headers=_key(),
    )
    template = api.ok(
        "POST",
        "/v1/admin/coupon-templates",
        {
            "name": "免费拿铁",
            "kind": "GIFT",
            "gift_name": "拿铁",
            "total_stock": 10,
            "per_member_limit": 1,
            "days_after_claim": 7,
        },
        token=admin,
        headers=_key(),
    )
    gift = api.ok("POST", f"/v1/coupons/offers/{template['template_id']}/claim", token=member["token"], headers=_key())
    return member, card, gift


def test_a_punch_card_visit_and_a_gift_at_the_till_each_once_though_double_pressed(
    page: Page, console_url: str, api: Any, make_merchant: Any
) -> None:
    merchant = make_merchant()
    cashier = account(api, merchant, "staff", store_id="s1")
    member, card, gift = _perks_member(api, merchant)
    uses: list[str] = []
    page.on(
        "request",
        lambda r: (
            uses.append(r.headers.get("idempotency-key", "")) if r.url.endswith("/v1/staff/punch-cards/use") else None
        ),
    )
    _till(page, api, merchant, console_url, cashier)
    _scan(page, api.member_code(member["token"]))
    expect(page.locator("[data-test=till-punch-card]")).to_contain_text("10杯咖啡")
    expect(page.locator("#till-coupon option")).to_have_count(1)  # a gift is handed over, not priced into a sale

    page.locator("[data-test=till-use-visit]").dblclick()
    expect(page.locator("[data-test=punch-left]")).to_contain_text("9")
    page.locator("[data-test=till-redeem-gift]").dblclick()
    expect(page.locator("[data-test=till-gift]")).to_contain_text("礼品已兑换")
    assert_accessible(page)
    screenshot(page, "till-punch-and-gift")

    cards = api.ok("GET", "/v1/me/punch-cards", token=member["token"])["punch_cards"]
    assert [(c["card_id"], c["uses_left"]) for c in cards] == [(card["card_id"], 9)]
    coupons = api.ok("GET", "/v1/me/coupons?status=used", token=member["token"])["coupons"]
    assert [c["coupon_id"] for c in coupons] == [gift["coupon_id"]]
    assert len(set(uses)) == 1, uses  # every press of one visit carried one key

    page.locator("[data-test=till-use-visit]").click()  # a second visit is another operation
    expect(page.locator("[data-test=punch-left]")).to_contain_text("8")
    assert len(set(uses)) == 2


FAKE_CAMERA = """
(() => {
  window.__scanned = null;
  window.__tracks = [];
  class FakeBarcodeDetector {
    constructor(options) { window.__formats = options && options.formats; }
    static async getSupportedFormats() { return ['qr_code', 'code_128', 'ean_13']; }
    async detect(source) {
      if (!(source instanceof HTMLVideoElement) || !source.srcObject) throw new Error('no video');
      return window.__scanned ? [{rawValue: window.__scanned, format: 'qr_code'}] : [];
    }
  }
  window.BarcodeDetector = FakeBarcodeDetector;
  const canvas = document.createElement('canvas');
  canvas.width = 64; canvas.height = 48;
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    window.__asked = constraints;
    canvas.getContext('2d').fillRect(0, 0, 64, 48);
    const stream = canvas.captureStream(5);
    window.__tracks.push(...stream.getTracks());
    return stream;
  };
})();
"""


def test_the_camera_scan_finds_the_member_and_stops_the_camera(
    page: Page, console_url: str, api: Any, make_merchant: Any
) -> None:
    merchant = make_merchant()
    cashier = account(api, merchant, "staff", store_id="s1")
    member = _member(api, merchant, principal=2500)
    page.add_init_script(FAKE_CAMERA)
    _till(page, api, merchant, console_url, cashier)
    assert page.evaluate("window.__asked") is None  # nothing asked for the camera before the button
    page.locator("[data-test=till-camera]").click()
    expect(page.locator("[data-test=till-camera-preview]")).to_be_visible()
    assert page.evaluate("window.__formats") == ["qr_code", "code_128", "ean_13"]
    assert page.evaluate("window.__tracks.map(t => t.readyState)") == ["live"]
    page.evaluate(f"window.__scanned = {api.member_code(member['token'])!r}")
    expect(page.locator("[data-test=till-member]")).to_contain_text("¥25.00")
    expect(page.locator("#till-amount")).to_be_focused()
    assert page.evaluate("window.__tracks.map(t => t.readyState)") == ["ended"]  # the camera is off again
    expect(page.locator("[data-test=till-camera-preview]")).to_have_count(0)

    page.locator("[data-test=till-camera]").click()  # opened again, then Escape: off without a scan
    expect(page.locator("[data-test=till-camera-preview]")).to_be_visible()
    page.evaluate("window.__scanned = null")
    page.keyboard.press("Escape")
    expect(page.locator("[data-test=till-camera-preview]")).to_have_count(0)
    assert page.evaluate("window.__tracks.map(t => t.readyState)") == ["ended", "ended"]
    expect(page.locator("[data-test=till-member]")).to_be_visible()  # Escape closed the camera, nothing more
    assert_accessible(page)
    screenshot(page, "till-camera-scan")


def test_the_spending_password_at_the_till_after_a_wrong_one_sells_once(
    page: Page, console_url: str, api: Any, make_merchant: Any
) -> None:
    merchant = make_merchant()
    admin = api.admin_token(merchant)
    assert api.patch("/v1/admin/settings", {"password_free_max": 10000, "till_password": True}, token=admin)[0] == 200
    member = _member(api, merchant, principal=50000)
    api.ok(
        "POST",
        "/v1/me/spending-password",
        {"phone_code": f"phone:{member['phone']}:p1", "password": PIN},
        token=member["token"],
    )
    cashier = account(api, merchant, "staff", store_id="s1")
    keys: list[str] = []
    page.on(
        "request",
        lambda r: keys.append(r.headers.get("idempotency-key", "")) if r.url.endswith("/v1/staff/checkout") else None,
    )

    page.set_viewport_size({"width": 375, "height": 812})
    _till(page, api, merchant, console_url, cashier)
    _scan(page, api.member_code(member["token"]))
    page.keyboard.type("300")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.type("300")
    expect(page.locator("[data-test=till-cash-due]")).to_have_text("¥0.00")
    page.keyboard.press("Enter")
    expect(page.locator("[data-test=till-waiting]")).to_be_visible()
    pin = page.locator("#till-pin")
    expect(pin).to_have_attribute("type", "password")
    expect(pin).to_have_attribute("inputmode", "numeric")
    pin.focus()
    page.keyboard.type(WRONG_PIN)
    page.keyboard.press("Enter")
    expect(page.locator("[data-test=till-pin-error]")).to_be_visible()  # wrong: shown at the PIN, still waiting
    expect(page.locator("[data-test=till-waiting]")).to_be_visible()
    expect(pin).to_be_focused()
    no_horizontal_overflow(page)
    assert_accessible(page)
    screenshot(page, "till-pin-wrong-375")
    page.keyboard.type(PIN)
    page.keyboard.press("Enter")
    expect(page.locator("[data-test=till-receipt]")).to_be_visible()
    expect(page.locator("[data-test=till-pin]")).to_have_count(0)
    screenshot(page, "till-pin-receipt-375")

    assert len(set(keys)) == 1, keys  # the poll, the wrong PIN and the right one: one sale's key
    assert _balance(api, member) == 50000 - 30000
    assert api.ok("GET", "/v1/me/pending-payments", token=member["token"])["payments"] == []
    assert (
        api.ok("GET", f"/v1/admin/members/{member['id']}/orders", token=admin)["orders"][0]["order_id"]
        == page.locator("[data-test=receipt-order]").inner_text()
    )


def test_no_pin_field_where_the_merchant_takes_the_password_on_the_phone_only_and_escape_withdraws_the_wait(
    page: Page, console_url: str, api: Any, make_merchant: Any
) -> None:
    merchant = make_merchant()
    admin = api.admin_token(merchant)
    assert api.patch("/v1/admin/settings", {"password_free_max": 10000, "till_password": False}, token=admin)[0] == 200
    member = _member(api, merchant, principal=50000)
    api.ok(
        "POST",
        "/v1/me/spending-password",
        {"phone_code": f"phone:{member['phone']}:p1", "password": PIN},
        token=member["token"],
    )
    cashier = account(api, merchant, "staff", store_id="s1")
    _till(page, api, merchant, console_url, cashier)
    _scan(page, api.member_code(member["token"]))
    page.locator("#till-amount").fill("300")
    page.locator("#till-stored").fill("300")
    expect(page.locator("[data-test=till-cash-due]")).to_have_text("¥0.00")
    page.keyboard.press("Enter")
    expect(page.locator("[data-test=till-waiting]")).to_be_visible()
    expect(page.locator("#till-pin")).to_have_count(0)
    pending = api.ok("GET", "/v1/me/pending-payments", token=member["token"])["payments"]
    assert len(pending) == 1, pending
    page.keyboard.press("Escape")  # the cashier stops waiting (the member pays cash); the sale stays on screen
    expect(page.locator("[data-test=till-waiting]")).to_have_count(0)
    expect(page.locator("#till-amount")).to_be_focused()
    # withdrawn from the member's phone: a late confirmation cannot take the stored value as well
    assert api.ok("GET", "/v1/me/pending-payments", token=member["token"])["payments"] == []
    status, body = api.post(
        f"/v1/me/pending-payments/{pending[0]['confirmation_id']}/confirm", {"password": PIN}, token=member["token"]
    )
    assert (status, body["error"]["code"]) == (409, "CONFIRMATION_WITHDRAWN")
    assert _balance(api, member) == 50000
    page.keyboard.press("Enter")  # asked again: a new sale under a new key, waiting again
    expect(page.locator("[data-test=till-waiting]")).to_be_visible()
    assert len(api.ok("GET", "/v1/me/pending-payments", token=member["token"])["payments"]) == 1
    screenshot(page, "till-waiting-phone-only")
