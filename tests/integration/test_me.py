"""Phone binding, card opening, member code, sign-in and ledger history through the HTTP API."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from mini_program_api.db.models import PROFILE, Member, member_pk
from mini_program_api.members import member_codes
from mini_program_api.money import ledger
from mini_program_api.money.ledger import Account, Operation, Posting
from tests import timeline


def _phone_code(number: str) -> str:
    return f"phone:{number}:{uuid.uuid4().hex[:6]}"


def _stored(merchant: Any, member_id: str) -> Member:
    return Member.get(member_pk(merchant.merchant_id, member_id), PROFILE, consistent_read=True)


# --- phone --------------------------------------------------------------------------


def test_bind_phone_stores_it_encrypted_and_shows_it_masked(api: Any, merchant: Any) -> None:
    session = api.login(merchant)
    status, me = api.post("/v1/me/phone", {"code": _phone_code("13800138000")}, token=session["token"])
    assert status == 200 and me["phone"] == "138****8000"
    stored = _stored(merchant, me["member_id"])
    assert "13800138000" not in (stored.phone_enc or "") and "13800138000" not in (stored.phone_hash or "")


def test_phone_of_another_member_is_409(api: Any, merchant: Any) -> None:
    first, second = api.login(merchant), api.login(merchant)
    assert api.post("/v1/me/phone", {"code": _phone_code("13900000001")}, token=first["token"])[0] == 200
    status, body = api.post("/v1/me/phone", {"code": _phone_code("13900000001")}, token=second["token"])
    assert (status, body["error"]["code"]) == (409, "PHONE_IN_USE")
    assert _stored(merchant, second["member"]["member_id"]).phone_hash is None


def test_rebinding_frees_the_old_number(api: Any, merchant: Any) -> None:
    first, second = api.login(merchant), api.login(merchant)
    api.post("/v1/me/phone", {"code": _phone_code("13900000002")}, token=first["token"])
    api.post("/v1/me/phone", {"code": _phone_code("13900000003")}, token=first["token"])
    status, me = api.post("/v1/me/phone", {"code": _phone_code("13900000002")}, token=second["token"])
    assert status == 200 and me["phone"] == "139****0002"


@pytest.mark.parametrize(
    ("payload", "code"),
    [({"code": "phone:abc"}, "INVALID_CODE"), ({}, "VALIDATION_ERROR"), ({"code": 1}, "VALIDATION_ERROR")],
)
def test_bad_phone_code_is_400(api: Any, merchant: Any, payload: dict[str, Any], code: str) -> None:
    session = api.login(merchant)
    status, body = api.post("/v1/me/phone", payload, token=session["token"])
    assert (status, body["error"]["code"]) == (400, code)
    assert _stored(merchant, session["member"]["member_id"]).phone_hash is None


def test_phone_code_is_single_use(api: Any, merchant: Any) -> None:
    first, second = api.login(merchant), api.login(merchant)
    code = _phone_code("13900000004")
    assert api.post("/v1/me/phone", {"code": code}, token=first["token"])[0] == 200
    status, body = api.post("/v1/me/phone", {"code": code}, token=second["token"])
    assert (status, body["error"]["code"]) == (400, "INVALID_CODE")


# --- card ---------------------------------------------------------------------------


def test_card_needs_a_phone(api: Any, merchant: Any) -> None:
    session = api.login(merchant)
    status, body = api.post("/v1/me/card", {"agreed_terms_version": "1"}, token=session["token"])
    assert (status, body["error"]["code"]) == (409, "PHONE_REQUIRED")


def test_card_needs_the_current_terms(api: Any, merchant: Any) -> None:
    session = api.login(merchant)
    api.post("/v1/me/phone", {"code": _phone_code("13900000005")}, token=session["token"])
    status, body = api.post("/v1/me/card", {"agreed_terms_version": "0"}, token=session["token"])
    assert (status, body["error"]["code"]) == (409, "TERMS_OUTDATED")
    assert body["error"]["details"]["terms_version"] == merchant.terms_version
    assert _stored(merchant, session["member"]["member_id"]).card_number is None


def test_open_card_once_and_again_returns_the_same_card(api: Any, merchant: Any) -> None:
    session = api.login(merchant)
    token = session["token"]
    api.post("/v1/me/phone", {"code": _phone_code("13900000006")}, token=token)
    status, me = api.post(
        "/v1/me/card", {"agreed_terms_version": "1", "name": "王小明", "birthday": "1990-05-17"}, token=token
    )
    assert status == 200
    card = me["card"]
    assert len(card["number"]) == 12 and card["number"].isdigit()
    assert (card["name"], card["birthday"]) == ("王小明", "1990-05-17")
    assert card["opened_at"].endswith("+08:00")
    status, again = api.post("/v1/me/card", {"agreed_terms_version": "1", "birthday": "2000-01-01"}, token=token)
    assert status == 200 and again["card"] == card


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"agreed_terms_version": 1},
        {"agreed_terms_version": "1", "birthday": "1990-13-01"},
        {"agreed_terms_version": "1", "birthday": "2999-01-01"},
        {"agreed_terms_version": "1", "birthday": "17/05/1990"},
        {"agreed_terms_version": "1", "name": ""},
        {"agreed_terms_version": "1", "tier": "gold"},
    ],
)
def test_bad_card_request_is_400_and_opens_nothing(api: Any, merchant: Any, payload: dict[str, Any]) -> None:
    session = api.login(merchant)
    api.post("/v1/me/phone", {"code": _phone_code(f"137{uuid.uuid4().int % 10**8:08d}")}, token=session["token"])
    status, body = api.post("/v1/me/card", payload, token=session["token"])
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")
    assert _stored(merchant, session["member"]["member_id"]).card_number is None


# --- me -----------------------------------------------------------------------------


def test_me_shows_balances_tier_and_progress(api: Any, merchant: Any) -> None:
    member = api.member_with_card(merchant)
    ledger.post(
        merchant.merchant_id,
        member["member"]["member_id"],
        Operation("grant-1", "ADJUST", (Posting(Account.GROWTH, 400), Posting(Account.POINTS, 250))),
    )
    status, me = api.get("/v1/me", token=member["token"])
    assert status == 200
    assert (me["growth"], me["points"], me["principal"], me["bonus"], me["balance"]) == (400, 250, 0, 0, 0)
    assert me["tier"] == {
        "id": "normal",
        "name": "普通",
        "threshold": 0,
        "discount_rate": 100,
        "points_multiplier": 100,
    }
    assert me["next_tier"]["id"] == "silver" and me["growth_to_next_tier"] == 600


# --- member code --------------------------------------------------------------------


def test_member_code_needs_a_card(api: Any, merchant: Any) -> None:
    status, body = api.get("/v1/me/code", token=api.login(merchant)["token"])
    assert (status, body["error"]["code"]) == (409, "CARD_NOT_OPEN")


def test_member_code_resolves_for_a_minute_then_expires(api: Any, merchant: Any, clock: Any) -> None:
    member = api.member_with_card(merchant)
    status, first = api.get("/v1/me/code", token=member["token"])
    _, second = api.get("/v1/me/code", token=member["token"])
    assert status == 200 and first["expires_in"] == 60
    assert len(first["code"]) == 18 and first["code"] != second["code"] != member["member"]["card"]["number"]
    assert member_codes.resolve(merchant.merchant_id, first["code"]) == member["member"]["member_id"]
    clock.advance(seconds=61)
    with pytest.raises(Exception) as exc:
        member_codes.resolve(merchant.merchant_id, first["code"])
    assert getattr(exc.value, "code", None) == "NOT_FOUND"


def test_member_code_does_not_resolve_at_another_merchant(api: Any, merchant: Any, sandbox: Any) -> None:
    member = api.member_with_card(merchant)
    _, code = api.get("/v1/me/code", token=member["token"])
    with pytest.raises(Exception) as exc:
        member_codes.resolve("some-other-merchant", code["code"])
    assert getattr(exc.value, "code", None) == "NOT_FOUND"


# --- sign-in ------------------------------------------------------------------------


def test_sign_in_needs_a_card(api: Any, merchant: Any) -> None:
    status, body = api.post("/v1/me/sign-in", token=api.login(merchant)["token"])
    assert (status, body["error"]["code"]) == (409, "CARD_NOT_OPEN")


def test_sign_in_credits_once_per_shanghai_day(api: Any, merchant: Any, clock: Any) -> None:
    day = clock.today + timedelta(days=1)
    clock.set(timeline.local(day, 23))  # 23:00 in Shanghai, 15:00 in UTC
    member = api.member_with_card(merchant)
    status, first = api.post("/v1/me/sign-in", token=member["token"])
    assert status == 200 and first["date"] == day.isoformat() and first["already_signed_in"] is False
    assert (first["points_earned"], first["growth_earned"]) == (10, 5)
    assert (first["member"]["points"], first["member"]["growth"]) == (10, 5)

    clock.advance(minutes=30)  # 23:30 Shanghai: same day
    status, again = api.post("/v1/me/sign-in", token=member["token"])
    assert status == 200 and again["already_signed_in"] is True and again["member"]["points"] == 10

    clock.advance(minutes=31)  # 00:01 Shanghai next day, still the day before in UTC
    status, next_day = api.post("/v1/me/sign-in", token=member["token"])
    assert status == 200, next_day
    assert next_day["date"] == (day + timedelta(days=1)).isoformat() and next_day["already_signed_in"] is False
    assert (next_day["member"]["points"], next_day["member"]["growth"]) == (20, 10)


# --- ledger -------------------------------------------------------------------------


def test_ledger_pages_newest_first_per_account(api: Any, merchant: Any, clock: Any) -> None:
    member = api.member_with_card(merchant)
    member_id = member["member"]["member_id"]
    for _ in range(5):
        assert api.post("/v1/me/sign-in", token=api.token(merchant, member_id))[0] == 200
        clock.advance(days=1)
    member["token"] = api.token(merchant, member_id)
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        path = "/v1/me/ledger?account=points&limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, page = api.get(path, token=member["token"])
        assert status == 200 and len(page["entries"]) <= 2
        seen += page["entries"]
        cursor = page["cursor"]
        if not cursor:
            break
    first_day = timeline.local_day(clock.start)
    assert [e["memo"]["day"] for e in seen] == [(first_day + timedelta(days=n)).isoformat() for n in range(4, -1, -1)]
    assert all(e["account"] == "points" and e["amount"] == 10 and e["kind"] == "SIGN_IN" for e in seen)
    _, growth = api.get("/v1/me/ledger?account=growth", token=member["token"])
    assert [e["amount"] for e in growth["entries"]] == [5] * 5
    _, balance = api.get("/v1/me/ledger?account=balance", token=member["token"])
    assert balance == {"entries": [], "cursor": None}


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?account=cash",
        "?account=points&limit=0",
        "?account=points&limit=101",
        "?account=points&limit=x",
        "?account=points&member_id=someone",
    ],
)
def test_bad_ledger_query_is_400(api: Any, merchant: Any, query: str) -> None:
    status, body = api.get(f"/v1/me/ledger{query}", token=api.login(merchant)["token"])
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")


def test_cursor_cannot_reach_another_members_ledger(api: Any, merchant: Any, clock: Any) -> None:
    alice, bob = api.member_with_card(merchant), api.member_with_card(merchant)
    for _ in range(3):
        assert api.post("/v1/me/sign-in", token=api.token(merchant, alice["member"]["member_id"]))[0] == 200
        clock.advance(days=1)
    alice["token"] = api.token(merchant, alice["member"]["member_id"])
    bob["token"] = api.token(merchant, bob["member"]["member_id"])
    _, page = api.get("/v1/me/ledger?account=points&limit=1", token=alice["token"])
    status, bobs = api.get(f"/v1/me/ledger?account=points&cursor={page['cursor']}", token=bob["token"])
    assert status == 200 and bobs["entries"] == []
    # Outside a cursor's alphabet (base64url) the request's schema refuses it; in it, the cursor's own check.
    for forged, code in [
        ("not-base64!!", "VALIDATION_ERROR"),
        ("eyJmb28iOiAxfQ", "INVALID_CURSOR"),
        (page["cursor"][:-3], "INVALID_CURSOR"),
    ]:
        status, body = api.get(f"/v1/me/ledger?account=growth&cursor={forged}", token=alice["token"])
        assert (status, body["error"]["code"]) == (400, code)
