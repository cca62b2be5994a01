"""The member's own data (issue 25 §4): consent records, the export, account deletion and its races.

Given members with a history (terms agreed, subscribe answers, top-ups, sales, coupons, points), when they ask
for their data or its deletion, then the export holds every section, paged, and nothing of another member; the
deletion is refused while stored value remains, and otherwise leaves no phone, name or openid in the table,
keeps the books equal, ends the member's tokens, answers a retry the same, and never leaves stored value on an
erased member whatever races it.
"""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mini_program_api.db.coupons import Coupon
from mini_program_api.db.models import PROFILE, Member, connection, member_pk
from mini_program_api.merchants import configuration
from mini_program_api.platform.clock import local_date, now
from mini_program_api.platform.config import settings
from mini_program_api.reports import liability, read
from tests.http_race import post_at_once
from tests.ledger_checks import checked_balances

TEMPLATES = {"coupon_expiry": "tpl-coupon", "points_expiry": "tpl-points"}
SECTIONS = {
    "ledger",
    "coupons",
    "punch_cards",
    "orders",
    "topups",
    "referrals",
    "consents",
    "messages",
    "subscriptions",
    "audit",
}


@pytest.fixture
def shop(merchant: Any) -> Any:
    return configuration.update_settings(merchant.merchant_id, message_templates=TEMPLATES)


def _member(api: Any, merchant: Any, name: str = "张三") -> dict[str, Any]:
    session = api.login(merchant)
    token = session["token"]
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    assert api.post("/v1/me/phone", {"code": f"phone:{phone}:{uuid.uuid4().hex[:6]}"}, token=token)[0] == 200
    status, body = api.post(
        "/v1/me/card",
        {"agreed_terms_version": merchant.terms_version, "name": name, "birthday": "1990-05-17"},
        token=token,
    )
    assert status == 200, body
    row = Member.get(member_pk(merchant.merchant_id, body["member_id"]), PROFILE, consistent_read=True)
    return {"token": token, "id": body["member_id"], "phone": phone, "name": name, "openid": row.openid}


def _invited_by(api: Any, merchant: Any, inviter: dict[str, Any]) -> dict[str, Any]:
    """A new member who logged in with `inviter`'s invite code, bound a phone and opened a card (their login)."""
    invite = api.get("/v1/me", token=inviter["token"])[1]["invite_code"]
    status, invited = api.post(
        "/v1/auth/login", {"appid": merchant.appid, "code": f"test:o-{uuid.uuid4().hex[:12]}:c", "invite_code": invite}
    )
    assert status == 200 and invited["invite"] == "ACCEPTED", invited
    phone = f"phone:13{uuid.uuid4().int % 10**9:09d}:c"
    assert api.post("/v1/me/phone", {"code": phone}, token=invited["token"])[0] == 200
    status, card = api.post("/v1/me/card", {"agreed_terms_version": merchant.terms_version}, token=invited["token"])
    assert status == 200, card
    return dict(invited)


def _paid(api: Any, sandbox: Any, member: dict[str, Any], plan_id: str = "p300") -> str:
    status, order = api.post(
        "/v1/topup/orders", {"plan_id": plan_id}, token=member["token"], headers={"idempotency-key": uuid.uuid4().hex}
    )
    assert status == 200, order
    assert json.loads(sandbox.pay.pay(order["order_id"]).get_data())["deliveries"] == [204]
    return str(order["order_id"])


def _settle(sandbox: Any, merchant: Any, order_id: str) -> None:
    refund = next(
        r
        for (mchid, _), r in sandbox.pay.refunds.items()
        if mchid == merchant.pay.mchid and r["out_trade_no"] == order_id
    )
    sandbox.pay.settle_refund(refund["out_refund_no"], status="SUCCESS")


def _refunded(api: Any, merchant: Any, sandbox: Any, order_id: str, settle: bool = True) -> None:
    status, body = api.post(f"/v1/admin/topup/orders/{order_id}/refund", token=api.admin_token(merchant))
    assert status == 200, body
    if settle:
        _settle(sandbox, merchant, order_id)


