"""Spending password (消费密码), over HTTP on the local stack: set/change/reset, the password-free limit,
confirmation on the phone and at the till, expiry, lockout under concurrent guesses, stolen codes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mini_program_api.members import members
from mini_program_api.money import ledger
from mini_program_api.money.ledger import Account, Operation
from mini_program_api.platform import clock as product_clock
from mini_program_api.platform import passwords
from mini_program_api.till import spending_password
from tests.http_race import guess_at_once

PIN, OTHER_PIN = "482916", "730158"


@pytest.fixture
def shop(make_merchant: Any, api: Any) -> Any:
    merchant = make_merchant()
    admin = api.admin_token(merchant)
    status, body = api.patch(
        "/v1/admin/settings",
        {
            "password_free_max": 10000,
            "till_password": True,
            "message_templates": {"spending_locked": "tpl-lock", "password_changed": "tpl-pw"},
        },
        token=admin,
    )
    assert status == 200, body
    return merchant


def _member(api: Any, shop: Any, balance: int = 50000) -> dict[str, Any]:
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    m = api.member_with_card(shop, phone)
    m["phone"], m["merchant_id"] = phone, shop.merchant_id
    member_id = m["member"]["member_id"]
    ledger.post(
        shop.merchant_id,
        member_id,
        Operation(f"seed:{uuid.uuid4().hex[:8]}", "TEST", ledger.postings({Account.PRINCIPAL: balance})),
    )
    return m


def _phone_code(phone: str) -> str:
    return f"phone:{phone}:{uuid.uuid4().hex[:6]}"


def _set(api: Any, m: dict[str, Any], pin: str = PIN) -> None:
    status, body = api.post(
        "/v1/me/spending-password", {"phone_code": _phone_code(m["phone"]), "password": pin}, token=m["token"]
    )
    assert status == 200, body
    assert body["is_set"] is True and "password" not in json.dumps(body).replace("is_set", "")


def _sale(
    api: Any,
    cashier: str,
    m: dict[str, Any],
    stored_value: int,
    key: str | None = None,
    code: str | None = None,
    **extra: Any,
) -> tuple[int, Any]:
    body = {
        "member_code": code or api.member_code(m["token"]),
        "amount": stored_value,
        "stored_value": stored_value,
        **extra,
    }
    return api.post("/v1/staff/checkout", body, token=cashier, headers={"Idempotency-Key": key or uuid.uuid4().hex})


def _balance(api: Any, m: dict[str, Any]) -> int:
    status, body = api.get("/v1/me", token=m["token"])
    assert status == 200, body
    return int(body["principal"]) + int(body["bonus"])


def _messages(sandbox: Any, m: dict[str, Any], template: str) -> list[Any]:
    openid = members.get(m["merchant_id"], m["member"]["member_id"]).openid
    return [x for x in sandbox.messages if x["touser"] == openid and x["template_id"] == template]


def test_set_change_reset_with_fresh_phone_verification(api: Any, shop: Any, sandbox: Any) -> None:
    m = _member(api, shop)
    for _ in range(2):
        api.post("/v1/me/subscriptions", {"template_ids": ["tpl-pw"]}, token=m["token"])
    url = "/v1/me/spending-password"
    assert api.get(url, token=m["token"])[1]["is_set"] is False
    wrong_phone = {"phone_code": _phone_code("13800000000"), "password": PIN}
    assert api.post(url, wrong_phone, token=m["token"])[1]["error"]["code"] == "PHONE_MISMATCH"
    used = _phone_code(m["phone"])
    assert api.post(url, {"phone_code": "not-a-code", "password": PIN}, token=m["token"])[0] == 400
    for weak in ("111111", "123456", "987654", "12345", "abcdef"):
        assert api.post(url, {"phone_code": used, "password": weak}, token=m["token"])[0] == 400
    assert api.get(url, token=m["token"])[1]["is_set"] is False  # nothing changed so far
    status, body = api.post(url, {"phone_code": used, "password": PIN}, token=m["token"])
    assert status == 200 and body["is_set"], body
    # the same getPhoneNumber code again is not fresh; a set password is replaced only by change or reset
    assert api.post(url, {"phone_code": used, "password": OTHER_PIN}, token=m["token"])[0] == 400
    assert (
        api.post(url, {"phone_code": _phone_code(m["phone"]), "password": OTHER_PIN}, token=m["token"])[1]["error"][
            "code"
        ]
        == "SPENDING_PASSWORD_SET"
    )
    status, body = api.post(f"{url}/change", {"old_password": OTHER_PIN, "password": "550912"}, token=m["token"])
    assert (status, body["error"]["code"]) == (403, "SPENDING_PASSWORD_WRONG")
    assert api.post(f"{url}/change", {"old_password": PIN, "password": OTHER_PIN}, token=m["token"])[0] == 200
    assert (
        api.post(f"{url}/reset", {"phone_code": _phone_code("13800000000"), "password": PIN}, token=m["token"])[1][
            "error"
        ]["code"]
        == "PHONE_MISMATCH"
    )
    assert (
        api.post(f"{url}/reset", {"phone_code": _phone_code(m["phone"]), "password": "550912"}, token=m["token"])[0]
        == 200
    )
    item = spending_password._item(shop.merchant_id, m["member"]["member_id"])
    assert item.password_hash.startswith("scrypt$") and "550912" not in item.password_hash
    assert passwords.check_password("550912", item.password_hash)
    # told of each change (set, change, reset) while grants last: two grants, then NO_GRANT, never an error
    assert len(_messages(sandbox, m, "tpl-pw")) == 2


def test_password_free_limit_up_to_the_merchant_ceiling(api: Any, shop: Any) -> None:
    m, cashier = _member(api, shop), api.staff_token(shop)
    _set(api, m)
    url = "/v1/me/spending-password/free-limit"
    assert api.put(url, {"free_limit": 10001}, token=m["token"])[0] == 400  # above the ceiling
    status, body = api.put(url, {"free_limit": 5000, "password": PIN}, token=m["token"])
    assert status == 200 and body["effective_free_limit"] == 5000, body
    assert _sale(api, cashier, m, 5000)[0] == 200  # at the limit: no password
    status, body = _sale(api, cashier, m, 5001)
    assert (status, body["error"]["code"]) == (409, "CONFIRMATION_REQUIRED")
    # a lower ceiling applies at once to a limit chosen before
    assert api.patch("/v1/admin/settings", {"password_free_max": 1000}, token=api.admin_token(shop))[0] == 200
    assert api.get("/v1/me/spending-password", token=m["token"])[1]["effective_free_limit"] == 1000
    assert _sale(api, cashier, m, 1001)[1]["error"]["code"] == "CONFIRMATION_REQUIRED"
    # cash and points-only sales are not asked
    status, body = api.post(
        "/v1/staff/checkout",
        {"member_code": api.member_code(m["token"]), "amount": 90000},
        token=cashier,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert status == 200 and body["cash_due"] == 90000, body
    assert _balance(api, m) == 50000 - 5000


def test_members_without_a_password_are_asked_only_when_the_merchant_requires_it(api: Any, shop: Any) -> None:
    m, cashier = _member(api, shop), api.staff_token(shop)
    assert _sale(api, cashier, m, 20000)[0] == 200
    assert api.patch("/v1/admin/settings", {"spending_password_required": True}, token=api.admin_token(shop))[0] == 200
    status, body = _sale(api, cashier, m, 20000)
    assert body["error"]["code"] == "CONFIRMATION_REQUIRED", body
    confirm = f"/v1/me/pending-payments/{body['error']['details']['confirmation_id']}/confirm"
    assert api.post(confirm, {"password": PIN}, token=m["token"])[1]["error"]["code"] == "SPENDING_PASSWORD_NOT_SET"


def test_confirmation_on_the_phone_completes_the_sale_once(api: Any, shop: Any, clock: Any) -> None:
    m, cashier = _member(api, shop), api.staff_token(shop)
    _set(api, m)
    key, code = uuid.uuid4().hex, api.member_code(m["token"])
    status, body = _sale(api, cashier, m, 30000, key=key, code=code)
    assert status == 409 and body["error"]["code"] == "CONFIRMATION_REQUIRED", body
    details = body["error"]["details"]
    assert _sale(api, cashier, m, 30000, key=key, code=code)[1]["error"]["details"] == details  # same one
    assert _sale(api, cashier, m, 29000, key=key, code=code)[0] == 422  # the key is bound to its request,
    assert _sale(api, api.staff_token(shop, "s2"), m, 30000, key=key, code=code)[0] == 422  # its store
    other = _member(api, shop)
    _set(api, other)
    assert _sale(api, cashier, other, 30000, key=key)[0] == 422  # and its member
    assert _balance(api, m) == 50000
    status, body = api.get("/v1/me/pending-payments", token=m["token"])
    assert status == 200 and len(body["payments"]) == 1, body
    pending = body["payments"][0]
    assert (pending["confirmation_id"], pending["stored_value"], pending["store_id"], pending["store_name"]) == (
        details["confirmation_id"],
        30000,
        "s1",
        "Store s1",
    )
    confirm = f"/v1/me/pending-payments/{details['confirmation_id']}/confirm"
    assert api.post(confirm, {"password": OTHER_PIN}, token=m["token"])[0] == 403
    clock.advance(seconds=90)  # the member code (60 s) has expired; the confirmation (2 min) has not
    status, receipt = api.post(confirm, {"password": PIN}, token=m["token"])
    assert status == 200 and receipt["stored_value_used"] == 30000 and receipt["order_id"] == details["order_id"]
    again = api.post(confirm, {"password": PIN}, token=m["token"])
    assert again == (200, receipt)  # confirm twice: one sale
    assert _balance(api, m) == 20000
    status, till = _sale(api, cashier, m, 30000, key=key, code=code)  # the till's retry gets the receipt
    assert status == 200 and till["order_id"] == receipt["order_id"], till
    assert api.get(f"/v1/staff/orders/{details['order_id']}", token=cashier)[0] == 200
    assert api.get("/v1/me/pending-payments", token=m["token"])[1]["payments"] == []
    assert _balance(api, m) == 20000


def test_concurrent_confirmations_complete_once(api: Any, shop: Any) -> None:
    m, cashier = _member(api, shop), api.staff_token(shop)
    _set(api, m)
    details = _sale(api, cashier, m, 30000)[1]["error"]["details"]
    confirm = f"/v1/me/pending-payments/{details['confirmation_id']}/confirm"
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: api.post(confirm, {"password": PIN}, token=m["token"]), range(4)))
    assert {s for s, _ in outcomes} == {200} and len({b["order_id"] for _, b in outcomes}) == 1, outcomes
    assert _balance(api, m) == 20000


def test_a_confirmation_belongs_to_its_member(api: Any, shop: Any) -> None:
    m, thief, cashier = _member(api, shop), _member(api, shop), api.staff_token(shop)
    _set(api, m)
    _set(api, thief, OTHER_PIN)
    details = _sale(api, cashier, m, 30000)[1]["error"]["details"]
    confirm = f"/v1/me/pending-payments/{details['confirmation_id']}/confirm"
    for pin in (PIN, OTHER_PIN):
        status, body = api.post(confirm, {"password": pin}, token=thief["token"])
        assert (status, body["error"]["code"]) == (404, "CONFIRMATION_NOT_FOUND")
    assert api.get("/v1/me/pending-payments", token=thief["token"])[1]["payments"] == []
    assert _balance(api, m) == 50000 and _balance(api, thief) == 50000


def test_a_confirmation_expires_after_two_minutes(api: Any, shop: Any, clock: Any) -> None:
    m, cashier = _member(api, shop), api.staff_token(shop)
    _set(api, m)
    key, code = uuid.uuid4().hex, api.member_code(m["token"])
    details = _sale(api, cashier, m, 30000, key=key, code=code)[1]["error"]["details"]
    clock.advance(minutes=2)
    assert api.get("/v1/me/pending-payments", token=m["token"])[1]["payments"] == []
    status, body = api.post(
        f"/v1/me/pending-payments/{details['confirmation_id']}/confirm", {"password": PIN}, token=m["token"]
    )
    assert (status, body["error"]["code"]) == (409, "CONFIRMATION_EXPIRED")
    assert _sale(api, cashier, m, 30000, key=key, code=code)[1]["error"]["code"] == "CONFIRMATION_EXPIRED"
    assert _balance(api, m) == 50000


def test_the_till_takes_the_password_only_where_the_merchant_allows(api: Any, shop: Any) -> None:
    m, cashier = _member(api, shop), api.staff_token(shop)
    _set(api, m)
    status, body = _sale(api, cashier, m, 30000, spending_password=OTHER_PIN)
    assert (status, body["error"]["code"]) == (403, "SPENDING_PASSWORD_WRONG")
    status, body = _sale(api, cashier, m, 30000, spending_password=PIN)
    assert status == 200 and body["stored_value_used"] == 30000, body
    assert api.patch("/v1/admin/settings", {"till_password": False}, token=api.admin_token(shop))[0] == 200
    status, body = _sale(api, cashier, m, 10000, spending_password=PIN)
    assert (status, body["error"]["code"]) == (403, "TILL_PASSWORD_NOT_ALLOWED")
    assert _balance(api, m) == 20000
    status, body = api.get(
        f"/v1/admin/audit?day={product_clock.local_date(shop.timezone)}", token=api.admin_token(shop)
    )
    assert status == 200
    changes = [r for r in body["records"] if r["action"] == "SETTINGS_CHANGED"]
    assert any("till_password" in r["detail"]["new"] for r in changes)


def test_a_stolen_member_code_cannot_spend_above_the_limit(api: Any, shop: Any) -> None:
    m, cashier = _member(api, shop), api.staff_token(shop)
    _set(api, m)
    assert (
        api.put("/v1/me/spending-password/free-limit", {"free_limit": 2000, "password": PIN}, token=m["token"])[0]
        == 200
    )
    code = api.member_code(m["token"])  # all the thief has
    assert _sale(api, cashier, m, 2000, code=code)[0] == 200  # at most the member's own limit per payment
    assert _sale(api, cashier, m, 2001, code=code)[1]["error"]["code"] == "CONFIRMATION_REQUIRED"
    assert _sale(api, cashier, m, 48000, code=code)[1]["error"]["code"] == "CONFIRMATION_REQUIRED"
    assert _sale(api, cashier, m, 48001, code=code)[1]["error"]["code"] == "INSUFFICIENT_BALANCE"  # not put to them
    assert len(api.get("/v1/me/pending-payments", token=m["token"])[1]["payments"]) == 2
    for guess in ("000001", "000002", "000003", "000004", "000005"):
        assert _sale(api, cashier, m, 48000, code=code, spending_password=guess)[0] == 403
    status, body = _sale(api, cashier, m, 48000, code=code, spending_password=PIN)  # even the right one now
    assert (status, body["error"]["code"]) == (429, "SPENDING_LOCKED")
    assert _sale(api, cashier, m, 1000, code=code)[1]["error"]["code"] == "SPENDING_LOCKED"  # all stored value
    assert _balance(api, m) == 48000
    # the member proves who they are with their phone: a reset lifts the lock
    assert (
        api.post(
            "/v1/me/spending-password/reset",
            {"phone_code": _phone_code(m["phone"]), "password": OTHER_PIN},
            token=m["token"],
        )[1]["locked_until"]
        is None
    )
    assert _sale(api, cashier, m, 1000, code=code)[0] == 200


def test_20_concurrent_wrong_guesses_check_at_most_5_then_lock(
    api: Any, api_url: str, shop: Any, sandbox: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    m, cashier = _member(api, shop), api.staff_token(shop)
    _set(api, m)
    api.post("/v1/me/subscriptions", {"template_ids": ["tpl-lock"]}, token=m["token"])
    details = _sale(api, cashier, m, 30000)[1]["error"]["details"]
    confirm = f"{api_url}/v1/me/pending-payments/{details['confirmation_id']}/confirm"
    bodies = [{"password": f"{100000 + i}"} for i in range(20)]
    checked, outcomes = guess_at_once(monkeypatch, spending_password, confirm, bodies, m["token"])
    assert len(checked) <= spending_password.MAX_FAILED, checked
    assert set(outcomes) <= {(403, "SPENDING_PASSWORD_WRONG"), (429, "SPENDING_LOCKED")}, outcomes
    assert (429, "SPENDING_LOCKED") in outcomes
    status, body = api.post(confirm.removeprefix(api_url), {"password": PIN}, token=m["token"])
    assert (status, body["error"]["code"]) == (429, "SPENDING_LOCKED")  # the right password during the lock
    assert _sale(api, cashier, m, 30000, spending_password=PIN)[1]["error"]["code"] == "SPENDING_LOCKED"
    assert api.get("/v1/me/spending-password", token=m["token"])[1]["locked_until"] is not None
    assert len(_messages(sandbox, m, "tpl-lock")) == 1  # told once
    assert _balance(api, m) == 50000
    clock.advance(minutes=spending_password.LOCK_MINUTES, seconds=1)
    assert _sale(api, cashier, m, 30000, spending_password=PIN)[0] == 200  # the lock lifts
    assert _balance(api, m) == 20000


def _http(api_url: str, method: str, path: str, body: Any, token: str, key: str | None = None) -> tuple[int, Any]:
    """One request over real HTTP to the served API: (status, JSON body)."""
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(f"{api_url}{path}", data=json.dumps(body).encode(), method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


FREE_LIMIT = "/v1/me/spending-password/free-limit"


def test_a_stolen_session_token_cannot_raise_the_free_limit(api: Any, api_url: str, make_merchant: Any) -> None:
    """Issue 23 item 1, as the attacker does it: the token alone made member codes and lifted the limit."""
    merchant = make_merchant()  # the default ceiling: 20000 fen
    m, cashier = _member(api, merchant, balance=35000), api.staff_token(merchant)
    _set(api, m)
    sale = {"member_code": api.member_code(m["token"]), "amount": 20000, "stored_value": 20000}
    status, body = _http(api_url, "POST", "/v1/staff/checkout", sale, cashier, key=uuid.uuid4().hex)
    assert (status, body["error"]["code"]) == (409, "CONFIRMATION_REQUIRED"), body
    status, body = _http(api_url, "PUT", FREE_LIMIT, {"free_limit": 20000}, m["token"])
    assert (status, body["error"]["code"]) == (403, "VERIFICATION_REQUIRED"), body
    sale["member_code"] = api.member_code(m["token"])
    status, body = _http(api_url, "POST", "/v1/staff/checkout", sale, cashier, key=uuid.uuid4().hex)
    assert (status, body["error"]["code"]) == (409, "CONFIRMATION_REQUIRED"), body
    assert api.get("/v1/me/spending-password", token=m["token"])[1]["free_limit"] == 0
    assert _balance(api, m) == 35000


def test_raising_the_free_limit_with_the_spending_password(api: Any, shop: Any) -> None:
    m, cashier = _member(api, shop), api.staff_token(shop)
    _set(api, m)
    status, body = api.put(FREE_LIMIT, {"free_limit": 3000, "password": PIN}, token=m["token"])
    assert status == 200 and (body["free_limit"], body["effective_free_limit"]) == (3000, 3000), body
    assert _sale(api, cashier, m, 3000)[0] == 200
    assert _balance(api, m) == 47000


def test_a_wrong_password_when_raising_counts_towards_the_lock(api: Any, shop: Any) -> None:
    m, cashier = _member(api, shop), api.staff_token(shop)
    _set(api, m)
    for guess in ("000001", "000002", "000003", "000004"):
        status, body = api.put(FREE_LIMIT, {"free_limit": 10000, "password": guess}, token=m["token"])
        assert (status, body["error"]["code"]) == (403, "SPENDING_PASSWORD_WRONG"), body
    # the same count as the till's and the phone's guesses: the fifth wrong one, here at the till, locks
    assert _sale(api, cashier, m, 8000, spending_password="000005")[1]["error"]["code"] == "SPENDING_PASSWORD_WRONG"
    status, body = api.put(FREE_LIMIT, {"free_limit": 10000, "password": PIN}, token=m["token"])
    assert (status, body["error"]["code"]) == (429, "SPENDING_LOCKED"), body  # even the right one, while locked
    state = api.get("/v1/me/spending-password", token=m["token"])[1]
    assert state["free_limit"] == 0 and state["locked_until"] is not None
    assert _balance(api, m) == 50000


def test_raising_the_free_limit_with_a_fresh_phone_code(api: Any, shop: Any) -> None:
    m = _member(api, shop)
    _set(api, m)
    wrong = api.put(FREE_LIMIT, {"free_limit": 5000, "phone_code": _phone_code("13800000000")}, token=m["token"])
    assert (wrong[0], wrong[1]["error"]["code"]) == (403, "PHONE_MISMATCH")
    both = {"free_limit": 5000, "password": PIN, "phone_code": _phone_code(m["phone"])}
    assert api.put(FREE_LIMIT, both, token=m["token"])[0] == 400  # one proof, not two
    assert api.get("/v1/me/spending-password", token=m["token"])[1]["free_limit"] == 0  # nothing changed so far
    code = _phone_code(m["phone"])
    status, body = api.put(FREE_LIMIT, {"free_limit": 5000, "phone_code": code}, token=m["token"])
    assert status == 200 and body["free_limit"] == 5000, body
    status, body = api.put(FREE_LIMIT, {"free_limit": 6000, "phone_code": code}, token=m["token"])
    assert (status, body["error"]["code"]) == (400, "INVALID_CODE"), body  # a code is good once
    assert api.get("/v1/me/spending-password", token=m["token"])[1]["free_limit"] == 5000


def test_lowering_the_free_limit_needs_nothing_more_than_the_token(api: Any, shop: Any) -> None:
    m, cashier = _member(api, shop), api.staff_token(shop)
    _set(api, m)
    assert api.put(FREE_LIMIT, {"free_limit": 8000, "password": PIN}, token=m["token"])[0] == 200
    for lower in (8000, 2000, 0):
        status, body = api.put(FREE_LIMIT, {"free_limit": lower}, token=m["token"])
        assert status == 200 and body["free_limit"] == lower, body
    status, body = api.put(FREE_LIMIT, {"free_limit": 1}, token=m["token"])
    assert (status, body["error"]["code"]) == (403, "VERIFICATION_REQUIRED")  # back up is a raise again
    assert _sale(api, cashier, m, 1)[1]["error"]["code"] == "CONFIRMATION_REQUIRED"


def test_a_member_without_a_password_raises_the_free_limit_with_the_phone(api: Any, shop: Any) -> None:
    """Nothing is asked of them at the counter today, but the limit waits for the day the password applies
    (they set one, or the merchant requires it): the token alone must not have raised it meanwhile."""
    m, cashier = _member(api, shop), api.staff_token(shop)
    assert _sale(api, cashier, m, 9000)[0] == 200  # no password set, none required: not asked
    status, body = api.put(FREE_LIMIT, {"free_limit": 10000}, token=m["token"])
    assert (status, body["error"]["code"]) == (403, "VERIFICATION_REQUIRED"), body
    status, body = api.put(FREE_LIMIT, {"free_limit": 10000, "password": PIN}, token=m["token"])
    assert (status, body["error"]["code"]) == (409, "SPENDING_PASSWORD_NOT_SET"), body
    status, body = api.put(FREE_LIMIT, {"free_limit": 10000, "phone_code": _phone_code(m["phone"])}, token=m["token"])
    assert status == 200 and body["free_limit"] == 10000 and body["is_set"] is False, body
    assert api.put(FREE_LIMIT, {"free_limit": 0}, token=m["token"])[0] == 200
    assert api.patch("/v1/admin/settings", {"spending_password_required": True}, token=api.admin_token(shop))[0] == 200
    assert _sale(api, cashier, m, 1)[1]["error"]["code"] == "CONFIRMATION_REQUIRED"


def test_a_stolen_session_token_cannot_move_the_phone_that_resets_the_password(api: Any, shop: Any) -> None:
    """The bound phone resets the password; a getPhoneNumber code proves a number, not whose card it is. With the
    token alone a thief bound their own number, reset the password with it and confirmed their own sales."""
    m = _member(api, shop)
    _set(api, m)
    thief = f"137{uuid.uuid4().int % 10**8:08d}"
    status, body = api.post("/v1/me/phone", {"code": _phone_code(thief)}, token=m["token"])
    assert (status, body["error"]["code"]) == (403, "VERIFICATION_REQUIRED"), body
    status, body = api.post(
        "/v1/me/spending-password/reset", {"phone_code": _phone_code(thief), "password": OTHER_PIN}, token=m["token"]
    )
    assert (status, body["error"]["code"]) == (403, "PHONE_MISMATCH"), body
    status, body = api.post(
        "/v1/me/phone", {"code": _phone_code(thief), "spending_password": OTHER_PIN}, token=m["token"]
    )
    assert (status, body["error"]["code"]) == (403, "SPENDING_PASSWORD_WRONG"), body  # a guess, counted
    assert int(spending_password._item(shop.merchant_id, m["member"]["member_id"]).failed_attempts) == 1
    # the same number again needs nothing; the member changes theirs with the password, and it then resets it
    assert api.post("/v1/me/phone", {"code": _phone_code(m["phone"])}, token=m["token"])[0] == 200
    new = f"136{uuid.uuid4().int % 10**8:08d}"
    status, body = api.post("/v1/me/phone", {"code": _phone_code(new), "spending_password": PIN}, token=m["token"])
    assert status == 200, body
    assert (
        api.post(
            "/v1/me/spending-password/reset", {"phone_code": _phone_code(new), "password": OTHER_PIN}, token=m["token"]
        )[0]
        == 200
    )


def test_changing_the_phone_where_the_merchant_requires_a_password_the_member_never_set(api: Any, shop: Any) -> None:
    m = _member(api, shop)
    other = f"137{uuid.uuid4().int % 10**8:08d}"
    assert api.post("/v1/me/phone", {"code": _phone_code(other)}, token=m["token"])[0] == 200  # nothing protected
    assert api.patch("/v1/admin/settings", {"spending_password_required": True}, token=api.admin_token(shop))[0] == 200
    status, body = api.post("/v1/me/phone", {"code": _phone_code(m["phone"])}, token=m["token"])
    assert (status, body["error"]["code"]) == (403, "VERIFICATION_REQUIRED"), body
    status, body = api.post(
        "/v1/me/phone", {"code": _phone_code(m["phone"]), "spending_password": PIN}, token=m["token"]
    )
    assert (status, body["error"]["code"]) == (409, "SPENDING_PASSWORD_NOT_SET"), body  # set it first, then change


def test_a_stolen_session_token_cannot_spend_stored_value_on_punch_cards(api: Any, make_merchant: Any) -> None:
    """Buying a punch card in the mini program spends stored value: held to the password-free limit like a counter
    sale, or a stolen token turns the balance into visits its own member codes then use at the till."""
    merchant = make_merchant()
    m = _member(api, merchant, balance=35000)
    status, plan = api.post(
        "/v1/admin/punch-card-plans",
        {"name": "10杯咖啡", "visits": 10, "valid_days": 90, "price": 30000},
        token=api.admin_token(merchant),
    )
    assert status == 201, plan
    buy = f"/v1/punch-cards/plans/{plan['plan_id']}/buy"
    # No password set and none required: the token buys, as before.
    other = _member(api, merchant, balance=35000)
    assert api.post(buy, token=other["token"], headers={"idempotency-key": uuid.uuid4().hex})[0] == 200
    assert _balance(api, other) == 5000

    _set(api, m)  # a password, free limit 0
    status, body = api.post(buy, token=m["token"], headers={"idempotency-key": uuid.uuid4().hex})
    assert (status, body["error"]["code"]) == (403, "VERIFICATION_REQUIRED")
    key = uuid.uuid4().hex
    status, body = api.post(buy, {"password": "135790"}, token=m["token"], headers={"idempotency-key": key})
    assert (status, body["error"]["code"]) == (403, "SPENDING_PASSWORD_WRONG")
    assert _balance(api, m) == 35000
    status, card = api.post(buy, {"password": PIN}, token=m["token"], headers={"idempotency-key": key})
    assert status == 200, card
    # The retry of the finished purchase returns it without asking again, and moves nothing more.
    assert api.post(buy, token=m["token"], headers={"idempotency-key": key}) == (200, card)
    assert _balance(api, m) == 5000


def test_a_first_password_starts_from_always_ask(api: Any, shop: Any) -> None:
    """While nothing protects the card, the token moves its phone and raises the limit with that phone's code;
    the raised limit then outlived the password the member set later, which they took for protection."""
    m, cashier = _member(api, shop), api.staff_token(shop)
    status, body = api.put(FREE_LIMIT, {"free_limit": 10000, "phone_code": _phone_code(m["phone"])}, token=m["token"])
    assert status == 200 and body["free_limit"] == 10000, body
    _set(api, m)
    status, body = api.get("/v1/me/spending-password", token=m["token"])
    assert (status, body["free_limit"], body["effective_free_limit"]) == (200, 0, 0), body
    assert _sale(api, cashier, m, 100)[1]["error"]["code"] == "CONFIRMATION_REQUIRED"
    # Raised again with the password it now has, the limit holds.
    assert api.put(FREE_LIMIT, {"free_limit": 10000, "password": PIN}, token=m["token"])[0] == 200
    assert _sale(api, cashier, m, 100)[0] == 200


def test_the_till_password_settles_a_sale_waiting_for_the_phone(api: Any, shop: Any) -> None:
    """The till offers the PIN while the sale waits for the phone: the same key and body with the password
    sell once, the member's phone no longer lists it, and a late confirmation on the phone replays it."""
    m, cashier = _member(api, shop), api.staff_token(shop)
    _set(api, m)
    key, code = uuid.uuid4().hex, api.member_code(m["token"])
    status, body = _sale(api, cashier, m, 30000, key=key, code=code)
    assert status == 409 and body["error"]["details"]["till_password"] is True, body
    details = body["error"]["details"]
    status, body = _sale(api, cashier, m, 30000, key=key, code=code, spending_password=OTHER_PIN)
    assert (status, body["error"]["code"]) == (403, "SPENDING_PASSWORD_WRONG")
    assert len(api.get("/v1/me/pending-payments", token=m["token"])[1]["payments"]) == 1  # still waiting
    status, receipt = _sale(api, cashier, m, 30000, key=key, code=code, spending_password=PIN)
    assert status == 200 and receipt["order_id"] == details["order_id"], receipt
    assert api.get("/v1/me/pending-payments", token=m["token"])[1]["payments"] == []
    confirm = f"/v1/me/pending-payments/{details['confirmation_id']}/confirm"
    assert api.post(confirm, {"password": PIN}, token=m["token"]) == (200, receipt)
    assert _sale(api, cashier, m, 30000, key=key, code=code) == (200, receipt)  # the poll's retry too
    assert _balance(api, m) == 20000
    audit = api.get(f"/v1/admin/audit?day={product_clock.local_date(shop.timezone)}", token=api.admin_token(shop))[1][
        "records"
    ]
    assert [r["detail"]["confirmed_on_phone"] for r in audit if r["action"] == "CHECKOUT"] == [0]


