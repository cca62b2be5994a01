"""Coupons: the rules shown before the API refuses them, a 满减 template created once, paused, resumed, ended."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from .conftest import account, assert_accessible, screenshot, signed_in


def test_create_pause_resume_end(page: Page, console_url: str, api: Any, merchant: Any) -> None:
    admin = account(api, merchant, "admin")
    signed_in(page, api, merchant, admin)
    page.goto(f"{console_url}/coupons")
    page.locator("[data-test=coupon-create]").click()
    page.get_by_label("名称").fill("满100减60")
    page.get_by_label("使用门槛（元）").fill("100")
    page.get_by_label("减免金额（元）").fill("60")
    expect(page.locator("[data-test=coupon-rules]")).to_contain_text("不超过门槛的一半")  # before the API says so
    expect(page.locator("[data-test=coupon-save]")).to_be_disabled()
    assert_accessible(page)
    page.get_by_label("减免金额（元）").fill("20.50")
    expect(page.locator("[data-test=coupon-rules]")).to_have_count(0)
    page.locator("[data-test=coupon-save]").dblclick()
    row = page.locator("[data-test=coupon-templates] tbody tr")
    expect(row).to_have_count(1)
    templates = api.ok("GET", "/v1/admin/coupon-templates", token=api.admin_token(merchant))["templates"]
    assert [(t["name"], t["threshold"], t["amount"], t["status"]) for t in templates] == [
        ("满100减60", 10000, 2050, "active")
    ]
    template_id = templates[0]["template_id"]
    status = page.locator(f"[data-test=status-{template_id}]")
    expect(status).to_have_text("发放中")
    row.get_by_role("button", name="暂停").click()
    expect(status).to_have_text("已暂停")
    row.get_by_role("button", name="恢复").click()
    expect(status).to_have_text("发放中")
    row.get_by_role("button", name="结束").click()
    page.get_by_role("dialog").get_by_role("button", name="确定").or_(
        page.get_by_role("dialog").get_by_role("button", name="OK")
    ).click()
    expect(status).to_have_text("已结束")
    assert (
        api.ok("GET", f"/v1/admin/coupon-templates/{template_id}", token=api.admin_token(merchant))["status"] == "ended"
    )
    assert_accessible(page)

    page.locator("[data-test=coupon-create]").click()  # a 现金 coupon: its own fields and rule
    page.locator(".el-select", has=page.locator("#coupon-kind")).click()
    page.get_by_role("option", name="现金券").click()
    page.get_by_label("名称").fill("5元现金券")
    expect(page.locator("[data-test=coupon-rules]")).to_contain_text("现金券金额须大于 0")
    page.get_by_label("券面金额（元）").fill("5")
    page.locator("[data-test=coupon-save]").click()
    expect(row).to_have_count(2)
    templates = api.ok("GET", "/v1/admin/coupon-templates", token=api.admin_token(merchant))["templates"]
    assert sorted((t["kind"], t["amount"]) for t in templates) == [("CASH", 500), ("FULL_REDUCTION", 2050)]
    screenshot(page, "coupons")