def _sale(api: Any, merchant: Any, member: dict[str, Any], amount: int, **pay: int) -> dict[str, Any]:
    code = api.member_code(member["token"])
    status, receipt = api.post(
        "/v1/staff/checkout",
        {"member_code": code, "amount": amount, **pay},
        token=api.staff_token(merchant, "s1"),
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 200, receipt
    return dict(receipt)


def _claimed_coupon(api: Any, merchant: Any, member: dict[str, Any]) -> str:
    status, template = api.post(
        "/v1/admin/coupon-templates",
        {
            "name": "5元",
            "kind": "CASH",
            "amount": 500,
            "total_stock": 100,
            "per_member_limit": 1,
            "days_after_claim": 30,
        },
        token=api.admin_token(merchant),
    )
    assert status == 201, template
    status, coupon = api.post(
        f"/v1/coupons/offers/{template['template_id']}/claim",
        token=member["token"],
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 200, coupon
    return str(coupon["coupon_id"])


def _export_all(api: Any, token: str, limit: int = 100) -> dict[str, Any]:
    """The whole export: the first call, then every section's cursor followed to its end."""
    status, first = api.get(f"/v1/me/data-export?limit={limit}", token=token)
    assert status == 200, first
    everything = {name: list(section["items"]) for name, section in first["sections"].items()}
    for name, section in first["sections"].items():
        cursor = section["cursor"]
        while cursor:
            status, more = api.get(f"/v1/me/data-export?section={name}&cursor={cursor}&limit={limit}", token=token)
            assert status == 200, more
            assert more["profile"] is None and set(more["sections"]) == {name}
            everything[name] += more["sections"][name]["items"]
            cursor = more["sections"][name]["cursor"]
    return {"profile": first["profile"], "sections": everything}


def _table_text() -> str:
    """Every item of the test's table, as text: what a scan for leftover personal data reads."""
    client, items, start = connection().client, [], None
    while True:
        page = client.scan(TableName=settings().table_name, **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return json.dumps(items, ensure_ascii=False)


# --- consents ---------------------------------------------------------------------------------------


def test_every_agreement_and_subscribe_answer_is_kept_paged_and_shown_to_the_admin(api: Any, shop: Any) -> None:
    member = _member(api, shop)
    assert (
        api.post(
            "/v1/me/subscriptions",
            {"template_ids": ["tpl-coupon"], "refused": {"tpl-points": "REJECT"}},
            token=member["token"],
        )[0]
        == 200
    )
    configuration.update_settings(shop.merchant_id, terms_version="2")
    status, body = api.post("/v1/me/card", {"agreed_terms_version": "2"}, token=member["token"])
    assert status == 200, body
    assert api.post("/v1/me/subscriptions", {"template_ids": ["tpl-coupon"]}, token=member["token"])[0] == 200
    # Only refusals: still an answer to keep. An unknown template or none at all is refused, and nothing is kept.
    assert api.post("/v1/me/subscriptions", {"refused": {"tpl-coupon": "BAN"}}, token=member["token"])[0] == 200
    for bad in (
        {},
        {"refused": {"not-ours": "REJECT"}},
        {"refused": {"tpl-coupon": "MAYBE"}},
        {"template_ids": ["tpl-coupon"], "refused": {"tpl-coupon": "REJECT"}},
    ):
        status, error = api.post("/v1/me/subscriptions", bad, token=member["token"])
        assert (status, error["error"]["code"]) == (400, "VALIDATION_ERROR"), bad

    admin, seen, cursor = api.admin_token(shop), [], None
    while True:
        status, page = api.get(
            f"/v1/admin/members/{member['id']}/consents?limit=2" + (f"&cursor={cursor}" if cursor else ""), token=admin
        )
        assert status == 200, page
        assert len(page["consents"]) <= 2
        seen += page["consents"]
        cursor = page["cursor"]
        if not cursor:
            break
    answers = [(c["kind"], c["terms_version"], c["template_id"], c["decision"]) for c in seen]
    # Newest first, every agreement and not only the last (the two answers of one call share their time).
    assert answers[:3] == [
        ("SUBSCRIBE", None, "tpl-coupon", "BAN"),
        ("SUBSCRIBE", None, "tpl-coupon", "ACCEPT"),
        ("TERMS", "2", None, "AGREE"),
    ]
    assert sorted(answers[3:5]) == [
        ("SUBSCRIBE", None, "tpl-coupon", "ACCEPT"),
        ("SUBSCRIBE", None, "tpl-points", "REJECT"),
    ]
    assert answers[5:] == [("TERMS", "1", None, "AGREE")]
    assert [c["at"] for c in seen] == sorted((c["at"] for c in seen), reverse=True)
    exported = _export_all(api, member["token"])["sections"]["consents"]
    assert len(exported) == 6 and {c["decision"] for c in exported} == {"AGREE", "ACCEPT", "REJECT", "BAN"}

    other_admin = api.admin_token(_other_merchant(shop))
    status, error = api.get(f"/v1/admin/members/{member['id']}/consents", token=other_admin)
    assert (status, error["error"]["code"]) == (404, "MEMBER_NOT_FOUND")


def _other_merchant(merchant: Any) -> Any:
    from mini_program_api.db.models import Merchant

    other = Merchant(
        f"MCH#{merchant.merchant_id}-x",
        PROFILE,
        merchant_id=f"{merchant.merchant_id}-x",
        name="Other",
        appid=f"{merchant.appid}-x",
        app_secret_ref="dev:x",
        created_at=merchant.created_at,
    )
    other.save()
    return other


# --- the export -------------------------------------------------------------------------------------


def test_the_export_has_every_section_paged_and_nothing_of_another_member(api: Any, shop: Any, sandbox: Any) -> None:
    alice, bob = _member(api, shop, "爱丽丝"), _member(api, shop, "鲍勃")
    for who in (alice, bob):
        _paid(api, sandbox, who)
        _sale(api, shop, who, 5000, stored_value=1000)
        if who is alice:
            _claimed_coupon(api, shop, who)
        assert api.post("/v1/me/sign-in", token=who["token"])[0] == 200
        assert api.post("/v1/me/subscriptions", {"template_ids": ["tpl-coupon"]}, token=who["token"])[0] == 200

    configuration.update_settings(shop.merchant_id, referral_points=100)  # Carol, invited by Alice: a referral each
    carol = _invited_by(api, shop, alice)

    whole = _export_all(api, alice["token"], limit=1)  # one item a page: every section's cursor is followed
    assert set(whole["sections"]) == SECTIONS
    profile = whole["profile"]
    assert (profile["member_id"], profile["phone"], profile["name"], profile["birthday"]) == (
        alice["id"],
        alice["phone"],
        "爱丽丝",
        "1990-05-17",
    )
    assert profile["openid"] == alice["openid"] and "phone_enc" not in profile and "phone_hash" not in profile
    assert "phone_masked" not in profile  # derived from the phone given above: not a second number
    sections = whole["sections"]
    balances = checked_balances(shop.merchant_id, alice["id"])
    assert sum(e["amount"] for e in sections["ledger"] if e["account"] == "points") == balances["points"]
    assert sum(e["amount"] for e in sections["ledger"] if e["account"] == "principal") == balances["principal"]
    assert len(sections["topups"]) == 1 and sections["topups"][0]["status"] == "PAID"
    assert len(sections["orders"]) == 1 and sections["orders"][0]["amount"] == 5000
    assert len(sections["coupons"]) == 1 and len(sections["consents"]) == 2  # terms, one grant
    assert sections["subscriptions"] == [{"template_id": "tpl-coupon", "messages_allowed": 1}]

    text = json.dumps(whole, ensure_ascii=False)
    for trace in (bob["id"], bob["phone"], bob["name"], bob["openid"], carol["member"]["member_id"]):
        assert trace not in text
    assert [r["members_invited"] for r in sections["referrals"]] == [1]
    assert any(e["kind"] == "REFERRAL" for e in sections["ledger"])

    # A cursor is bound to its section and to the token's member: Bob replaying Alice's gets his own page.
    status, first = api.get("/v1/me/data-export?limit=1", token=alice["token"])
    cursor = first["sections"]["ledger"]["cursor"]
    status, page = api.get(f"/v1/me/data-export?section=ledger&cursor={cursor}&limit=50", token=bob["token"])
    assert status == 200 and alice["id"] not in json.dumps(page)
    for bad in (f"cursor={cursor}", f"section=coupons&cursor={cursor}", "section=passwords", "limit=0"):
        status, error = api.get(f"/v1/me/data-export?{bad}", token=alice["token"])
        assert status == 400 and error["error"]["code"] in ("VALIDATION_ERROR", "INVALID_CURSOR"), (bad, error)


# --- deletion ---------------------------------------------------------------------------------------


def test_deletion_is_refused_while_stored_value_remains_and_says_how(api: Any, shop: Any, sandbox: Any) -> None:
    member = _member(api, shop)
    order_id = _paid(api, sandbox, member)
    status, error = api.post("/v1/me/delete-account", token=member["token"])
    assert (status, error["error"]["code"]) == (409, "STORED_VALUE_REMAINS")
    details = error["error"]["details"]
    assert (details["principal"], details["bonus"], details["refundable_order_ids"]) == (30000, 5000, [order_id])
    assert "/v1/admin/topup/orders/{order_id}/refund" in error["error"]["message"]
    assert api.get("/v1/me", token=member["token"])[0] == 200  # nothing changed
    row = Member.get(member_pk(shop.merchant_id, member["id"]), PROFILE, consistent_read=True)
    assert row.erased_at is None and row.name == member["name"]

    # A top-up being paid holds it too.
    other = _member(api, shop)
    status, _ = api.post(
        "/v1/topup/orders", {"plan_id": "p300"}, token=other["token"], headers={"idempotency-key": uuid.uuid4().hex}
    )
    assert status == 200
    status, error = api.post("/v1/me/delete-account", token=other["token"])
    assert (status, error["error"]["code"], error["error"]["details"]["pending_topup"]) == (
        409,
        "STORED_VALUE_REMAINS",
        30000,
    )

    # Refunded as the message says: while WeChat has not paid it, a refund it closes would put the value back.
    _refunded(api, shop, sandbox, order_id, settle=False)
    status, error = api.post("/v1/me/delete-account", token=member["token"])
    assert (status, error["error"]["code"], error["error"]["details"]["refunding_order_ids"]) == (
        409,
        "STORED_VALUE_REMAINS",
        [order_id],
    )
    _settle(sandbox, shop, order_id)
    status, body = api.post("/v1/me/delete-account", token=member["token"])
    assert status == 200 and body["deleted"], body


def test_erasure_leaves_no_personal_data_keeps_the_books_and_ends_the_tokens(api: Any, shop: Any, sandbox: Any) -> None:
    member, bystander = _member(api, shop, "王小明"), _member(api, shop, "李四")
    order_id = _paid(api, sandbox, member)
    _refunded(api, shop, sandbox, order_id)
    _sale(api, shop, member, 12300)  # cash: points earned
    coupon_id = _claimed_coupon(api, shop, member)
    assert api.post("/v1/me/subscriptions", {"template_ids": ["tpl-coupon"]}, token=member["token"])[0] == 200
    _paid(api, sandbox, bystander)
    points = checked_balances(shop.merchant_id, member["id"])["points"]
    assert points > 0
    assert liability.run(shop.merchant_id).status == liability.MATCH
    totals = read.totals(shop.merchant_id)
    admin = api.admin_token(shop)
    stored_before = _stored_value_report(api, shop, admin)
    phone_hash = Member.get(member_pk(shop.merchant_id, member["id"]), PROFILE).phone_hash
    text = _table_text()
    assert all(t in text for t in (member["name"], member["openid"], phone_hash))  # what the scan below looks for

    status, erased = api.post("/v1/me/delete-account", token=member["token"])
    assert status == 200, erased
    assert (erased["member_id"], erased["points_forfeited"], erased["coupons_forfeited"]) == (member["id"], points, 1)

    text = _table_text()
    for trace in (member["phone"], member["name"], member["openid"], phone_hash, "1990-05-17#" + member["id"]):
        assert trace not in text, trace
    assert bystander["name"] in text  # the scan does read the table
    row = Member.get(member_pk(shop.merchant_id, member["id"]), PROFILE, consistent_read=True)
    assert (row.name, row.birthday, row.card_number, row.phone_enc, row.invite_code) == (None, None, None, None, None)
    assert row.phone_masked is None  # the masked copy goes with the cipher (a scan for it could meet the bystander's)
    assert checked_balances(shop.merchant_id, member["id"])["points"] == 0  # forfeited by a ledger entry

    after = read.totals(shop.merchant_id)
    assert (after["net_principal"], after["net_bonus"]) == (totals["net_principal"], totals["net_bonus"])
    assert after["net_points"] == totals["net_points"] - points
    check = liability.run(shop.merchant_id)
    assert check.status == liability.MATCH and int(check.sums.as_dict()["members"]) == 2  # still on the books
    assert _stored_value_report(api, shop, admin) == stored_before
    assert _coupons(shop, member["id"]) == [(coupon_id, "FORFEITED")]

    # A malformed query too: the erasure is answered, not the query (routes/endpoint.py checks the member first).
    for path in (
        "/v1/me",
        "/v1/me/ledger?account=points",
        "/v1/me/ledger?account=nope",
        "/v1/me/data-export",
        "/v1/me/code",
    ):
        status, error = api.get(path, token=member["token"])
        assert (status, error["error"]["code"]) == (401, "ACCOUNT_DELETED"), path
    status, error = api.post("/v1/me/sign-in", token=member["token"])
    assert (status, error["error"]["code"]) == (401, "ACCOUNT_DELETED")

    status, again = api.post("/v1/me/delete-account", token=member["token"])  # a retry answers the same
    assert (status, again) == (200, erased)

    fresh = api.login(shop, member["openid"])  # the same WeChat identity: a new member, not the old one
    assert fresh["member"]["member_id"] != member["id"] and fresh["member"]["points"] == 0
    assert api.get("/v1/me", token=fresh["token"])[0] == 200


def _stored_value_report(api: Any, merchant: Any, admin: str) -> Any:
    today = local_date(merchant.timezone, now()).isoformat()
    status, body = api.get(f"/v1/admin/reports/stored-value?from={today}&to={today}", token=admin)
    assert status == 200, body
    return body["rows"]


def _coupons(merchant: Any, member_id: str) -> list[tuple[str, str]]:
    return [
        (c.coupon_id, c.status)
        for c in Coupon.query(
            member_pk(merchant.merchant_id, member_id), Coupon.sk.startswith("COUPON#"), consistent_read=True
        )
    ]


def test_the_admin_deletes_on_the_members_request_audited_and_only_its_own(api: Any, shop: Any, sandbox: Any) -> None:
    member = _member(api, shop)
    admin = api.admin_token(shop)
    _paid(api, sandbox, member)
    status, error = api.post(
        f"/v1/admin/members/{member['id']}/delete-account", {"reason": "会员来电要求注销"}, token=admin
    )
    assert (status, error["error"]["code"]) == (409, "STORED_VALUE_REMAINS")
    clean = _member(api, shop)
    status, error = api.post(
        f"/v1/admin/members/{clean['id']}/delete-account", {"reason": "x"}, token=api.admin_token(_other_merchant(shop))
    )
    assert (status, error["error"]["code"]) == (404, "MEMBER_NOT_FOUND")
    status, error = api.post(f"/v1/admin/members/{clean['id']}/delete-account", {}, token=admin)
    assert (status, error["error"]["code"]) == (400, "VALIDATION_ERROR")
    assert api.get("/v1/me", token=clean["token"])[0] == 200

    status, body = api.post(
        f"/v1/admin/members/{clean['id']}/delete-account", {"reason": "会员来电要求注销"}, token=admin
    )
    assert status == 200 and body["deleted"], body
    status, trail = api.get(f"/v1/admin/members/{clean['id']}/audit", token=admin)
    assert status == 200, trail
    erased = [r for r in trail["records"] if r["action"] == "MEMBER_ERASED"]
    assert len(erased) == 1 and erased[0]["detail"]["reason"] == "会员来电要求注销"
    assert api.get("/v1/me", token=clean["token"])[1]["error"]["code"] == "ACCOUNT_DELETED"


# --- races ------------------------------------------------------------------------------------------


def test_a_deletion_racing_a_top_up_order_never_leaves_value_on_an_erased_member(
    api: Any, shop: Any, api_url: str
) -> None:
    """Real concurrent requests against DynamoDB Local: the erasure's conditions (no stored value, no pending
    top-up) and the order's (not erased) meet on the member row; whichever commits first, the other is refused."""
    outcomes = set()
    for _ in range(6):
        member = _member(api, shop)
        barrier = threading.Barrier(2)
        with ThreadPoolExecutor(2) as pool:
            order = pool.submit(
                post_at_once,
                barrier,
                f"{api_url}/v1/topup/orders",
                {"plan_id": "p300"},
                member["token"],
                {"idempotency-key": uuid.uuid4().hex},
            )
            deletion = pool.submit(post_at_once, barrier, f"{api_url}/v1/me/delete-account", {}, member["token"])
            ordered, deleted = order.result(), deletion.result()
        row = Member.get(member_pk(shop.merchant_id, member["id"]), PROFILE, consistent_read=True)
        assert (ordered[0] == 200) != (deleted[0] == 200), (ordered, deleted)  # exactly one of them
        if deleted[0] == 200:
            assert row.erased_at is not None and int(row.pending_topup) == 0
            assert ordered[1] in ("ACCOUNT_DELETED", "CONCURRENT_UPDATE", "CARD_NOT_OPEN"), ordered
        else:
            assert row.erased_at is None and int(row.pending_topup) == 30000 and deleted[1] == "STORED_VALUE_REMAINS"
        assert int(row.principal) == int(row.bonus) == 0
        checked_balances(shop.merchant_id, member["id"])
        outcomes.add(deleted[0])
    assert outcomes  # both orders of arrival are legal; each round holds the rule


def test_a_deletion_racing_a_checkout_refund_never_leaves_value_on_an_erased_member(
    api: Any, shop: Any, sandbox: Any, api_url: str
) -> None:
    """The refund puts stored value back on the card (a ledger credit, conditional on no erasure); the erasure
    needs none on it. Threads over real HTTP against DynamoDB Local."""
    staff = api.staff_token(shop, "s1")
    for _ in range(4):
        member = _member(api, shop)
        _paid(api, sandbox, member)
        receipt = _sale(api, shop, member, 35000, stored_value=35000)  # every fen of principal and bonus spent
        row = Member.get(member_pk(shop.merchant_id, member["id"]), PROFILE, consistent_read=True)
        assert int(row.principal) == int(row.bonus) == 0
        # The paid top-up is no longer refundable (its principal was spent): only the sale's refund gives value back.
        barrier = threading.Barrier(2)
        with ThreadPoolExecutor(2) as pool:
            refund = pool.submit(
                post_at_once,
                barrier,
                f"{api_url}/v1/staff/orders/{receipt['order_id']}/refund",
                {},
                staff,
                {"idempotency-key": uuid.uuid4().hex},
            )
            deletion = pool.submit(post_at_once, barrier, f"{api_url}/v1/me/delete-account", {}, member["token"])
            refunded, deleted = refund.result(), deletion.result()
        row = Member.get(member_pk(shop.merchant_id, member["id"]), PROFILE, consistent_read=True)
        balances = checked_balances(shop.merchant_id, member["id"])
        if row.erased_at is not None:
            assert balances["principal"] == balances["bonus"] == 0, (refunded, deleted, balances)
        else:
            assert deleted[0] == 409 and refunded[0] == 200
        assert refunded[0] == 200 or deleted[0] == 200, (refunded, deleted)
        assert refunded[0] < 500 and deleted[0] < 500, (refunded, deleted)


def test_an_erased_inviter_takes_no_referral_and_the_invitee_opens_their_card(api: Any, shop: Any) -> None:
    configuration.update_settings(shop.merchant_id, referral_points=100)
    inviter = _member(api, shop)
    code = api.get("/v1/me", token=inviter["token"])[1]["invite_code"]
    status, invited = api.post(
        "/v1/auth/login", {"appid": shop.appid, "code": f"test:o-{uuid.uuid4().hex[:12]}:x", "invite_code": code}
    )
    assert status == 200 and invited["invite"] == "ACCEPTED", invited
    assert api.post("/v1/me/delete-account", token=inviter["token"])[0] == 200
    token = invited["token"]
    assert api.post("/v1/me/phone", {"code": f"phone:13{uuid.uuid4().int % 10**9:09d}:a"}, token=token)[0] == 200
    status, card = api.post("/v1/me/card", {"agreed_terms_version": shop.terms_version}, token=token)
    assert status == 200, card
    assert checked_balances(shop.merchant_id, card["member_id"])["points"] == 100  # the invitee is still welcomed
    assert checked_balances(shop.merchant_id, inviter["id"])["points"] == 0


def test_the_export_names_no_staff_member_who_adjusted_the_member(api: Any, shop: Any) -> None:
    """A manual adjustment's ledger memo carries the admin's username (`by`): the export leaves staff usernames
    out (the staff's data, not the member's), in a memo as at the top level."""
    member = _member(api, shop)
    admin = api.admin_token(shop, "zhang-admin")
    status, body = api.post(
        f"/v1/admin/members/{member['id']}/adjustments",
        {"account": "points", "amount": 50, "reason": "补录积分"},
        token=admin,
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 200, body
    whole = _export_all(api, member["token"])
    adjusted = [e for e in whole["sections"]["ledger"] if e["amount"] == 50]
    assert len(adjusted) == 1 and adjusted[0]["memo"]["reason"] == "补录积分"  # the why is the member's to see
    assert "zhang-admin" not in json.dumps(whole, ensure_ascii=False)
    # The member's own ledger leaves them out too; the admin's view of the member keeps who did it.
    status, mine = api.get("/v1/me/ledger?account=points", token=member["token"])
    assert status == 200 and [e["memo"] for e in mine["entries"] if e["amount"] == 50] == [{"reason": "补录积分"}]
    status, theirs = api.get(f"/v1/admin/members/{member['id']}/ledger?account=points", token=admin)
    assert status == 200 and [e["memo"]["by"] for e in theirs["entries"] if e["amount"] == 50] == ["zhang-admin"]


def test_a_members_ledger_names_no_other_member(api: Any, shop: Any) -> None:
    """A referral's entries carry the other member's id (`inviter`, `invitee`): each member's own ledger leaves
    the other's id out, as the export does; the admin sees it."""
    configuration.update_settings(shop.merchant_id, referral_points=100)
    alice = _member(api, shop)
    carol = _invited_by(api, shop, alice)
    carol_id = carol["member"]["member_id"]
    for token, other in ((alice["token"], carol_id), (carol["token"], alice["id"])):
        status, page = api.get("/v1/me/ledger?account=points", token=token)
        assert status == 200 and any(e["kind"] == "REFERRAL" for e in page["entries"]), page
        assert other not in json.dumps(page), page
    status, seen = api.get(f"/v1/admin/members/{alice['id']}/ledger?account=points", token=api.admin_token(shop))
    assert status == 200 and carol_id in json.dumps(seen), seen


def _lookups_naming(member_id: str) -> list[str]:
    """Keys of the lookup items (openid, phone, card, invite code ...) whose target is the member."""
    client, found, start = connection().client, [], None
    while True:
        page = client.scan(TableName=settings().table_name, **({"ExclusiveStartKey": start} if start else {}))
        found += [i["pk"]["S"] for i in page["Items"] if i.get("target", {}).get("S") == member_id]
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


def _phone_bound(api: Any, merchant: Any) -> dict[str, Any]:
    session = api.login(merchant)
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    assert api.post("/v1/me/phone", {"code": f"phone:{phone}:{uuid.uuid4().hex[:6]}"}, token=session["token"])[0] == 200
    return {"token": session["token"], "id": session["member"]["member_id"]}


def test_a_card_opened_while_the_deletion_runs_leaves_no_card_lookup_on_the_erased_member(
    api: Any, shop: Any, monkeypatch: Any
) -> None:
    """The card opens after the erasure read the member and before it commits (a concurrent POST /v1/me/card):
    the erasure must not commit on the row as it read it, or the card number's lookup it did not know of keeps
    naming the erased member (and a staff search by card number finds them)."""
    from mini_program_api.data_rights import erasure
    from mini_program_api.members import cards

    member = _phone_bound(api, shop)
    real, opened = erasure._open_topups, []

    def card_opens_meanwhile(merchant_id: str, member_id: str) -> Any:
        if not opened:
            opened.append(cards.open_card(merchant_id, member_id, shop.terms_version, "赵六", None))
        return real(merchant_id, member_id)

    monkeypatch.setattr(erasure, "_open_topups", card_opens_meanwhile)
    status, erased = api.post("/v1/me/delete-account", token=member["token"])
    assert status == 200, erased
    assert opened and opened[0].card_number
    row = Member.get(member_pk(shop.merchant_id, member["id"]), PROFILE, consistent_read=True)
    assert row.erased_at is not None and row.card_number is None and row.name is None
    assert _lookups_naming(member["id"]) == []


def test_a_card_opening_that_read_the_member_before_the_deletion_does_not_write_it_back(
    api: Any, shop: Any, monkeypatch: Any
) -> None:
    """POST /v1/me/card passed the token check and read the member; the deletion commits before it does. The
    opening must be refused, not put a name, a birthday, a card number and its lookup back on the erased row."""
    from mini_program_api.data_rights import erasure
    from mini_program_api.members import cards
    from mini_program_api.platform.auth import Principal

    member = _phone_bound(api, shop)
    real, done = cards.members.require_current_terms, []

    def deleted_meanwhile(merchant: Any, version: str) -> None:
        if not done:
            done.append(
                erasure.erase(shop.merchant_id, member["id"], Principal(shop.merchant_id, member["id"], "member"))
            )
        real(merchant, version)

    monkeypatch.setattr(cards.members, "require_current_terms", deleted_meanwhile)
    status, body = api.post(
        "/v1/me/card",
        {"agreed_terms_version": shop.terms_version, "name": "孙七", "birthday": "1988-02-03"},
        token=member["token"],
    )
    assert done, "the deletion ran inside the opening"
    assert (status, body["error"]["code"]) == (401, "ACCOUNT_DELETED"), body
    row = Member.get(member_pk(shop.merchant_id, member["id"]), PROFILE, consistent_read=True)
    assert (row.name, row.birthday, row.card_number, row.cards_pk) == (None, None, None, None)
    assert "孙七" not in _table_text()
    assert _lookups_naming(member["id"]) == []


def test_a_phone_bound_by_a_request_that_read_the_member_before_the_deletion_is_not_written_back(
    api: Any, shop: Any, monkeypatch: Any
) -> None:
    """POST /v1/me/phone passed the token check and read a member with no phone; the deletion commits before it
    does. The binding must be refused, not put the phone (cipher, keyed hash) and its lookup on the erased row."""
    from mini_program_api.data_rights import erasure
    from mini_program_api.members import enrolment
    from mini_program_api.platform.auth import Principal

    member = api.login(shop)
    member_id, real, done = member["member"]["member_id"], enrolment.pii.phone_hash, []

    def deleted_meanwhile(merchant_id: str, phone: str) -> str:
        if not done:
            done.append(erasure.erase(shop.merchant_id, member_id, Principal(shop.merchant_id, member_id, "member")))
        return real(merchant_id, phone)

    monkeypatch.setattr(enrolment.pii, "phone_hash", deleted_meanwhile)
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    status, body = api.post("/v1/me/phone", {"code": f"phone:{phone}:{uuid.uuid4().hex[:6]}"}, token=member["token"])
    assert done, "the deletion ran inside the binding"
    assert (status, body["error"]["code"]) == (401, "ACCOUNT_DELETED"), body
    row = Member.get(member_pk(shop.merchant_id, member_id), PROFILE, consistent_read=True)
    assert (row.phone_enc, row.phone_hash, row.phone_masked) == (None, None, None)
    assert _lookups_naming(member_id) == []


def test_a_wechat_card_linked_while_the_deletion_runs_leaves_no_code_lookup_on_the_erased_member(
    api: Any, shop: Any, monkeypatch: Any
) -> None:
    """A 卡包 activation links its code (wallet/activation.py `_link`) around the deletion, in either order: linked
    between the erasure's read and its commit, or after the erasure committed. Neither may leave the code's
    lookup naming the erased member (WeChat's card events for that code would find them)."""
    from mini_program_api.data_rights import erasure
    from mini_program_api.platform.errors import KabaoError
    from mini_program_api.wallet import activation

    linked_meanwhile = _member(api, shop)
    real, linked = erasure._wallet, []

    def link_meanwhile(merchant_id: str, member_id: str) -> Any:
        read = real(merchant_id, member_id)  # what the erasure read: no card in the wallet yet
        if not linked:
            linked.append(activation._link(merchant_id, member_id, "card-x", f"code-{uuid.uuid4().hex[:8]}"))
        return read

    monkeypatch.setattr(erasure, "_wallet", link_meanwhile)
    status, body = api.post("/v1/me/delete-account", token=linked_meanwhile["token"])
    assert status == 200, body
    assert linked and _lookups_naming(linked_meanwhile["id"]) == []

    linked_after = _member(api, shop)
    assert api.post("/v1/me/delete-account", token=linked_after["token"])[0] == 200
    with pytest.raises(KabaoError) as refused:
        activation._link(shop.merchant_id, linked_after["id"], "card-x", f"code-{uuid.uuid4().hex[:8]}")
    assert refused.value.code == "ACCOUNT_DELETED"
    assert _lookups_naming(linked_after["id"]) == []


def test_a_frozen_member_is_not_erased_until_unfrozen(api: Any, shop: Any) -> None:
    """A freeze holds a stolen phone's card: whoever holds the phone must not erase it (the points forfeited, the
    card gone) before the merchant has settled the dispute. Refused with MEMBER_FROZEN, nothing changed, for the
    member and the admin alike, points or none; once unfrozen the erasure goes through."""
    admin = api.admin_token(shop)
    for points in (0, 30):
        member = _member(api, shop)
        if points:
            api.ok(
                "POST",
                f"/v1/admin/members/{member['id']}/adjustments",
                {"account": "points", "amount": points, "reason": "补录"},
                token=admin,
                headers={"idempotency-key": uuid.uuid4().hex},
            )
        api.ok("POST", f"/v1/admin/members/{member['id']}/freeze", {"reason": "手机被盗"}, token=admin)
        before = Member.get(member_pk(shop.merchant_id, member["id"]), PROFILE, consistent_read=True)
        status, body = api.post("/v1/me/delete-account", token=member["token"])
        assert (status, body["error"]["code"]) == (409, "MEMBER_FROZEN"), body
        status, body = api.post(f"/v1/admin/members/{member['id']}/delete-account", {"reason": "本人申请"}, token=admin)
        assert (status, body["error"]["code"]) == (409, "MEMBER_FROZEN"), body
        after = Member.get(member_pk(shop.merchant_id, member["id"]), PROFILE, consistent_read=True)
        assert after.erased_at is None and after.phone_hash == before.phone_hash and int(after.points) == points
        api.ok("POST", f"/v1/admin/members/{member['id']}/unfreeze", {"reason": "本人到店"}, token=admin)
        erased = api.ok("POST", "/v1/me/delete-account", token=member["token"])
        assert erased["points_forfeited"] == points, erased


def test_a_sale_made_before_the_erasure_is_refunded_with_nothing_credited_to_the_erased_card(
    api: Any, shop: Any, sandbox: Any
) -> None:
    """Nothing may be credited to an erased card (money/ledger.py), so refunding a sale it paid with stored value
    and points answered CONCURRENT_UPDATE on every retry: the sale could never be refunded. The refund goes
    through: the principal the sale took is paid back at the till (`cash_refund`), the points and bonus it spent
    were forfeited with the account, the card stays at zero and balance = sum of entries."""
    member = _member(api, shop)
    _paid(api, sandbox, member)  # 300 yuan and its bonus
    api.ok(
        "POST",
        f"/v1/admin/members/{member['id']}/adjustments",
        {"account": "points", "amount": 200, "reason": "补录"},
        token=api.admin_token(shop),
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    held = checked_balances(shop.merchant_id, member["id"])
    stored = held["principal"] + held["bonus"]
    sale = _sale(api, shop, member, stored + 5000, stored_value=stored, points=200)
    assert checked_balances(shop.merchant_id, member["id"])["principal"] == 0
    api.ok("POST", "/v1/me/delete-account", token=member["token"])
    status, refunded = api.post(
        f"/v1/staff/orders/{sale['order_id']}/refund",
        token=api.staff_token(shop, "s1"),
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 200, refunded
    assert refunded["status"] == "REFUNDED" and refunded["cash_refund"] == sale["cash_due"] + held["principal"]
    after = checked_balances(shop.merchant_id, member["id"])  # = the ledger's sums
    assert (after["principal"], after["bonus"], after["points"]) == (0, 0, 0), after
    row = Member.get(member_pk(shop.merchant_id, member["id"]), PROFILE, consistent_read=True)
    assert (int(row.principal), int(row.bonus), int(row.points)) == (0, 0, 0) and row.erased_at is not None
