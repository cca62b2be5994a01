"""Import members from the console: a small CSV with one bad row; the check shows the bad row by column, the
run imports the rest, and the imported member's 360 view shows the opening balances. At 375 px, as on a phone."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import Page, expect

from .conftest import account, assert_accessible, no_horizontal_overflow, screenshot, signed_in


def test_import_a_csv_with_one_bad_row_and_see_the_opening_balances(
    page: Page, console_url: str, api: Any, merchant: Any, tmp_path: Any
) -> None:
    good, other = f"135{uuid.uuid4().int % 10**8:08d}", f"135{uuid.uuid4().int % 10**8:08d}"
    csv = tmp_path / "members.csv"
    csv.write_text(
        f"手机号,姓名,积分,本金,赠送金\n{good},周九,120,300,50\n{other},吴十,-5,,\n{other[:-1]}9,郑一,,10,\n",
        encoding="utf-8",
    )
    admin = account(api, merchant, "admin")
    signed_in(page, api, merchant, admin)
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{console_url}/members/imports")
    page.get_by_label("文件").set_input_files(str(csv))
    page.locator("[data-test=import-check]").click()
    expect(page.locator("[data-test=import-status]")).to_have_text("已检查")
    expect(page.locator("[data-test=import-counts]")).to_contain_text("可导入 2，有误 1")
    bad = page.locator("[data-test=import-rows] tbody tr")
    expect(bad).to_have_count(1)  # only the rows with problems, by default
    expect(bad).to_contain_text("积分: NEGATIVE_AMOUNT")
    no_horizontal_overflow(page)
    assert_accessible(page)
    screenshot(page, "member-import-checked")

    page.locator("[data-test=import-start]").dblclick()  # twice: the import runs once
    expect(page.locator("[data-test=import-status]")).to_have_text("已完成", timeout=15_000)
    expect(page.locator("[data-test=import-done]")).to_contain_text("已新建 2")
    imports = api.ok("GET", "/v1/admin/member-imports", token=api.admin_token(merchant))["imports"]
    assert [(i["imported"], i["skipped"]) for i in imports] == [(2, 1)]
    page.locator("[data-test=import-rows] tbody tr", has_text="IMPORTED").first.get_by_role("link").click()
    expect(page.locator("[data-test=member-points]")).to_have_text("120")
    expect(page.locator("[data-test=member-balance]")).to_have_text("¥350.00")
    assert_accessible(page)
    screenshot(page, "member-import-360")
