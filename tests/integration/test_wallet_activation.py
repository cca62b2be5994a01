"""WeChat 卡包: the admin's card set-up and the member's one-step activation, over HTTP."""

from __future__ import annotations

from typing import Any

from mini_program_api.db.models import PROFILE, Member, member_pk
from mini_program_api.platform import clock as product_clock
from mini_program_api.staff import audit
from tests.wallet_helpers import activate, card_body, setup_wallet


def test_card_setup_creates_once_reads_back_audits_and_refuses_empty(
    api: Any, sandbox: Any, stack: Any, merchant: Any
) -> None:
    admin = api.admin_token(merchant)
    status, body = api.put("/v1/admin/wallet/card", {}, token=admin)
    assert status == 400 and body["error"]["code"] == "VALIDATION_ERROR"
    status, body = api.get("/v1/admin/wallet/card", token=admin)
    assert status == 409 and body["error"]["code"] == "WALLET_NOT_CONFIGURED"

    wallet = setup_wallet(api, sandbox, stack, merchant)
    card = sandbox.card.cards[wallet["card_id"]]
    assert card["appid"] == wallet["oa_appid"]
    member_card = card["card"]["member_card"]
    assert member_card["supply_bonus"] and member_card["supply_balance"]
    assert member_card["custom_field1"] == {"name_type": "FIELD_NAME_TYPE_LEVEL"}
    assert card["form"]["required_form"]["common_field_id_list"] == ["USER_FORM_INFO_FLAG_MOBILE"]
    status, read = api.get("/v1/admin/wallet/card", token=admin)
    assert status == 200 and read == wallet["card"] and read["pushed"] and read["review"] == "PENDING"

    # The same body again: nothing written, nothing sent to WeChat.
    calls = len(sandbox.card.calls)
    body = card_body(wallet["oa_appid"], f"oa-secret-{wallet['oa_appid'][4:]}", wallet["token"])
    status, again = api.put("/v1/admin/wallet/card", body, token=admin)
    assert status == 200 and again["version"] == read["version"] and len(sandbox.card.calls) == calls

    # A change is an update of the same card (never a second card), audited with before and after.
    status, changed = api.put("/v1/admin/wallet/card", {**body, "notice": "请出示会员码"}, token=admin)
    assert status == 200 and changed["card_id"] == wallet["card_id"] and changed["version"] == read["version"] + 1
    assert [c for c in sandbox.card.cards.values() if c["appid"] == wallet["oa_appid"]] == [
        sandbox.card.cards[wallet["card_id"]]
    ]  # one card for the account, however many PUTs
    assert sandbox.card.cards[wallet["card_id"]]["card"]["member_card"]["base_info"]["notice"] == "请出示会员码"
    actions = [
        r.action for r in audit.day(merchant.merchant_id, product_clock.local_date(merchant.timezone).isoformat())
    ]
    assert actions.count("WALLET_CARD_SET") == 2

    # WeChat refuses the next update: the change is kept, readable, and the same PUT retries the push.
    sandbox.card.fail("/card/update", 40001 + 7000)
    status, failed = api.put("/v1/admin/wallet/card", {**body, "notice": "第三版"}, token=admin)
    assert status == 200 and not failed["pushed"] and failed["push_error"] == "WECHAT_REFUSED"
    status, retried = api.put("/v1/admin/wallet/card", {**body, "notice": "第三版"}, token=admin)
    assert status == 200 and retried["pushed"] and retried["push_error"] is None
    assert sandbox.card.cards[wallet["card_id"]]["card"]["member_card"]["base_info"]["notice"] == "第三版"

    # Members and staff cannot touch it.
    session = api.login(merchant)
    status, body = api.put("/v1/admin/wallet/card", body, token=session["token"])
    assert status == 403


