"""A 礼品 template made with a fixed window (typed on the merchant's clock), daily hours, a store and a tier, then
edited (name, more stock, a later end) and read back; what the API would refuse is shown before it is sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Page, expect

from tests.timeline import SHANGHAI

from .conftest import account, assert_accessible, screenshot, signed_in


def _wall(at: datetime) -> str:
    """An instant as a datetime-local input takes it, on the merchant's clock."""
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def test_gift_created_then_edited(page: Page, console_url: str, api: Any, merchant: Any) -> None:
    account(api, merchant, "staff", store_id="s1")
    admin = account(api, merchant, "admin")
    token = api.admin_token(merchant)
    signed_in(page, api, merchant, admin)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    page.goto(f"{console_url}/coupons")
    page.locator("[data-test=coupon-create]").click()
    dialog = page.get_by_role("dialog")
    dialog.locator(".el-select", has=page.locator("#coupon-kind")).click()
    page.get_by_role("option", name="礼品券").click()
    dialog.get_by_label("名称", exact=True).fill("早餐送豆浆")
    dialog.get_by_label("礼品名称").fill("豆浆")
    dialog.get_by_text("固定时间段").click()
    dialog.get_by_label("开始时间").fill(_wall(now))
    dialog.get_by_label("结束时间").fill(_wall(now + timedelta(days=2)))
    expect(dialog.locator("[data-test=coupon-rules]")).to_contain_text("至少 3 天")  # WeChat's rule, shown first
    dialog.get_by_label("结束时间").fill(_wall(now + timedelta(days=10)))
    dialog.get_by_label("每日可用起").fill("07:00")
    dialog.get_by_label("每日可用止").fill("10:30")
    dialog.locator(".el-select", has=page.locator("#coupon-stores")).click()
    page.get_by_role("option", name="门店 s1").click()
    dialog.locator(".el-select", has=page.locator("#coupon-tiers")).click()
    page.get_by_role("option", name="金卡").click()
    dialog.get_by_label("名称", exact=True).click()  # closes the list
    expect(dialog.locator("[data-test=coupon-rules]")).to_have_count(0)
    assert_accessible(page)
    dialog.locator("[data-test=coupon-save]").click()
    rows = page.locator("[data-test=coupon-templates] tbody tr")
    expect(rows).to_have_count(1)
    made = api.ok("GET", "/v1/admin/coupon-templates", token=token)["templates"][0]
    end = now + timedelta(days=10)
    assert (made["kind"], made["gift_name"], made["store_ids"], made["tier_ids"], made["daily_window"]) == (
        "GIFT",
        "豆浆",
        ["s1"],
        ["gold"],
        ["07:00", "10:30"],
    )
    assert datetime.fromisoformat(made["valid_from"]) == now
    assert datetime.fromisoformat(made["valid_until"]) == end

    rows.get_by_role("button", name="编辑").click()
    expect(dialog.get_by_label("结束时间")).to_have_value(_wall(end))  # read back on the merchant's clock
    expect(dialog.get_by_label("礼品名称")).to_be_disabled()
    dialog.get_by_label("结束时间").fill(_wall(end - timedelta(days=1)))
    expect(dialog.locator("[data-test=coupon-rules]")).to_contain_text("结束时间只能延后")
    expect(dialog.locator("[data-test=coupon-save]")).to_be_disabled()
    dialog.get_by_label("结束时间").fill(_wall(end + timedelta(days=20)))
    dialog.get_by_label("名称", exact=True).fill("早餐送热豆浆")
    dialog.get_by_label("发放总量").fill("150")
    dialog.locator("[data-test=coupon-save]").click()
    expect(rows).to_contain_text("早餐送热豆浆")
    saved = api.ok("GET", f"/v1/admin/coupon-templates/{made['template_id']}", token=token)
    assert (saved["name"], saved["total_stock"], saved["remaining"]) == ("早餐送热豆浆", 150, 150)
    assert datetime.fromisoformat(saved["valid_until"]) == end + timedelta(days=20)
    records = api.ok("GET", "/v1/admin/audit", token=token)["records"]
    changed = [r for r in records if r["action"] == "COUPON_TEMPLATE_CHANGED" and r["target"] == made["template_id"]]
    assert len(changed) == 1  # one change, its fields together
    screenshot(page, "coupon-edit")
