"""Member search → 360 view → manual adjustment: a retry after a lost answer, and a double click, move value once."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, Route, expect

from .conftest import account, assert_accessible, screenshot, signed_in


def test_search_open_adjust_with_a_lost_answer_and_a_double_click_moves_points_once(
    page: Page, console_url: str, api: Any, merchant: Any
) -> None:
    admin = account(api, merchant, "admin")
    member = api.member_with_card(merchant, phone="13912345678")["member"]
    member_id = member["member_id"]
    signed_in(page, api, merchant, admin)
    page.goto(f"{console_url}/members")
    expect(page.locator("[data-test=members]")).to_contain_text("139****5678")  # the cardholders, unsearched
    assert_accessible(page)
    page.get_by_label("查询内容").fill("13912345678")
    page.get_by_label("查询内容").press("Enter")
    expect(page).to_have_url(f"{console_url}/members/{member_id}")
    expect(page.locator("[data-test=member-points]")).to_have_text("0")
    assert_accessible(page)

    # The first answer is lost on its way back: the API applied it, the browser saw a network error.
    keys: list[str] = []
    lost: list[bool] = []

    def lose_the_first_answer(route: Route) -> None:
        keys.append(route.request.headers["idempotency-key"])
        if not lost:
            lost.append(True)
            route.fetch()  # reaches the API, which moves the points
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/v1/admin/members/*/adjustments", lose_the_first_answer)
    page.locator("[data-test=adjust]").click()
    page.get_by_label("调整数量（负数为扣减）").fill("50")
    page.get_by_label("原因").fill("补偿：咖啡洒了")
    page.locator("[data-test=adjust-submit]").click()
    expect(page.get_by_role("dialog").get_by_role("alert")).to_contain_text("网络异常")
    expect(page.get_by_label("调整数量（负数为扣减）")).to_have_value("50")  # the form stays filled
    page.locator("[data-test=adjust-submit]").dblclick()  # the retry, double-clicked
    expect(page.locator("[data-test=member-points]")).to_have_text("50")
    screenshot(page, "member-360-adjusted")

    assert len(keys) >= 2 and len(set(keys)) == 1, keys  # every try sent the dialog's one key
    admin_token = api.admin_token(merchant)
    assert api.ok("GET", f"/v1/admin/members/{member_id}", token=admin_token)["points"] == 50
    entries = api.ok("GET", f"/v1/admin/members/{member_id}/ledger?account=points", token=admin_token)["entries"]
    assert [e["amount"] for e in entries] == [50], entries

    # A new opening is a new adjustment: another key, another 50 points.
    page.unroute("**/v1/admin/members/*/adjustments")
    page.locator("[data-test=adjust]").click()
    page.get_by_label("调整数量（负数为扣减）").fill("50")
    page.get_by_label("原因").fill("再补偿")
    page.locator("[data-test=adjust-submit]").click()
    expect(page.locator("[data-test=member-points]")).to_have_text("100")
    page.get_by_role("tab", name="积分明细").click()
    expect(page.locator("[data-test=ledger-points] tbody tr")).to_have_count(2)
    assert_accessible(page)


def test_a_paid_top_up_refunded_from_the_360_view_and_the_audit_tab(
    page: Page, console_url: str, api: Any, merchant: Any, sandbox: Any
) -> None:
    import json
    import uuid

    admin = account(api, merchant, "admin")
    member = api.member_with_card(merchant)
    member_id = member["member"]["member_id"]
    status, order = api.post(
        "/v1/topup/orders", {"amount": 10000}, token=member["token"], headers={"idempotency-key": uuid.uuid4().hex}
    )
    assert status == 200, order
    assert json.loads(sandbox.pay.pay(order["order_id"]).get_data())["deliveries"] == [204]
    signed_in(page, api, merchant, admin)
    page.goto(f"{console_url}/members/{member_id}")
    expect(page.locator("[data-test=member-balance]")).to_have_text("¥100.00")
    page.get_by_role("tab", name="充值").click()
    topups = page.locator("[data-test=member-topups] tbody tr")
    expect(topups).to_have_count(1)
    topups.get_by_role("button", name="退款").click()
    page.get_by_role("dialog").get_by_role("button", name="确定").click()
    expect(page.locator("[data-test=member-balance]")).to_have_text("¥0.00")
    expect(topups).not_to_contain_text("PAID")
    refunded = api.ok("GET", f"/v1/admin/members/{member_id}/topups", token=api.admin_token(merchant))["topups"]
    assert [(t["order_id"], t["refund_amount"]) for t in refunded] == [(order["order_id"], 10000)]
    page.get_by_role("tab", name="操作记录").click()
    expect(page.locator("[data-test=member-audit] tbody tr").first).to_be_visible()
    assert_accessible(page)
    screenshot(page, "member-360-topup-refunded")
