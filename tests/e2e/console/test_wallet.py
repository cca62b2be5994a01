"""The WeChat 卡包 card form: the card face previewed as it is typed, saved to WeChat (the sandbox), its review
state shown."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import Page, expect

from .conftest import account, assert_accessible, screenshot, signed_in


def test_card_form_previews_and_saves(page: Page, console_url: str, api: Any, merchant: Any, sandbox: Any) -> None:
    admin = account(api, merchant, "admin")
    suffix = uuid.uuid4().hex[:10]
    oa_appid, secret = f"wxoa{suffix}", f"oa-secret-{suffix}"
    sandbox.apps[oa_appid] = secret
    signed_in(page, api, merchant, admin)
    page.goto(f"{console_url}/wallet")
    for label, value in (
        ("公众号 AppID", oa_appid),
        ("公众号密钥（引用）", f"dev:{secret}"),
        ("事件推送 Token（引用）", f"dev:evtoken{suffix}"),
        ("商户名称", "Test Coffee"),
        ("卡券名称", "咖啡会员卡"),
        ("Logo 地址", "https://example.com/logo.png"),
        ("会员权益", "会员享九五折"),
        ("使用提醒", "出示会员卡"),
        ("使用说明", "会员卡说明"),
    ):
        page.get_by_label(label, exact=True).fill(value)
    preview = page.locator("[data-test=wallet-preview]")
    expect(preview).to_contain_text("咖啡会员卡")
    expect(preview).to_have_css("background-color", "rgb(99, 179, 89)")  # Color010
    page.locator(".el-select", has=page.locator("#wallet-color")).click()
    page.get_by_role("option", name="Color090").click()
    expect(preview).to_have_css("background-color", "rgb(221, 101, 73)")
    expect(page.get_by_role("listbox")).to_be_hidden()  # the colour list closed before axe looks
    page.get_by_text("显示余额").click()
    expect(page.get_by_role("complementary").get_by_text("¥100.00")).to_have_count(0)
    assert_accessible(page)
    page.locator("[data-test=wallet-save]").click()
    expect(page.locator("[data-test=wallet-review]")).to_be_visible()
    card = api.ok("GET", "/v1/admin/wallet/card", token=api.admin_token(merchant))
    assert (card["title"], card["color"], card["show_balance"]) == ("咖啡会员卡", "Color090", False)
    assert card["card_id"]
    expect(page.locator("[data-test=wallet-review]")).to_contain_text(card["card_id"])
    screenshot(page, "wallet-card")
