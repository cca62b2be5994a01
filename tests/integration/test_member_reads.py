"""Issue 13, member read-backs: my receipts and top-ups (paged, only mine), the open stores, and the
subscribe-message template ids per notice kind, so the mini program hard-codes none of them."""

from __future__ import annotations

import uuid
from typing import Any

from mini_program_api.money import ledger
from mini_program_api.money.ledger import Account, Operation


def _key() -> dict[str, str]:
    return {"idempotency-key": uuid.uuid4().hex}


def test_my_orders_and_topups_page_newest_first(api: Any, merchant: Any) -> None:
    member = api.member_with_card(merchant)
    ledger.post(
        merchant.merchant_id,
        member["member"]["member_id"],
        Operation(f"test-{uuid.uuid4().hex[:8]}", "TEST_CREDIT", ledger.postings({Account.PRINCIPAL: 9000})),
    )
    staff = api.staff_token(merchant)
    sales = [
        api.ok(
            "POST",
            "/v1/staff/checkout",
            {"member_code": api.member_code(member["token"]), "amount": 1000 + i, "stored_value": 100},
            token=staff,
            headers=_key(),
        )["order_id"]
        for i in range(3)
    ]
    api.ok("POST", f"/v1/staff/orders/{sales[0]}/refund", token=staff)
    seen, cursor = [], None
    while True:
        page = api.ok("GET", "/v1/me/orders?limit=2" + (f"&cursor={cursor}" if cursor else ""), token=member["token"])
        assert len(page["orders"]) <= 2
        seen += page["orders"]
        cursor = page["cursor"]
        if not cursor:
            break
    assert [o["order_id"] for o in seen] == sales[::-1]
    assert seen[-1]["status"] == "REFUNDED" and seen[-1]["cash_refund"] == 1000 - 100
    assert api.get("/v1/me/orders?cursor=junk", token=member["token"])[1]["error"]["code"] == "INVALID_CURSOR"
    orders = [
        api.ok("POST", "/v1/topup/orders", {"amount": 1000 * (i + 1)}, token=member["token"], headers=_key())[
            "order_id"
        ]
        for i in range(2)
    ]
    topups = api.ok("GET", "/v1/me/topups", token=member["token"])["topups"]
    assert [t["order_id"] for t in topups] == orders[::-1] and {t["status"] for t in topups} == {"PENDING"}
    other = api.member_with_card(merchant)
    assert api.ok("GET", "/v1/me/topups", token=other["token"])["topups"] == []
    assert api.get("/v1/me/orders", token=staff)[0] == 403


def test_stores_and_message_templates_for_the_mini_program(api: Any, merchant: Any) -> None:
    admin, member = api.admin_token(merchant), api.member_with_card(merchant)
    for store_id in ("a", "b", "c"):
        api.ok("POST", "/v1/admin/stores", {"store_id": store_id, "name": f"店 {store_id}"}, token=admin)
    api.ok("POST", "/v1/admin/stores/b/close", token=admin)
    stores = api.ok("GET", "/v1/stores?limit=100", token=member["token"])
    assert [(s["store_id"], s["name"], s["closed_at"]) for s in stores["stores"]] == [
        ("a", "店 a", None),
        ("c", "店 c", None),
    ]
    assert api.ok("GET", "/v1/message-templates", token=member["token"]) == {"templates": {}}
    api.ok(
        "PATCH",
        "/v1/admin/settings",
        {"message_templates": {"coupon_expiry": "tpl-ce", "birthday": "tpl-b"}},
        token=admin,
    )
    assert api.ok("GET", "/v1/message-templates", token=member["token"]) == {
        "templates": {"coupon_expiry": "tpl-ce", "birthday": "tpl-b"}
    }
    assert api.get("/v1/stores", token=admin)[0] == 403 and api.get("/v1/message-templates", token=admin)[0] == 403
    assert api.get("/v1/stores")[0] == 401
