"""Issue 13: find a member (phone through its keyed hash, card, scanned code, id), the admin's member view
with every list paged and the audit entries about them, and manual adjustments: reasoned, audited in their
own transaction, idempotent, never below zero, tiers kept consistent. Over HTTP on the local stack."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mini_program_api.db.models import PROFILE, Member, member_pk
from tests.http_race import post_at_once
from tests.ledger_checks import checked_balances

PHONE = "13912345678"


def _key() -> dict[str, str]:
    return {"idempotency-key": uuid.uuid4().hex}


def _adjust(
    api: Any,
    merchant: Any,
    member_id: str,
    account: str,
    amount: int,
    key: dict[str, str] | None = None,
    reason: str = "goodwill",
) -> tuple[int, Any]:
    return api.post(
        f"/v1/admin/members/{member_id}/adjustments",
        {"account": account, "amount": amount, "reason": reason},
        token=api.admin_token(merchant),
        headers=key or _key(),
    )


def _code(result: tuple[int, Any]) -> tuple[int, str]:
    return result[0], result[1]["error"]["code"]


@pytest.fixture
def member(api: Any, merchant: Any) -> dict[str, Any]:
    return api.member_with_card(merchant, phone=PHONE)


def test_find_a_member_by_phone_card_code_or_id(
    api: Any, merchant: Any, member: dict[str, Any], make_merchant: Any
) -> None:
    admin = api.admin_token(merchant)
    member_id, card = member["member"]["member_id"], member["member"]["card"]["number"]
    queries = [
        f"phone={PHONE}",
        f"card_number={card}",
        f"member_code={api.member_code(member['token'])}",
        f"member_id={member_id}",
    ]
    for query in queries:
        body = api.ok("GET", f"/v1/admin/members?{query}", token=admin)
        assert [m["member_id"] for m in body["members"]] == [member_id], query
        assert body["members"][0]["phone"] == "139****5678" and PHONE not in str(body)
    for query in ("phone=13900000000", "card_number=100000000000", "member_code=" + "1" * 18, "member_id=nobody"):
        assert api.ok("GET", f"/v1/admin/members?{query}", token=admin)["members"] == []
    for query in (f"phone={PHONE}&member_id={member_id}", "phone=abc", "nickname=x", f"name=x&phone={PHONE}"):
        assert _code(api.get(f"/v1/admin/members?{query}", token=admin)) == (400, "VALIDATION_ERROR"), query
    other = api.admin_token(make_merchant())
    for query in queries[:2] + queries[3:]:  # another merchant's admin finds nobody
        assert api.ok("GET", f"/v1/admin/members?{query}", token=other)["members"] == []


def test_with_no_key_every_cardholder_is_listed_once_paged(api: Any, make_merchant: Any) -> None:
    """The members page opens on the merchant's cardholders: every one once over the pages (the sharded
    cardholder walk), nobody without a card, nobody of another merchant; a cursor not made here is a 400."""
    merchant, other = make_merchant(), make_merchant()
    carded = {api.member_with_card(merchant)["member"]["member_id"] for _ in range(5)}
    api.login(merchant)  # a member without a card: not a cardholder
    api.member_with_card(other)
    admin, seen, cursor = api.admin_token(merchant), [], None
    for _ in range(10):
        page = api.ok("GET", "/v1/admin/members?limit=2" + (f"&cursor={cursor}" if cursor else ""), token=admin)
        assert len(page["members"]) <= 2
        seen += [m["member_id"] for m in page["members"]]
        cursor = page["cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(carded), (seen, carded)
    for cursor in ("999_x", "x_y", "abc"):
        assert _code(api.get(f"/v1/admin/members?cursor={cursor}", token=admin)) == (400, "INVALID_CURSOR"), cursor


def test_member_view_lists_and_the_audit_entries_about_them(api: Any, merchant: Any, member: dict[str, Any]) -> None:
    admin, member_id = api.admin_token(merchant), member["member"]["member_id"]
    api.ok("POST", "/v1/me/sign-in", token=member["token"])
    api.ok("POST", "/v1/topup/orders", {"plan_id": "p300"}, token=member["token"], headers=_key())
    assert _adjust(api, merchant, member_id, "bonus", 800)[0] == 200
    staff = api.staff_token(merchant)
    sale = api.ok(
        "POST",
        "/v1/staff/checkout",
        {"member_code": api.member_code(member["token"]), "amount": 1000, "stored_value": 500},
        token=staff,
        headers=_key(),
    )
    view = api.ok("GET", f"/v1/admin/members/{member_id}", token=admin)
    assert view["phone"] == "139****5678" and PHONE not in str(view)
    assert (view["points"], view["bonus"], view["principal"]) == (10 + 10, 300, 0)  # sign-in, and 10 yuan paid
    assert view["tier"]["id"] == "normal" and view["card"]["number"] == member["member"]["card"]["number"]
    orders = api.ok("GET", f"/v1/admin/members/{member_id}/orders", token=admin)
    assert [o["order_id"] for o in orders["orders"]] == [sale["order_id"]] and orders["orders"][0]["bonus_used"] == 500
    topups = api.ok("GET", f"/v1/admin/members/{member_id}/topups", token=admin)["topups"]
    assert [(t["status"], t["amount"]) for t in topups] == [("PENDING", 30000)]
    entries = api.ok("GET", f"/v1/admin/members/{member_id}/ledger?account=balance", token=admin)["entries"]
    assert [(e["kind"], e["amount"]) for e in entries] == [("CHECKOUT", -500), ("ADJUSTMENT", 800)]
    page = api.ok("GET", f"/v1/admin/members/{member_id}/ledger?account=points&limit=1", token=admin)
    assert len(page["entries"]) == 1 and page["cursor"]
    trail = api.ok("GET", f"/v1/admin/members/{member_id}/audit", token=admin)["records"]
    assert [r["action"] for r in trail] == ["CHECKOUT", "MEMBER_ADJUSTED"]
    assert trail[1]["detail"] == {"account": "bonus", "amount": 800, "reason": "goodwill"}
    assert all(r["member_id"] == member_id for r in trail)
    assert api.ok("GET", f"/v1/admin/members/{member_id}/coupons?status=used", token=admin)["coupons"] == []
    assert api.ok("GET", f"/v1/admin/members/{member_id}/punch-cards", token=admin)["punch_cards"] == []
    # The member sees their own orders and top-ups the same way.
    mine = api.ok("GET", "/v1/me/orders", token=member["token"])
    assert [o["order_id"] for o in mine["orders"]] == [sale["order_id"]]
    assert [t["amount"] for t in api.ok("GET", "/v1/me/topups", token=member["token"])["topups"]] == [30000]
    other = api.member_with_card(merchant)
    assert api.ok("GET", "/v1/me/orders", token=other["token"])["orders"] == []


def test_points_and_bonus_adjustments_are_reasoned_idempotent_and_never_below_zero(
    api: Any, merchant: Any, member: dict[str, Any]
) -> None:
    member_id = member["member"]["member_id"]
    key = _key()
    first = _adjust(api, merchant, member_id, "points", 300, key)
    assert first[0] == 200 and first[1]["member"]["points"] == 300 and first[1]["replayed"] is False
    again = _adjust(api, merchant, member_id, "points", 300, key)
    assert again[0] == 200 and again[1]["replayed"] is True and again[1]["member"]["points"] == 300
    assert _code(_adjust(api, merchant, member_id, "points", 301, key)) == (422, "IDEMPOTENCY_KEY_REUSED")
    bob = api.member_with_card(merchant)["member"]["member_id"]
    assert _code(_adjust(api, merchant, bob, "points", 300, key)) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert _code(_adjust(api, merchant, member_id, "points", -301)) == (409, "INSUFFICIENT_POINTS")
    assert _adjust(api, merchant, member_id, "points", -300)[1]["member"]["points"] == 0
    bad = [("points", 0, "x"), ("principal", 100, "x"), ("bonus", -1, "x"), ("points", 5, ""), ("growth", 1.5, "x")]
    for account, amount, reason in bad:
        assert _code(_adjust(api, merchant, member_id, account, amount, reason=reason)) == (400, "VALIDATION_ERROR")
    status, body = api.post(
        f"/v1/admin/members/{member_id}/adjustments",
        {"account": "points", "amount": 5, "reason": "x"},
        token=api.admin_token(merchant),
    )
    assert (status, body["error"]["code"]) == (400, "INVALID_IDEMPOTENCY_KEY")
    assert _code(_adjust(api, merchant, "nobody", "points", 5)) == (404, "MEMBER_NOT_FOUND")
    assert checked_balances(merchant.merchant_id, member_id)["points"] == 0
    assert checked_balances(merchant.merchant_id, bob)["points"] == 0


def test_growth_adjustments_keep_tiers_consistent(api: Any, merchant: Any, member: dict[str, Any]) -> None:
    member_id = member["member"]["member_id"]
    up = _adjust(api, merchant, member_id, "growth", 1200)[1]["member"]
    assert (up["tier"]["id"], up["growth"]) == ("silver", 1200)
    down = _adjust(api, merchant, member_id, "growth", -700)[1]["member"]
    assert (down["tier"]["id"], down["growth"], down["tier_growth"]) == ("silver", 500, 500)  # never lowered by hand
    assert _code(_adjust(api, merchant, member_id, "growth", -501)) == (409, "INSUFFICIENT_GROWTH")
    # After an annual review moved 400 of the 500 into the base: taking 300 empties qualifying growth first.
    Member(member_pk(merchant.merchant_id, member_id), PROFILE).update(actions=[Member.tier_base.set(400)])
    after = _adjust(api, merchant, member_id, "growth", -300)[1]["member"]
    assert (after["growth"], after["tier_growth"]) == (200, 0)
    row = Member.get(member_pk(merchant.merchant_id, member_id), PROFILE, consistent_read=True)
    assert int(row.tier_base) == 200 and int(row.growth) - int(row.tier_base) == 0
    checked_balances(merchant.merchant_id, member_id)


def test_concurrent_debits_and_a_raced_key_move_value_once(
    api: Any, merchant: Any, member: dict[str, Any], api_url: str
) -> None:
    member_id = member["member"]["member_id"]
    assert _adjust(api, merchant, member_id, "points", 500)[0] == 200
    url, token = f"{api_url}/v1/admin/members/{member_id}/adjustments", api.admin_token(merchant)
    debit = {"account": "points", "amount": -100, "reason": "race"}
    barrier = threading.Barrier(8)
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: post_at_once(barrier, url, debit, token, _key()), range(8)))
    assert sorted(outcomes) == [(200, "")] * 5 + [(409, "INSUFFICIENT_POINTS")] * 3
    same = _key()
    barrier = threading.Barrier(6)
    credit = {"account": "points", "amount": 70, "reason": "race"}
    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(lambda _: post_at_once(barrier, url, credit, token, same), range(6)))
    assert {s for s, _ in outcomes} == {200}
    assert checked_balances(merchant.merchant_id, member_id)["points"] == 70


def test_admin_issues_a_coupon_from_stock_and_gives_punch_visits(
    api: Any, merchant: Any, member: dict[str, Any]
) -> None:
    admin, member_id = api.admin_token(merchant), member["member"]["member_id"]
    template = api.ok(
        "POST",
        "/v1/admin/coupon-templates",
        {
            "name": "5元",
            "kind": "CASH",
            "amount": 500,
            "total_stock": 2,
            "per_member_limit": 1,
            "days_after_claim": 7,
            "listed": False,
        },
        token=admin,
    )
    path, body, key = (
        f"/v1/admin/members/{member_id}/coupons",
        {"template_id": template["template_id"], "reason": "complaint"},
        _key(),
    )
    first = api.ok("POST", path, body, token=admin, headers=key)
    assert api.ok("POST", path, body, token=admin, headers=key)["coupon_id"] == first["coupon_id"]
    second = api.ok("POST", path, body, token=admin, headers=_key())  # past the claim limit: an admin's gift
    assert second["coupon_id"] != first["coupon_id"]
    assert _code(api.post(path, body, token=admin, headers=_key())) == (409, "SOLD_OUT")
    assert api.ok("GET", f"/v1/admin/coupon-templates/{template['template_id']}", token=admin)["remaining"] == 0
    assert _code(api.post(path, {**body, "template_id": "CTnope"}, token=admin, headers=_key())) == (
        404,
        "TEMPLATE_NOT_FOUND",
    )
    coupons = api.ok("GET", "/v1/me/coupons", token=member["token"])["coupons"]
    assert {c["coupon_id"] for c in coupons} == {first["coupon_id"], second["coupon_id"]}

    plan = api.ok("POST", "/v1/admin/punch-card-plans", {"name": "10杯", "visits": 10, "valid_days": 30}, token=admin)
    card = api.ok(
        "POST", f"/v1/admin/members/{member_id}/punch-cards", {"plan_id": plan["plan_id"]}, token=admin, headers=_key()
    )
    visits = f"/v1/admin/members/{member_id}/punch-cards/{card['card_id']}/visits"
    key = _key()
    assert api.ok("POST", visits, {"visits": 3, "reason": "machine broke"}, token=admin, headers=key)["uses_left"] == 13
    assert api.ok("POST", visits, {"visits": 3, "reason": "machine broke"}, token=admin, headers=key)["uses_left"] == 13
    assert api.post(visits, {"visits": 0, "reason": "x"}, token=admin, headers=_key())[0] == 400
    bob = api.member_with_card(merchant)["member"]["member_id"]
    assert _code(
        api.post(
            f"/v1/admin/members/{bob}/punch-cards/{card['card_id']}/visits",
            {"visits": 1, "reason": "x"},
            token=admin,
            headers=_key(),
        )
    ) == (404, "PUNCH_CARD_NOT_FOUND")
    assert checked_balances(merchant.merchant_id, member_id)[f"punch:{card['card_id']}"] == 13
    actions = [r["action"] for r in api.ok("GET", f"/v1/admin/members/{member_id}/audit", token=admin)["records"]]
    assert actions == ["PUNCH_VISITS_GIVEN", "PUNCH_CARD_GIVEN", "COUPON_ISSUED", "COUPON_ISSUED"]


def test_member_care_refuses_members_staff_other_merchants_disabled_and_revoked(
    api: Any, merchant: Any, member: dict[str, Any], make_merchant: Any
) -> None:
    member_id = member["member"]["member_id"]
    base = f"/v1/admin/members/{member_id}"
    routes = [
        ("GET", f"/v1/admin/members?member_id={member_id}", None),
        ("GET", base, None),
        ("GET", f"{base}/orders", None),
        ("GET", f"{base}/audit", None),
        ("POST", f"{base}/adjustments", {"account": "points", "amount": 5, "reason": "x"}),
    ]
    other = api.admin_token(make_merchant())
    second = api.admin_token(merchant, "admin-2")
    revoked = api.admin_token(merchant, "admin-3")
    api.ok("POST", "/v1/admin/staff/admin-2/disable", token=api.admin_token(merchant))
    api.ok("POST", "/v1/admin/staff/admin-3/revoke-sessions", token=api.admin_token(merchant))
    staff = api.staff_token(merchant)
    for method, path, body in routes:
        assert api.call(method, path, body, token=member["token"], headers=_key())[0] == 403
        assert api.call(method, path, body, token=staff, headers=_key())[0] == 403
        assert _code(api.call(method, path, body, token=second, headers=_key())) == (403, "ACCOUNT_DISABLED")
        assert _code(api.call(method, path, body, token=revoked, headers=_key())) == (401, "SESSION_REVOKED")
        status, found = api.call(method, path, body, token=other, headers=_key())
        assert status == 404 or found == {"members": [], "cursor": None}, (path, status, found)
    assert checked_balances(merchant.merchant_id, member_id)["points"] == 0
