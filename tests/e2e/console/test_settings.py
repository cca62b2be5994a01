"""Programme settings: changed in the console, read back from the API and after a reload; a malformed amount is
marked before anything is sent."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from .conftest import account, assert_accessible, screenshot, signed_in


def test_settings_changed_and_read_back(page: Page, console_url: str, api: Any, merchant: Any) -> None:
    admin = account(api, merchant, "admin")
    signed_in(page, api, merchant, admin)
    page.goto(f"{console_url}/settings")
    save = page.locator("[data-test=settings-save]")
    expect(save).to_be_disabled()  # nothing changed yet
    assert_accessible(page)
    page.get_by_label("开卡赠送积分").fill("88")
    page.get_by_label("免密支付上限（元）").fill("1.234")
    expect(page.get_by_label("免密支付上限（元）")).to_have_attribute("aria-invalid", "true")
    expect(save).to_be_disabled()
    page.get_by_label("免密支付上限（元）").fill("150.50")
    save.click()
    expect(page.get_by_text("已保存")).to_be_visible()
    settings = api.ok("GET", "/v1/admin/settings", token=api.admin_token(merchant))
    assert (settings["welcome_points"], settings["password_free_max"]) == (88, 15050)
    page.reload()
    expect(page.get_by_label("开卡赠送积分")).to_have_value("88")
    expect(page.get_by_label("免密支付上限（元）")).to_have_value("150.50")
    screenshot(page, "settings")