def test_the_till_password_and_the_phone_racing_sell_once(api: Any, shop: Any) -> None:
    for _ in range(3):
        m, cashier = _member(api, shop), api.staff_token(shop)
        _set(api, m)
        key, code = uuid.uuid4().hex, api.member_code(m["token"])
        details = _sale(api, cashier, m, 30000, key=key, code=code)[1]["error"]["details"]
        confirm = f"/v1/me/pending-payments/{details['confirmation_id']}/confirm"

        def at_till(_: int) -> tuple[int, Any]:
            return _sale(api, cashier, m, 30000, key=key, code=code, spending_password=PIN)

        def on_phone(_: int) -> tuple[int, Any]:
            return api.post(confirm, {"password": PIN}, token=m["token"])

        with ThreadPoolExecutor(4) as pool:
            outcomes = list(pool.map(lambda i: (at_till if i % 2 else on_phone)(i), range(4)))
        assert {s for s, _ in outcomes} == {200}, outcomes
        assert {b["order_id"] for _, b in outcomes} == {details["order_id"]}
        assert _balance(api, m) == 20000
        assert api.get("/v1/me/pending-payments", token=m["token"])[1]["payments"] == []


def test_the_till_password_keeps_a_waiting_sales_key_and_expiry(api: Any, shop: Any, clock: Any) -> None:
    m, cashier = _member(api, shop), api.staff_token(shop)
    _set(api, m)
    key, code = uuid.uuid4().hex, api.member_code(m["token"])
    assert _sale(api, cashier, m, 30000, key=key, code=code)[0] == 409
    status, body = _sale(api, cashier, m, 29000, key=key, code=code, spending_password=PIN)
    assert (status, body["error"]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")  # another sale under its key
    clock.advance(minutes=2)
    status, body = _sale(api, cashier, m, 30000, key=key, code=code, spending_password=PIN)
    assert (status, body["error"]["code"]) == (409, "CONFIRMATION_EXPIRED")  # the till starts a new sale
    assert _balance(api, m) == 50000
    assert api.patch("/v1/admin/settings", {"till_password": False}, token=api.admin_token(shop))[0] == 200
    status, body = _sale(api, cashier, m, 30000)
    assert status == 409 and body["error"]["details"]["till_password"] is False, body


def _withdraw(api: Any, cashier: str, key: str) -> tuple[int, Any]:
    return api.post("/v1/staff/checkout/withdraw", token=cashier, headers={"Idempotency-Key": key})


def test_the_till_withdraws_a_waiting_sale_and_the_phone_can_no_longer_confirm_it(api: Any, shop: Any) -> None:
    """The cashier stops waiting and takes cash: a late confirmation on the phone must not take stored value too."""
    m, cashier = _member(api, shop), api.staff_token(shop)
    _set(api, m)
    key, code = uuid.uuid4().hex, api.member_code(m["token"])
    details = _sale(api, cashier, m, 30000, key=key, code=code)[1]["error"]["details"]
    assert _withdraw(api, api.staff_token(shop, "s2"), key)[1]["error"]["code"] == "CONFIRMATION_NOT_FOUND"
    assert _withdraw(api, cashier, uuid.uuid4().hex)[1]["error"]["code"] == "CONFIRMATION_NOT_FOUND"
    assert _withdraw(api, cashier, key) == (200, {"status": "WITHDRAWN", "receipt": None})
    assert _withdraw(api, cashier, key) == (200, {"status": "WITHDRAWN", "receipt": None})  # a retry: the same
    assert api.get("/v1/me/pending-payments", token=m["token"])[1]["payments"] == []
    status, body = api.post(
        f"/v1/me/pending-payments/{details['confirmation_id']}/confirm", {"password": PIN}, token=m["token"]
    )
    assert (status, body["error"]["code"]) == (409, "CONFIRMATION_WITHDRAWN")
    for extra in ({}, {"spending_password": PIN}):  # the key is done with: the till starts a new sale
        status, body = _sale(api, cashier, m, 30000, key=key, code=code, **extra)
        assert (status, body["error"]["code"]) == (409, "CONFIRMATION_WITHDRAWN")
    assert _balance(api, m) == 50000


def test_withdrawing_a_sale_the_member_confirmed_first_answers_its_receipt(api: Any, shop: Any) -> None:
    m, cashier = _member(api, shop), api.staff_token(shop)
    _set(api, m)
    key = uuid.uuid4().hex
    details = _sale(api, cashier, m, 30000, key=key)[1]["error"]["details"]
    receipt = api.ok(
        "POST", f"/v1/me/pending-payments/{details['confirmation_id']}/confirm", {"password": PIN}, token=m["token"]
    )
    assert _withdraw(api, cashier, key) == (200, {"status": "DONE", "receipt": receipt})


def test_withdrawal_and_confirmation_racing_settle_one_way(api: Any, shop: Any) -> None:
    for _ in range(4):  # either may win on a given run; each outcome is checked
        m, cashier = _member(api, shop), api.staff_token(shop)
        _set(api, m)
        key = uuid.uuid4().hex
        details = _sale(api, cashier, m, 30000, key=key)[1]["error"]["details"]
        confirm = f"/v1/me/pending-payments/{details['confirmation_id']}/confirm"
        with ThreadPoolExecutor(2) as pool:
            withdrawn = pool.submit(_withdraw, api, cashier, key)
            confirmed = pool.submit(api.post, confirm, {"password": PIN}, token=m["token"])
            (w_status, w_body), (c_status, c_body) = withdrawn.result(), confirmed.result()
        assert w_status == 200, w_body
        if w_body["status"] == "DONE":  # the phone first: the sale stands, and the till gets its receipt
            assert c_status == 200 and w_body["receipt"] == c_body and _balance(api, m) == 20000
        else:  # the till first: no sale
            assert (c_status, c_body["error"]["code"]) == (409, "CONFIRMATION_WITHDRAWN"), c_body
            assert _balance(api, m) == 50000
