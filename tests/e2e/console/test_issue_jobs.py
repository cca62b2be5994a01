"""Issue a coupon to a list of members: the job started once from the console, its progress followed while the
scheduled runner works (the jobs table's row too), and each member's result, as a merchant reads them: the template
by its name, statuses and reasons in Chinese. At 375 px too."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import Page, expect

from .conftest import account, assert_accessible, screenshot, signed_in


def test_issue_a_coupon_to_a_list_and_see_each_result(page: Page, console_url: str, api: Any, merchant: Any) -> None:
    admin = account(api, merchant, "admin")
    token = api.admin_token(merchant)
    template = api.ok(
        "POST",
        "/v1/admin/coupon-templates",
        {
            "name": "回馈券",
            "kind": "CASH",
            "amount": 500,
            "total_stock": 10,
            "per_member_limit": 1,
            "days_after_claim": 30,
        },
        token=token,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    members = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(2)]
    signed_in(page, api, merchant, admin)
    page.goto(f"{console_url}/coupons/issue")
    page.locator(".el-select", has=page.locator("#issue-template")).click()
    page.get_by_role("option", name="回馈券").click()
    page.get_by_label("会员 ID（每行一个）").fill("\n".join([*members, "nobody"]))  # one the merchant has not
    page.locator("[data-test=issue-start]").dblclick()
    expect(page.locator("[data-test=issue-status]")).to_have_text("发放中")
    row = page.locator("[data-test=issue-jobs] tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("回馈券")  # the template's name, not its id
    expect(row).not_to_contain_text(template["template_id"])
    expect(row.locator("[data-test=issue-job-status]")).to_have_text("发放中")
    jobs = api.ok("GET", "/v1/admin/issue-jobs", token=token)["jobs"]
    assert [(j["template_id"], j["member_count"]) for j in jobs] == [(template["template_id"], 3)]  # started once

    from mini_program_api.coupons import issue_jobs

    issue_jobs.run()  # what the scheduled runner does every minute
    expect(page.locator("[data-test=issue-status]")).to_have_text("已完成", timeout=10_000)
    # the poll's newer state is in the table's row too, without reloading the list
    expect(row.locator("[data-test=issue-job-status]")).to_have_text("已完成")
    expect(row.locator("[data-test=issue-job-issued]")).to_have_text("2")
    results = page.locator("[data-test=issue-results] tbody tr")
    expect(results).to_have_count(3)
    for member_id in members:
        expect(results.filter(has_text=member_id)).to_contain_text("已发放")
    stranger = results.filter(has_text="nobody")
    expect(stranger).to_contain_text("未发放")
    expect(stranger).to_contain_text("找不到该会员")  # MEMBER_NOT_FOUND, in words
    for member_id in members:
        coupons = api.ok("GET", f"/v1/admin/members/{member_id}/coupons", token=token)["coupons"]
        assert [c["template_id"] for c in coupons] == [template["template_id"]]
    page.evaluate("() => getSelection()?.removeAllRanges()")  # the double click's selected word, not the page's
    assert_accessible(page)
    screenshot(page, "issue-job")
    page.set_viewport_size({"width": 375, "height": 812})
    expect(page.get_by_label("会员 ID（每行一个）")).to_be_visible()
    expect(row.locator("[data-test=issue-job-status]")).to_have_text("已完成")
    assert_accessible(page)
    screenshot(page, "issue-job-375")
