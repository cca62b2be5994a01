"""Member days: one added in the console (every Wednesday, double points), another kept with its dates and tiers
(the API replaces the whole list), then removed; read back."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from .conftest import account, assert_accessible, screenshot, signed_in


def test_member_days_added_and_removed_keeping_the_others(
    page: Page, console_url: str, api: Any, merchant: Any, clock: Any
) -> None:
    admin = account(api, merchant, "admin")
    token = api.admin_token(merchant)
    dated = {
        "day_id": "anniversary",
        "name": "周年庆",
        "multiplier": 300,
        "weekdays": [],
        "dates": [(clock.today.replace(day=1)).isoformat()],
        "tier_ids": ["gold"],
    }
    api.ok("PUT", "/v1/admin/member-days", {"member_days": [dated]}, token=token)
    signed_in(page, api, merchant, admin)
    page.goto(f"{console_url}/member-days")
    rows = page.locator("[data-test=member-days] tbody tr")
    expect(rows).to_have_count(1)
    page.get_by_label("编号").fill("wed")
    page.get_by_label("名称").fill("周三会员日")
    page.get_by_label("积分倍率（%，200 即双倍）").fill("200")
    page.get_by_text("周三", exact=True).click()
    page.locator("[data-test=day-add]").click()
    expect(rows).to_have_count(2)
    saved = {d["day_id"]: d for d in api.ok("GET", "/v1/admin/member-days", token=token)["member_days"]}
    assert (saved["wed"]["weekdays"], saved["wed"]["multiplier"]) == ([3], 200)
    assert (saved["anniversary"]["dates"], saved["anniversary"]["tier_ids"]) == (dated["dates"], ["gold"])
    assert_accessible(page)
    rows.filter(has_text="周年庆").get_by_role("button", name="删除").click()
    expect(rows).to_have_count(1)
    assert [d["day_id"] for d in api.ok("GET", "/v1/admin/member-days", token=token)["member_days"]] == ["wed"]
    screenshot(page, "member-days")
