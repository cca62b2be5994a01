"""Stores and staff (create, disable: the account can no longer sign in) and the reports (rows in yuan, the API's
own CSV downloaded)."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import Page, expect

from .conftest import PASSWORD, account, assert_accessible, screenshot, signed_in


def test_add_a_store_and_a_cashier_then_disable_the_cashier(
    page: Page, console_url: str, api: Any, merchant: Any
) -> None:
    admin = account(api, merchant, "admin")
    signed_in(page, api, merchant, admin)
    page.goto(f"{console_url}/staff")
    page.get_by_label("门店编号").fill("s9")
    page.get_by_label("门店名称").fill("静安寺店")
    page.get_by_role("button", name="新增门店").click()
    expect(page.locator("[data-test=stores]")).to_contain_text("静安寺店")
    page.get_by_label("门店编号").fill("s9")
    page.get_by_label("门店名称").fill("again")
    page.get_by_role("button", name="新增门店").click()
    expect(page.get_by_role("alert").first).to_be_visible()  # the API's refusal, where the user acted
    username = f"c-{uuid.uuid4().hex[:6]}"
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.locator(".el-select", has=page.locator("#staff-store")).click()
    page.get_by_role("option", name="静安寺店").click()
    page.get_by_role("button", name="新增账号").click()
    status = page.locator(f"[data-test=account-{username}]")
    expect(status).to_have_text("正常")
    login = {"merchant_id": merchant.merchant_id, "username": username, "password": PASSWORD}
    assert api.post("/v1/staff/login", login)[0] == 200
    page.locator("[data-test=accounts] tbody tr", has=status).get_by_role("button", name="停用").click()
    expect(status).to_have_text("已停用")
    status_code, body = api.post("/v1/staff/login", login)
    assert (status_code, body["error"]["code"]) == (403, "ACCOUNT_DISABLED")
    assert_accessible(page)
    screenshot(page, "stores-and-staff")


def test_reports_show_rows_in_yuan_and_download_the_apis_csv(
    page: Page, console_url: str, api: Any, merchant: Any
) -> None:
    admin = account(api, merchant, "admin")
    member = api.member_with_card(merchant)
    cashier = api.staff_token(merchant, "s1")
    api.ok(
        "POST",
        "/v1/staff/checkout",
        {"member_code": api.member_code(member["token"]), "amount": 4321},
        token=cashier,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    signed_in(page, api, merchant, admin)
    page.goto(f"{console_url}/reports")
    expect(page.locator("[data-test=report-rows]")).to_contain_text("¥43.21")
    assert_accessible(page)
    first, last = (page.locator(f"[data-test=range-{end}]").input_value() for end in ("from", "to"))
    with page.expect_download() as download:
        page.locator("[data-test=report-csv]").click()
    saved = download.value
    assert saved.suggested_filename == f"sales-{first}-{last}.csv"
    with open(saved.path(), encoding="utf-8") as f:
        text = f.read()
    assert text.splitlines()[0].startswith("day,store_id,staff_id,orders,gross")
    assert ",4321," in text
    screenshot(page, "reports")
