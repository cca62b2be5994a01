"""Reports as charts and tables; RFM segments with their members and "issue a coupon to this segment" making one
issue job (double-clicked) that reaches that segment alone; the audit trail a page at a time, by day; these pages at 375 px."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from playwright.sync_api import Page, expect

from mini_program_api.coupons import issue_jobs
from mini_program_api.reports import rfm
from tests.timeline import today

from .conftest import account, assert_accessible, no_horizontal_overflow, screenshot, signed_in


def _sell(api: Any, merchant: Any, staff: str, member: dict[str, Any], amount: int) -> None:
    api.ok(
        "POST",
        "/v1/staff/checkout",
        {"member_code": api.member_code(member["token"]), "amount": amount},
        token=staff,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )


def test_report_charts_and_issue_to_an_rfm_segment(page: Page, console_url: str, api: Any, merchant: Any) -> None:
    admin = account(api, merchant, "admin")
    token = api.admin_token(merchant)
    staff = api.staff_token(merchant, "s1")
    big = [api.member_with_card(merchant) for _ in range(2)]
    small = api.member_with_card(merchant)
    for member in big:
        for _ in range(3):
            _sell(api, merchant, staff, member, 20000)
    _sell(api, merchant, staff, small, 500)
    signed_in(page, api, merchant, admin)

    page.goto(f"{console_url}/reports")
    expect(page.locator("[data-test=report-rows]")).to_contain_text("¥1,205.00")  # one cashier: 6 × 200 + 5
    expect(page.locator("[data-test=chart] canvas")).to_be_visible()  # the chart beside its table
    page.locator(".el-select", has=page.locator("#report-name")).click()
    page.get_by_role("option", name="复购").click()
    expect(page.locator("[data-test=report-rows]")).to_contain_text("66.7%")  # 2 of 3 buyers came back
    expect(page.locator("[data-test=chart]")).to_have_attribute("aria-label", "复购")
    assert_accessible(page)
    screenshot(page, "report-chart")

    thresholds = {"r": [30, 60, 90, 180], "f": [1, 2, 3, 4], "m": [1000, 5000, 10000, 50000]}
    api.ok("PUT", "/v1/admin/reports/rfm-thresholds", thresholds, token=token)
    assert rfm.run(merchant.merchant_id).phase == "DONE"  # the nightly scoring
    template = api.ok(
        "POST",
        "/v1/admin/coupon-templates",
        {
            "name": "老客回馈",
            "kind": "CASH",
            "amount": 1000,
            "total_stock": 10,
            "per_member_limit": 1,
            "days_after_claim": 7,
            "listed": False,
        },
        token=token,
    )
    page.goto(f"{console_url}/reports/rfm")
    segments = page.locator("[data-test=rfm-segments] tbody tr")
    expect(segments.filter(has_text="重要价值")).to_contain_text("2")
    segments.filter(has_text="重要价值").get_by_role("button").click()
    members = page.locator("[data-test=rfm-members] tbody tr")
    expect(members).to_have_count(2)
    expect(members.first).to_contain_text("¥600.00")
    page.locator("[data-test=rfm-issue]").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("2 位会员")
    dialog.locator(".el-select").click()
    page.get_by_role("option", name="老客回馈").click()
    assert_accessible(page)
    dialog.locator("[data-test=rfm-issue-confirm]").dblclick()
    expect(page).to_have_url(f"{console_url}/coupons/issue")
    jobs = api.ok("GET", "/v1/admin/issue-jobs", token=token)["jobs"]
    assert [(j["template_id"], j["filter"]) for j in jobs] == [(template["template_id"], {"segment": "重要价值"})]
    issue_jobs.run()
    results = api.ok("GET", f"/v1/admin/issue-jobs/{jobs[0]['job_id']}/results", token=token)["results"]
    assert sorted(r["member_id"] for r in results if r["status"] == "ISSUED") == sorted(
        m["member"]["member_id"] for m in big
    )  # the segment's two, not the small spender
    screenshot(page, "rfm-issued")


def test_audit_trail_pages_by_day(page: Page, console_url: str, api: Any, merchant: Any) -> None:
    admin = account(api, merchant, "admin")
    token = api.admin_token(merchant)
    template = api.ok(
        "POST",
        "/v1/admin/coupon-templates",
        {
            "name": "改名 0",
            "kind": "CASH",
            "amount": 100,
            "total_stock": 10,
            "per_member_limit": 1,
            "days_after_claim": 7,
        },
        token=token,
    )
    for n in range(1, 22):
        api.ok("PATCH", f"/v1/admin/coupon-templates/{template['template_id']}", {"name": f"改名 {n}"}, token=token)
    signed_in(page, api, merchant, admin)  # (its login is audited too)
    records, cursor = [], None
    while True:  # the whole day, as the API pages it
        page_ = api.ok("GET", "/v1/admin/audit" + (f"?cursor={cursor}" if cursor else ""), token=token)
        records += page_["records"]
        cursor = page_.get("cursor")
        if not cursor:
            break
    assert len(records) > 20
    page.goto(f"{console_url}/audit")
    rows = page.locator("[data-test=audit-records] tbody tr")
    expect(rows).to_have_count(20)  # a page
    while page.locator("[data-test=audit-more]").count():
        shown = rows.count()
        page.locator("[data-test=audit-more]").click()
        # The next page's rows, before the button is looked at again: it goes once the last page is in, and a
        # click on it while that page loads waits for a button that will not come back (networkidle does not
        # wait for a request made after the page loaded).
        expect(rows).not_to_have_count(shown)
    expect(rows).to_have_count(len(records))
    expect(rows.filter(has_text="COUPON_TEMPLATE_CHANGED")).to_have_count(21)  # every change, none twice
    assert_accessible(page)
    screenshot(page, "audit")
    page.locator("[data-test=audit-day]").fill((today() - timedelta(days=1)).isoformat())
    page.locator("[data-test=audit-day]").dispatch_event("change")
    expect(rows).to_have_count(0)  # nothing the day before
    page.set_viewport_size({"width": 375, "height": 812})
    for path in ("audit", "reports", "reports/rfm"):
        page.goto(f"{console_url}/{path}")
        page.wait_for_load_state("networkidle")
        no_horizontal_overflow(page)