def test_one_step_activation_opens_the_card_binds_the_phone_and_is_idempotent(
    api: Any, sandbox: Any, stack: Any, merchant: Any
) -> None:
    wallet = setup_wallet(api, sandbox, stack, merchant)
    session = api.login(merchant)
    status, offer = api.get("/v1/me/wallet", token=session["token"])
    assert status == 200 and offer["in_wallet"] is False
    assert offer["activation"]["extra_data"]["encrypt_card_id"] and offer["add_card"]["card_id"] == wallet["card_id"]

    done = activate(api, sandbox, merchant, wallet, session)
    assert done["wallet"]["in_wallet"] and done["wallet"]["code"] == done["code"]
    status, me = api.get("/v1/me", token=session["token"])
    assert status == 200 and me["card"]["number"]
    assert me["phone"] == done["phone"][:3] + "****" + done["phone"][-4:]  # the form's number, its masked copy
    row = Member.get(member_pk(merchant.merchant_id, me["member_id"]), PROFILE, consistent_read=True)
    assert row.phone_masked == me["phone"]
    shown = sandbox.card.display(done["code"])
    assert shown["activated"] and shown["membership_number"] == me["card"]["number"]

    # The same activation again: the same answer, no second activation at WeChat.
    activations = [p for p, _ in sandbox.card.calls].count("/card/membercard/activate")
    status, again = api.post(
        "/v1/me/wallet/activate",
        {
            "card_id": wallet["card_id"],
            "encrypt_code": done["encrypt_code"],
            "activate_ticket": done["activate_ticket"],
            "agreed_terms_version": merchant.terms_version,
        },
        token=session["token"],
    )
    assert status == 200 and again == done["wallet"]
    assert [p for p, _ in sandbox.card.calls].count("/card/membercard/activate") == activations

    # Another member presenting that code is refused; so is a form without a phone, and a forged code.
    other = api.login(merchant)
    status, body = api.post(
        "/v1/me/wallet/activate",
        {
            "card_id": wallet["card_id"],
            "encrypt_code": done["encrypt_code"],
            "activate_ticket": done["activate_ticket"],
            "agreed_terms_version": merchant.terms_version,
        },
        token=other["token"],
    )
    assert status == 409 and body["error"]["code"] == "WALLET_CARD_TAKEN"
    no_phone = sandbox.card.add_member(wallet["card_id"], "oa-x", None)
    status, body = api.post(
        "/v1/me/wallet/activate",
        {
            "card_id": wallet["card_id"],
            "encrypt_code": no_phone["encrypt_code"],
            "activate_ticket": no_phone["activate_ticket"],
            "agreed_terms_version": merchant.terms_version,
        },
        token=other["token"],
    )
    assert status == 409 and body["error"]["code"] == "PHONE_REQUIRED"
    status, body = api.post(
        "/v1/me/wallet/activate",
        {
            "card_id": wallet["card_id"],
            "encrypt_code": "forged",
            "activate_ticket": "forged",
            "agreed_terms_version": merchant.terms_version,
        },
        token=other["token"],
    )
    assert status == 400 and body["error"]["code"] == "INVALID_CODE"
    status, body = api.get("/v1/me", token=other["token"])
    assert body["card"] is None


def test_activation_keeps_a_bound_phone_and_the_terms_rule(api: Any, sandbox: Any, stack: Any, merchant: Any) -> None:
    wallet = setup_wallet(api, sandbox, stack, merchant)
    opened = api.member_with_card(merchant, phone="13900000001")
    handed = sandbox.card.add_member(wallet["card_id"], "oa-y", "13900000002")
    request = {
        "card_id": wallet["card_id"],
        "encrypt_code": handed["encrypt_code"],
        "activate_ticket": handed["activate_ticket"],
        "agreed_terms_version": merchant.terms_version,
    }
    status, body = api.post("/v1/me/wallet/activate", request, token=opened["token"])
    assert status == 403 and body["error"]["code"] == "PHONE_MISMATCH"
    fresh = api.login(merchant)
    status, body = api.post("/v1/me/wallet/activate", {**request, "agreed_terms_version": "0"}, token=fresh["token"])
    assert status == 409 and body["error"]["code"] == "TERMS_OUTDATED"
    # The same number as another member's is PHONE_IN_USE, as POST /v1/me/phone says.
    taken = sandbox.card.add_member(wallet["card_id"], "oa-z", "13900000001")
    status, body = api.post(
        "/v1/me/wallet/activate",
        {**request, "encrypt_code": taken["encrypt_code"], "activate_ticket": taken["activate_ticket"]},
        token=fresh["token"],
    )
    assert status == 409 and body["error"]["code"] == "PHONE_IN_USE"


