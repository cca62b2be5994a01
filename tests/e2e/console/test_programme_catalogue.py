"""The programme's catalogue (at 375 px too): a points-mall reward created, read back, edited, disabled and enabled again; a
punch-card plan added once (double-clicked) and read back, a bad one refused where it was typed."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from .conftest import account, assert_accessible, no_horizontal_overflow, screenshot, signed_in


def test_reward_created_edited_disabled(page: Page, console_url: str, api: Any, merchant: Any) -> None:
    admin = account(api, merchant, "admin")
    token = api.admin_token(merchant)
    signed_in(page, api, merchant, admin)
    page.goto(f"{console_url}/rewards")
    page.locator("[data-test=coupon-create]").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("名称", exact=True).fill("拿铁兑换券")
    dialog.get_by_label("礼品名称").fill("中杯拿铁")
    dialog.get_by_label("所需积分").fill("0")
    expect(dialog.locator("[data-test=coupon-rules]")).to_contain_text("所需积分须在 1 到 10000000 之间")
    dialog.get_by_label("所需积分").fill("300")
    dialog.get_by_label("发放总量").fill("50")
    dialog.locator("[data-test=coupon-save]").dblclick()
    rows = page.locator("[data-test=coupon-templates] tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("300")
    templates = api.ok("GET", "/v1/admin/coupon-templates", token=token)["templates"]
    assert [(t["name"], t["kind"], t["gift_name"], t["points_price"], t["total_stock"]) for t in templates] == [
        ("拿铁兑换券", "GIFT", "中杯拿铁", 300, 50)
    ]  # made once
    template_id = templates[0]["template_id"]
    member = api.member_with_card(merchant)
    listed = api.ok("GET", "/v1/points/rewards", token=member["token"])["rewards"]
    assert [(r["reward_id"], r["name"]) for r in listed] == [(template_id, "拿铁兑换券")]  # in the mall

    rows.get_by_role("button", name="编辑").click()
    dialog.get_by_label("名称", exact=True).fill("拿铁（大杯）")
    dialog.get_by_label("发放总量").fill("40")
    expect(dialog.locator("[data-test=coupon-rules]")).to_contain_text("只能增加")
    expect(dialog.get_by_label("所需积分")).to_be_disabled()  # fixed once issued
    dialog.get_by_label("发放总量").fill("80")
    dialog.locator("[data-test=coupon-save]").click()
    expect(rows).to_contain_text("拿铁（大杯）")
    saved = api.ok("GET", f"/v1/admin/coupon-templates/{template_id}", token=token)
    assert (saved["name"], saved["total_stock"], saved["remaining"], saved["points_price"]) == (
        "拿铁（大杯）",
        80,
        80,
        300,
    )

    status = page.locator(f"[data-test=status-{template_id}]")
    rows.get_by_role("button", name="暂停").click()
    expect(status).to_have_text("已暂停")
    assert api.ok("GET", "/v1/points/rewards", token=member["token"])["rewards"] == []
    rows.get_by_role("button", name="恢复").click()
    expect(status).to_have_text("发放中")
    assert len(api.ok("GET", "/v1/points/rewards", token=member["token"])["rewards"]) == 1
    page.goto(f"{console_url}/coupons")  # the coupons page lists coupons, not the mall's rewards
    expect(page.locator("[data-test=coupon-templates]")).to_be_visible()
    expect(page.locator("[data-test=coupon-templates] tbody tr")).to_have_count(0)
    page.goto(f"{console_url}/rewards")
    expect(rows).to_have_count(1)
    assert_accessible(page)
    screenshot(page, "rewards")


def test_punch_card_plan_added_and_read_back(page: Page, console_url: str, api: Any, merchant: Any) -> None:
    account(api, merchant, "staff", store_id="s1")  # a store to limit the plan to
    admin = account(api, merchant, "admin")
    signed_in(page, api, merchant, admin)
    page.goto(f"{console_url}/punch-card-plans")
    page.get_by_label("名称").fill("咖啡十次卡")
    page.get_by_label("次数").fill("0")
    page.locator("[data-test=punch-add]").click()
    expect(page.get_by_role("alert")).to_contain_text("次数（1–1000）")
    page.get_by_label("次数").fill("10")
    page.get_by_label("售价（元）").fill("250")
    page.locator(".el-select", has=page.locator("#punch-stores")).click()
    page.get_by_role("option", name="门店 s1").click()
    page.keyboard.press("Escape")
    page.locator("[data-test=punch-add]").dblclick()
    rows = page.locator("[data-test=punch-plans] tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("¥250.00")
    expect(rows).to_contain_text("门店 s1")
    plans = api.ok("GET", "/v1/admin/punch-card-plans", token=api.admin_token(merchant))["plans"]
    assert [(p["name"], p["visits"], p["valid_days"], p["price"], p["store_ids"]) for p in plans] == [
        ("咖啡十次卡", 10, 180, 25000, ["s1"])
    ]  # made once
    expect(page.get_by_label("名称")).to_have_value("")  # ready for the next plan
    assert_accessible(page)
    screenshot(page, "punch-card-plans")
    page.set_viewport_size({"width": 375, "height": 812})
    for path in ("punch-card-plans", "rewards"):
        page.goto(f"{console_url}/{path}")
        page.wait_for_load_state("networkidle")
        no_horizontal_overflow(page)
