"""Issue 25 §2-3 in the console: a tag made on the tags page, put on members selected from a name search, used as the
list's filter; the filtered list exported and downloaded with the ledger's sums; a member frozen from the 360 view."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from playwright.sync_api import Page, expect

from mini_program_api.member_care import member_jobs
from mini_program_api.money import ledger

from .conftest import account, assert_accessible, no_horizontal_overflow, screenshot, signed_in


def _member(api: Any, merchant: Any, name: str, points: int) -> str:
    session = api.login(merchant)
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    api.ok("POST", "/v1/me/phone", {"code": f"phone:{phone}:x1"}, token=session["token"])
    member_id = api.ok(
        "POST", "/v1/me/card", {"agreed_terms_version": merchant.terms_version, "name": name}, token=session["token"]
    )["member_id"]
    api.ok(
        "POST",
        f"/v1/admin/members/{member_id}/adjustments",
        {"account": "points", "amount": points, "reason": "开业赠送"},
        token=api.admin_token(merchant),
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    return str(member_id)


def test_tag_selected_members_filter_export_and_freeze(page: Page, console_url: str, api: Any, merchant: Any) -> None:
    admin = account(api, merchant, "admin")
    zhang3, zhang4 = _member(api, merchant, "张三", 120), _member(api, merchant, "张四", 30)
    signed_in(page, api, merchant, admin)

    page.goto(f"{console_url}/members/tags")
    page.get_by_label("标签名称").fill("VIP")
    page.locator("[data-test=tag-create]").click()
    expect(page.locator("[data-test=tags] tbody tr")).to_have_count(1)
    assert_accessible(page)

    page.goto(f"{console_url}/members")
    page.locator(".el-select", has=page.locator("#search-field")).click()
    page.locator(".el-select-dropdown__item:visible", has_text="姓名").click()
    page.get_by_label("查询内容").fill("张")
    with page.expect_response(lambda r: "/v1/admin/members?" in r.url and "name=" in r.url):  # not the first list
        page.locator("[data-test=search]").click()
    rows = page.locator("[data-test=members] tbody tr")
    expect(rows).to_have_count(2)
    rows.filter(has_text="张三").locator(".el-checkbox").click()
    page.locator(".el-select", has=page.locator("#bulk-tag")).click()
    page.locator(".el-select-dropdown__item:visible", has_text="VIP").click()
    page.locator("[data-test=bulk-add]").click()
    expect(page.get_by_role("status").filter(has_text="已处理 1 位会员")).to_be_visible(timeout=30_000)  # a request on a loaded machine

    page.locator(".el-select", has=page.locator("#search-tag")).click()
    page.locator(".el-select-dropdown__item:visible", has_text="VIP").click()
    page.locator("[data-test=search]").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("张三")
    expect(rows.first).to_contain_text("VIP")
    assert_accessible(page)
    screenshot(page, "members-tag-filter")

    page.locator("[data-test=export]").click()
    page.get_by_role("dialog").get_by_text("CSV").click()
    page.locator("[data-test=export-start]").click()
    expect(page.locator("[data-test=export-progress]")).to_be_visible()
    while member_jobs.run().jobs:  # the scheduled member_jobs_run, once a minute in the cloud
        pass
    expect(page.locator("[data-test=export-download]")).to_be_enabled(timeout=10_000)
    expect(page.locator("[data-test=export-progress]")).to_contain_text("符合 1 位")
    assert_accessible(page)
    screenshot(page, "members-export-ready")
    with page.expect_download() as download:
        page.locator("[data-test=export-download]").click()
    with open(download.value.path(), encoding="utf-8-sig") as saved:
        text = saved.read()
    exported = list(csv.DictReader(io.StringIO(text)))
    sums = ledger.balances_from_entries(merchant.merchant_id, zhang3)
    assert [(r["会员ID"], int(r["积分"]), int(r["储值余额(分)"])) for r in exported] == [
        (zhang3, sums["points"], sums["principal"] + sums["bonus"])
    ]
    assert sums["points"] == 120 and zhang4 not in text
    page.get_by_role("dialog").get_by_role("button", name="关闭", exact=True).click()

    page.goto(f"{console_url}/members/{zhang3}")
    expect(page.locator("[data-test=member-tag]")).to_have_text("VIP")
    page.locator("[data-test=freeze]").click()
    page.get_by_role("dialog").get_by_role("textbox").fill("手机丢失")
    page.get_by_role("dialog").get_by_role("button", name="确定").click()
    expect(page.locator("[data-test=frozen]")).to_contain_text("手机丢失")
    assert (
        api.ok("GET", f"/v1/admin/members/{zhang3}", token=api.admin_token(merchant))["frozen"]["reason"] == "手机丢失"
    )
    assert_accessible(page)
    screenshot(page, "member-360-frozen")
    page.set_viewport_size({"width": 375, "height": 800})
    no_horizontal_overflow(page)
    screenshot(page, "member-360-frozen-375")