def test_card_ticket_is_fetched_once_for_many_offers(api: Any, sandbox: Any, stack: Any, merchant: Any) -> None:
    wallet = setup_wallet(api, sandbox, stack, merchant)
    for _ in range(3):
        session = api.login(merchant)
        status, offer = api.get("/v1/me/wallet", token=session["token"])
        assert status == 200 and "signature" in offer["add_card"]["card_ext"]
    assert sandbox.card.ticket_fetches[wallet["oa_appid"]] == 1
    # The activation component's parameters were fetched with the card's push, not per member.
    assert [p for p, b in sandbox.card.calls if b.get("card_id") == wallet["card_id"]].count(
        "/card/membercard/activate/geturl"
    ) == 1


def test_cold_containers_fetch_one_card_ticket_and_sign_add_card_with_it(sandbox: Any, clock: Any) -> None:
    import hashlib
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    from mini_program_api.wechat.card import OfficialAccountCards

    appid, secret = f"wxoa{uuid.uuid4().hex[:12]}", f"secret-{uuid.uuid4().hex}"
    sandbox.apps[appid] = secret
    with ThreadPoolExecutor(20) as pool:  # 50 at once is shown for the access token (test_wechat_tokens.py)
        got = list(pool.map(lambda _: OfficialAccountCards(appid, secret).card_ticket(), range(20)))
    assert len(set(got)) == 1 and got[0]
    assert sandbox.card.ticket_fetches[appid] == 1 and sandbox.token_fetches[appid] == 1
    ext = OfficialAccountCards(appid, secret).card_ext("pCARD", code="123", openid="o1")
    expected = hashlib.sha1(
        "".join(sorted([got[0], ext["timestamp"], "pCARD", "123", "o1", ext["nonce_str"]])).encode()
    ).hexdigest()
    assert ext["signature"] == expected and sandbox.card.ticket_fetches[appid] == 1


def test_activation_answer_lost_at_wechat_is_finished_by_the_retry(
    api: Any, sandbox: Any, stack: Any, merchant: Any
) -> None:
    wallet = setup_wallet(api, sandbox, stack, merchant)
    session = api.login(merchant)
    handed = sandbox.card.add_member(wallet["card_id"], "oa-lost", "13700000009")
    request = {
        "card_id": wallet["card_id"],
        "encrypt_code": handed["encrypt_code"],
        "activate_ticket": handed["activate_ticket"],
        "agreed_terms_version": merchant.terms_version,
    }
    sandbox.card.fail("/card/membercard/activate", "lost")
    status, body = api.post("/v1/me/wallet/activate", request, token=session["token"])
    assert status == 503 and body["error"]["code"] == "WECHAT_UNAVAILABLE"
    status, body = api.get("/v1/me/wallet", token=session["token"])
    assert status == 200 and body["in_wallet"] is False
    status, body = api.post(
        "/v1/me/wallet/activate", {**request, "card_id": "p-another-merchants"}, token=session["token"]
    )
    assert status == 404 and body["error"]["code"] == "NOT_FOUND"
    status, body = api.post("/v1/me/wallet/activate", request, token=session["token"])
    assert status == 200 and body["in_wallet"] and body["code"] == handed["code"]
    status, me = api.get("/v1/me", token=session["token"])
    assert sandbox.card.display(handed["code"])["membership_number"] == me["card"]["number"]
    # The admin cannot move the card to another official account once it exists.
    admin = api.admin_token(merchant)
    status, read = api.get("/v1/admin/wallet/card", token=admin)
    moved = {k: read[k] for k in card_body("wx", "s", "t")} | {"oa_appid": "wxanother0001"}
    status, body = api.put("/v1/admin/wallet/card", moved, token=admin)
    assert status == 400 and body["error"]["code"] == "VALIDATION_ERROR"
    assert api.get("/v1/admin/wallet/card", token=admin)[1] == read
