"""Tiers: a threshold changed and a tier added in the console, read back from the API, with what the page does not
edit (a tier's birthday coupon) kept: the API replaces the whole list."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import Page, expect

from .conftest import account, assert_accessible, screenshot, signed_in


def test_tiers_changed_and_read_back(page: Page, console_url: str, api: Any, merchant: Any) -> None:
    admin = account(api, merchant, "admin")
    token = api.admin_token(merchant)
    gift = api.ok(
        "POST",
        "/v1/admin/coupon-templates",
        {
            "name": "生日礼",
            "kind": "GIFT",
            "gift_name": "蛋糕",
            "total_stock": 100,
            "per_member_limit": 1,
            "days_after_claim": 7,
            "listed": False,
        },
        token=token,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    tiers = api.ok("GET", "/v1/admin/tiers", token=token)["tiers"]
    body = [
        {
            "tier_id": t["tier_id"],
            "name": t["name"],
            "threshold": t["threshold"],
            **({"birthday_template_id": gift["template_id"]} if t["tier_id"] == "gold" else {}),
        }
        for t in tiers
    ]
    api.ok("PUT", "/v1/admin/tiers", {"tiers": body}, token=token)
    signed_in(page, api, merchant, admin)
    page.goto(f"{console_url}/tiers")
    expect(page.get_by_label("名称 2")).to_have_value("银卡")
    page.get_by_label("成长值门槛 2").fill("1500")
    page.get_by_role("button", name="新增等级").click()
    page.get_by_label("等级编号 4").fill("black")
    page.get_by_label("名称 4").fill("黑卡")
    page.get_by_label("成长值门槛 4").fill("abc")
    page.locator("[data-test=tiers-save]").click()
    expect(page.get_by_role("alert")).to_contain_text("须为整数")  # nothing sent
    page.get_by_label("成长值门槛 4").fill("20000")
    page.locator("[data-test=tiers-save]").click()
    expect(page.get_by_text("已保存")).to_be_visible()
    saved = {t["tier_id"]: t for t in api.ok("GET", "/v1/admin/tiers", token=token)["tiers"]}
    assert [(i, saved[i]["threshold"]) for i in saved] == [
        ("normal", 0),
        ("silver", 1500),
        ("gold", 5000),
        ("black", 20000),
    ]
    assert saved["gold"]["birthday_template_id"] == gift["template_id"]  # carried through the page
    assert_accessible(page)
    screenshot(page, "tiers")
