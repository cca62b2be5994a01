"""Sign-in: wrong password, then right; a locked account; an expired and a revoked session back to sign-in."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Page, expect

from .conftest import PASSWORD, account, assert_accessible, screenshot, signed_in


def _fill(page: Page, merchant: Any, username: str, password: str) -> None:
    page.get_by_label("商户号").fill(merchant.merchant_id)
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录").click()


def test_wrong_password_is_said_then_the_right_one_opens_the_dashboard(
    page: Page, console_url: str, api: Any, merchant: Any
) -> None:
    admin = account(api, merchant, "admin")
    page.goto(f"{console_url}/dashboard")
    expect(page).to_have_url(f"{console_url}/login?redirect=/dashboard")
    assert_accessible(page)
    _fill(page, merchant, admin, "not the password")
    error = page.locator("[data-test=login-error]")
    expect(error).to_have_attribute("data-code", "INVALID_CREDENTIALS")
    expect(page.get_by_label("商户号")).to_have_value(merchant.merchant_id)  # the form keeps what was typed
    screenshot(page, "sign-in-wrong-password")
    _fill(page, merchant, admin, PASSWORD)
    expect(page).to_have_url(f"{console_url}/dashboard")
    expect(page.get_by_role("heading", name="经营概览")).to_be_visible()


def test_a_locked_account_is_shown_as_locked(page: Page, console_url: str, api: Any, merchant: Any) -> None:
    cashier = account(api, merchant, "staff", store_id="s1")
    for _ in range(5):
        api.post("/v1/staff/login", {"merchant_id": merchant.merchant_id, "username": cashier, "password": "wrong"})
    page.goto(f"{console_url}/login")
    _fill(page, merchant, cashier, PASSWORD)
    expect(page.locator("[data-test=login-error]")).to_have_attribute("data-code", "ACCOUNT_LOCKED")
    screenshot(page, "sign-in-locked")


def test_a_revoked_session_returns_to_sign_in_with_the_apis_message(
    page: Page, console_url: str, api: Any, merchant: Any
) -> None:
    admin = account(api, merchant, "admin")
    signed_in(page, api, merchant, admin)
    page.goto(f"{console_url}/members")
    expect(page.get_by_role("heading", name="会员")).to_be_visible()
    page.wait_for_load_state("networkidle")  # the page's own first requests answered before the revocation
    status, body = api.post(f"/v1/admin/staff/{admin}/revoke-sessions", token=api.admin_token(merchant))
    assert status == 200, body
    page.get_by_label("查询内容").fill("13900000000")
    page.get_by_role("button", name="查找").click()
    expect(page).to_have_url(f"{console_url}/login?redirect=/members")
    expect(page.locator("[data-test=notice]")).to_be_visible()
    screenshot(page, "session-revoked")


def test_an_expired_session_returns_to_sign_in_with_a_message(page: Page, console_url: str) -> None:
    expired = {
        "token": "x.y.z",
        "role": "admin",
        "storeId": None,
        "merchantId": "m-1",
        "username": "a",
        "expiresAt": 1000,
    }
    page.add_init_script(f"localStorage.setItem('kabao.console.session', {json.dumps(json.dumps(expired))})")
    page.goto(f"{console_url}/dashboard")
    expect(page).to_have_url(f"{console_url}/login?redirect=/dashboard")
    expect(page.locator("[data-test=notice]")).to_contain_text("登录已过期")


def test_sign_out_everywhere_ends_every_session_of_the_account(
    page: Page, console_url: str, api: Any, merchant: Any
) -> None:
    admin = account(api, merchant, "admin")
    other_device = api.post(
        "/v1/staff/login", {"merchant_id": merchant.merchant_id, "username": admin, "password": PASSWORD}
    )[1]["token"]
    signed_in(page, api, merchant, admin)
    page.goto(f"{console_url}/dashboard")
    page.get_by_role("button", name="退出所有设备").click()
    expect(page).to_have_url(f"{console_url}/login")
    status, body = api.get("/v1/admin/settings", token=other_device)
    assert (status, body["error"]["code"]) == (401, "SESSION_REVOKED")
    page.goto(f"{console_url}/dashboard")  # this browser is signed out too
    expect(page).to_have_url(f"{console_url}/login?redirect=/dashboard")
