"""The dashboard shows the reports API's numbers for the range it shows, with the previous period, its charts,
and every admin page passes axe and fits a 375 px screen."""

from __future__ import annotations

import time
import uuid
from datetime import date, timedelta
from typing import Any

from playwright.sync_api import Page, expect

from mini_program_api.reports import liability

from .conftest import TIMINGS, account, assert_accessible, no_horizontal_overflow, screenshot, signed_in


def _yuan(fen: int) -> str:
    return f"{'-' if fen < 0 else ''}¥{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def _figures(api: Any, token: str, first: str, last: str) -> dict[str, str]:
    def rows(report: str) -> list[dict[str, Any]]:
        return api.ok("GET", f"/v1/admin/reports/{report}?from={first}&to={last}", token=token)["rows"]

    sales, members, stored, funnel = rows("sales"), rows("members"), rows("stored-value"), rows("funnel")
    members = [r for r in members if r["scene"] == "*"]  # each day's totals; the other rows split them by scene
    last_day = max(stored, key=lambda r: r["day"]) if stored else None
    return {
        "sales": _yuan(sum(r["gross"] for r in sales)),
        "orders": str(sum(r["orders"] for r in sales)),
        "refunds": _yuan(sum(r["refund_gross"] for r in sales)),
        "newMembers": str(sum(r["new_members"] for r in members)),
        "cardsOpened": str(sum(r["cards_opened"] for r in members)),
        "topups": _yuan(sum(r["topup_principal"] for r in stored)),
        "principal": _yuan(last_day["outstanding_principal"] if last_day else 0),
        "bonus": _yuan(last_day["outstanding_bonus"] if last_day else 0),
        "claims": str(sum(r["claims"] for r in funnel)),
        "redemptions": str(sum(r["redemptions"] for r in funnel)),
    }


def test_dashboard_numbers_equal_the_reports_api_for_the_range_shown(
    page: Page, console_url: str, api: Any, merchant: Any
) -> None:
    admin = account(api, merchant, "admin")
    token = api.admin_token(merchant)
    member = api.member_with_card(merchant)
    cashier = api.staff_token(merchant, "s1")
    api.ok(
        "POST",
        "/v1/staff/checkout",
        {"member_code": api.member_code(member["token"]), "amount": 12345},
        token=cashier,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    signed_in(page, api, merchant, admin)
    started = time.perf_counter()
    page.goto(f"{console_url}/dashboard")
    expect(page.locator("[data-test=chart] canvas").first).to_be_visible()
    TIMINGS["dashboard's first chart"] = time.perf_counter() - started
    first, last = (page.locator(f"[data-test=range-{end}]").input_value() for end in ("from", "to"))
    expected = _figures(api, token, first, last)
    assert (expected["sales"], expected["newMembers"]) == ("¥123.45", "1"), expected  # what this test made
    for key, value in expected.items():
        expect(page.locator(f"[data-test=kpi-{key}]")).to_have_text(value)
    length = (date.fromisoformat(last) - date.fromisoformat(first)).days + 1
    before = _figures(
        api,
        token,
        str(date.fromisoformat(first) - timedelta(days=length)),
        str(date.fromisoformat(first) - timedelta(days=1)),
    )
    for key, value in before.items():
        expect(page.locator(f"[data-test=prev-{key}]")).to_have_text(value)
    expect(page.locator("[data-test=liability]")).to_have_text("尚未运行")
    # Members per tier are counted by the nightly liability check: before its first run, said so, not a chart of 0s.
    expect(page.locator("[data-test=tiers-none]")).to_have_text("尚未统计：每晚储值对账时按等级统计会员")
    expect(page.locator("[data-test=chart] canvas")).to_have_count(4)  # sales, funnel, liability, members
    liability.run(merchant.merchant_id)
    page.reload()
    expect(page.locator("[data-test=liability]")).to_have_text("一致")
    expect(page.locator("[data-test=tiers-counted]")).to_contain_text("统计时间")
    expect(page.locator("[data-test=tiers-none]")).to_have_count(0)
    expect(page.locator("[data-test=chart] canvas")).to_have_count(5)  # and the tiers
    assert_accessible(page)
    screenshot(page, "dashboard")
    page.get_by_role("button", name="English").click()  # the English switch, kept across pages
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator("[data-test=kpi-sales]")).to_have_text(expected["sales"])
    page.goto(f"{console_url}/members")
    expect(page.get_by_role("heading", name="Members")).to_be_visible()
    page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("heading", name="会员")).to_be_visible()

    page.goto(f"{console_url}/coupons")
    expect(page.locator("[data-test=coupon-templates]")).to_be_visible()
    assert_accessible(page)
    page.set_viewport_size({"width": 375, "height": 812})
    for path in ("dashboard", "members", "coupons"):
        page.goto(f"{console_url}/{path}")
        page.wait_for_load_state("networkidle")
        no_horizontal_overflow(page)
        if path == "dashboard":
            expect(page.locator("[data-test=tiers-counted]")).to_be_visible()
            screenshot(page, "dashboard-375")
    page.get_by_role("button", name="菜单").click()  # the sidebar is a drawer at 375 px
    expect(page.get_by_role("dialog").get_by_role("link", name="会员", exact=True)).to_be_visible()
    assert_accessible(page)
    screenshot(page, "menu-drawer-375")
