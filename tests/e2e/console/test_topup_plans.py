"""Top-up plans: added (amounts typed in yuan, sent in fen), the bonus changed, one removed; read back."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from .conftest import account, assert_accessible, screenshot, signed_in


def test_plans_added_changed_removed(page: Page, console_url: str, api: Any, merchant: Any) -> None:
    admin = account(api, merchant, "admin")
    token = api.admin_token(merchant)
    signed_in(page, api, merchant, admin)
    page.goto(f"{console_url}/topup-plans")
    rows = page.locator("[data-test=plans] tbody tr")
    expect(rows).to_have_count(2)  # the merchant's p300 and p500
    page.get_by_label("充值金额（元）").fill("1000")
    page.get_by_label("赠送金额（元）").fill("250.50")
    page.locator("[data-test=plan-add]").dblclick()
    expect(rows).to_have_count(3)
    plans = {p["amount"]: p for p in api.ok("GET", "/v1/admin/topup-plans", token=token)["plans"]}
    assert plans[100000]["bonus"] == 25050 and len(plans) == 3  # made once
    rows.filter(has_text="¥300.00").get_by_role("button", name="修改赠送").click()
    page.get_by_role("dialog").get_by_role("textbox").fill("60")
    page.get_by_role("dialog").get_by_role("button", name="确定").click()
    expect(rows.filter(has_text="¥300.00")).to_contain_text("¥60.00")
    rows.filter(has_text="¥500.00").get_by_role("button", name="删除").click()
    page.get_by_role("dialog").get_by_role("button", name="确定").click()
    expect(rows).to_have_count(2)
    plans = {p["amount"]: p["bonus"] for p in api.ok("GET", "/v1/admin/topup-plans", token=token)["plans"]}
    assert plans == {30000: 6000, 100000: 25050}
    assert_accessible(page)
    screenshot(page, "topup-plans")
