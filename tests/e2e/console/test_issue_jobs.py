"""Issue a coupon to a list of members: the job started once from the console, its progress followed while the
scheduled runner works, and each member's result."""

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
    page.get_by_label("会员 ID（每行一个）").fill("\n".join(members))
    page.locator("[data-test=issue-start]").dblclick()
    expect(page.locator("[data-test=issue-status]")).to_have_text("RUNNING")
    jobs = api.ok("GET", "/v1/admin/issue-jobs", token=token)["jobs"]
    assert [(j["template_id"], j["member_count"]) for j in jobs] == [(template["template_id"], 2)]  # started once

    from mini_program_api.coupons import issue_jobs

    issue_jobs.run()  # what the scheduled runner does every minute
    expect(page.locator("[data-test=issue-status]")).to_have_text("DONE", timeout=10_000)
    expect(page.locator("[data-test=issue-results] tbody tr")).to_have_count(2)
    for member_id in members:
        coupons = api.ok("GET", f"/v1/admin/members/{member_id}/coupons", token=token)["coupons"]
        assert [c["template_id"] for c in coupons] == [template["template_id"]]
    assert_accessible(page)
    screenshot(page, "issue-job")
