"""The member's 360 view: their consents, and deletion on their request refused in the dialog while stored value
remains, then done once the top-up is refunded."""

from __future__ import annotations

import json
import uuid
from typing import Any

from playwright.sync_api import Page, expect

from mini_program_api.db.models import PROFILE, Member, member_pk

from .conftest import account, assert_accessible, no_horizontal_overflow, screenshot, signed_in


def test_consents_shown_and_deletion_refused_with_stored_value_then_done(
    page: Page, console_url: str, api: Any, merchant: Any, sandbox: Any
) -> None:
    admin = account(api, merchant, "admin")
    member = api.member_with_card(merchant)
    member_id = member["member"]["member_id"]
    status, order = api.post(
        "/v1/topup/orders", {"amount": 10000}, token=member["token"], headers={"idempotency-key": uuid.uuid4().hex}
    )
    assert status == 200, order
    assert json.loads(sandbox.pay.pay(order["order_id"]).get_data())["deliveries"] == [204]

    page.set_viewport_size({"width": 375, "height": 800})
    signed_in(page, api, merchant, admin)
    page.goto(f"{console_url}/members/{member_id}")
    consents = page.locator("[data-test=consents] tbody tr")
    expect(consents).to_have_count(1)
    expect(consents.first).to_contain_text("会员条款")
    no_horizontal_overflow(page)
    assert_accessible(page)

    page.locator("[data-test=delete-account]").click()
    page.get_by_label("原因").fill("会员来电要求注销")
    page.locator("[data-test=erase-confirm]").click()
    refusal = page.get_by_role("dialog").get_by_role("alert")
    expect(refusal).to_contain_text("/v1/admin/topup/orders/{order_id}/refund")  # where the admin acted, and how
    assert_accessible(page)
    screenshot(page, "member-360-deletion-refused")
    row = Member.get(member_pk(merchant.merchant_id, member_id), PROFILE, consistent_read=True)
    assert row.erased_at is None  # the refusal changed nothing

    # Refunded as the message says (and paid back by WeChat), the same dialog's retry goes through.
    api.ok("POST", f"/v1/admin/topup/orders/{order['order_id']}/refund", token=api.admin_token(merchant))
    refund = next(r for (_, _), r in sandbox.pay.refunds.items() if r["out_trade_no"] == order["order_id"])
    sandbox.pay.settle_refund(refund["out_refund_no"], status="SUCCESS")
    page.locator("[data-test=erase-confirm]").click()
    expect(page.locator("[data-test=data-rights]")).to_contain_text("注销")
    expect(page.locator("[data-test=delete-account]")).to_be_disabled()
    screenshot(page, "member-360-deleted")
    row = Member.get(member_pk(merchant.merchant_id, member_id), PROFILE, consistent_read=True)
    assert row.erased_at is not None and row.phone_enc is None and row.card_number is None
    assert api.get("/v1/me", token=member["token"])[1]["error"]["code"] == "ACCOUNT_DELETED"
