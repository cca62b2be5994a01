"""Stores, staff and admin accounts, staff login and the audit trail."""

from __future__ import annotations

from typing import Any

from mini_program_api.db.staff import StaffAccount, staff_pk
from mini_program_api.platform import auth, clock
from mini_program_api.staff import accounts

PASSWORD = "correct horse battery"


def _login(api: Any, merchant: Any, username: str, password: str = PASSWORD) -> tuple[int, Any]:
    return api.post(
        "/v1/staff/login", {"merchant_id": merchant.merchant_id, "username": username, "password": password}
    )


def test_admin_creates_store_and_staff_who_log_in_bound_to_the_store(api: Any, merchant: Any) -> None:
    admin = api.admin_token(merchant)
    assert api.post("/v1/admin/stores", {"store_id": "wj", "name": "五角场店"}, token=admin)[0] == 201
    status, body = api.post(
        "/v1/admin/staff", {"username": "amy", "password": PASSWORD, "role": "staff", "store_id": "wj"}, token=admin
    )
    assert status == 201 and body == {"username": "amy", "role": "staff", "store_id": "wj"}
    stored = StaffAccount.get(staff_pk(merchant.merchant_id), "amy")
    assert stored.password_hash.startswith("scrypt$16384$8$1$") and PASSWORD not in stored.password_hash
    status, session = _login(api, merchant, "amy")
    assert status == 200 and session["role"] == "staff" and session["store_id"] == "wj"
    principal = auth.verify(session["token"])
    assert (principal.role, principal.store_id, principal.subject) == ("staff", "wj", "amy")
    # a staff token is not an admin token, nor a member token
    assert api.get("/v1/admin/stores", token=session["token"])[1]["error"]["code"] == "FORBIDDEN"
    assert api.get("/v1/me", token=session["token"])[1]["error"]["code"] == "FORBIDDEN"
    _, stores = api.get("/v1/admin/stores", token=admin)
    assert stores == {"stores": [{"store_id": "wj", "name": "五角场店", "closed_at": None}], "cursor": None}


def test_admin_accounts_log_in_as_admin(api: Any, merchant: Any) -> None:
    accounts.create_account(None, merchant.merchant_id, "boss", PASSWORD, "admin", None)  # the bootstrap path
    status, session = _login(api, merchant, "boss")
    assert status == 200 and session["role"] == "admin" and session["store_id"] is None
    assert api.get("/v1/admin/staff", token=session["token"])[1]["staff"][0]["username"] == "boss"


def test_account_rules(api: Any, merchant: Any) -> None:
    admin = api.admin_token(merchant)
    api.post("/v1/admin/stores", {"store_id": "s1", "name": "One"}, token=admin)
    cases = [
        ({"username": "a1", "password": PASSWORD, "role": "staff"}, 400, "VALIDATION_ERROR"),  # staff without store
        ({"username": "a1", "password": PASSWORD, "role": "admin", "store_id": "s1"}, 400, "VALIDATION_ERROR"),
        ({"username": "a1", "password": "short", "role": "staff", "store_id": "s1"}, 400, "VALIDATION_ERROR"),
        ({"username": "a1", "password": PASSWORD, "role": "staff", "store_id": "nope"}, 404, "STORE_NOT_FOUND"),
        ({"username": "a b", "password": PASSWORD, "role": "staff", "store_id": "s1"}, 400, "VALIDATION_ERROR"),
        ({"username": "a1", "password": PASSWORD, "role": "owner", "store_id": "s1"}, 400, "VALIDATION_ERROR"),
    ]
    for body, status, code in cases:
        got = api.post("/v1/admin/staff", body, token=admin)
        assert (got[0], got[1]["error"]["code"]) == (status, code), body
    assert [a.username for a in accounts.accounts(merchant.merchant_id).items] == ["admin-1"]  # the test admin only
    ok = {"username": "a1", "password": PASSWORD, "role": "staff", "store_id": "s1"}
    assert api.post("/v1/admin/staff", ok, token=admin)[0] == 201
    status, body = api.post("/v1/admin/staff", {**ok, "password": "another password"}, token=admin)
    assert (status, body["error"]["code"]) == (409, "ALREADY_EXISTS")
    assert _login(api, merchant, "a1")[0] == 200  # the first password still stands
    status, body = api.post("/v1/admin/stores", {"store_id": "s1", "name": "Again"}, token=admin)
    assert (status, body["error"]["code"]) == (409, "ALREADY_EXISTS")


def test_wrong_passwords_unknown_users_lockout(api: Any, merchant: Any, clock: Any) -> None:
    api.staff_token(merchant)  # store s1 exists
    accounts.create_account(None, merchant.merchant_id, "bob", PASSWORD, "staff", "s1")
    assert _login(api, merchant, "nobody")[1]["error"]["code"] == "INVALID_CREDENTIALS"
    other = api.post("/v1/staff/login", {"merchant_id": "m-other", "username": "bob", "password": PASSWORD})
    assert other[0] == 401  # the same username at another merchant is another account
    for _ in range(accounts.MAX_FAILED_LOGINS):
        status, body = _login(api, merchant, "bob", "wrong password!")
        assert (status, body["error"]["code"]) == (401, "INVALID_CREDENTIALS")
    status, body = _login(api, merchant, "bob")  # right password, but locked
    assert (status, body["error"]["code"]) == (429, "ACCOUNT_LOCKED")
    clock.advance(minutes=accounts.LOCK_MINUTES, seconds=1)
    assert _login(api, merchant, "bob")[0] == 200
    assert int(StaffAccount.get(staff_pk(merchant.merchant_id), "bob").failed_logins) == 0


def test_admin_endpoints_refuse_members_staff_and_other_merchants(api: Any, merchant: Any, make_merchant: Any) -> None:
    member = api.member_with_card(merchant)
    for token, answer in (
        (member["token"], (403, "FORBIDDEN")),
        (api.staff_token(merchant), (403, "FORBIDDEN")),
        (None, (401, "UNAUTHENTICATED")),
    ):
        status, body = api.post("/v1/admin/stores", {"store_id": "x", "name": "X"}, token=token)
        assert (status, body["error"]["code"]) == answer, token
    # A token of another merchant's admin is an admin of that merchant only: the store lands there, not here.
    other = make_merchant()
    api.post("/v1/admin/stores", {"store_id": "theirs", "name": "Theirs"}, token=api.admin_token(other))
    assert [s["store_id"] for s in api.get("/v1/admin/stores", token=api.admin_token(merchant))[1]["stores"]] == ["s1"]


def test_staff_token_without_store_is_refused(api: Any, merchant: Any) -> None:
    token = auth.issue(auth.Principal(merchant.merchant_id, "ghost", "staff"))[0]
    status, body = api.post(
        "/v1/staff/checkout",
        {"member_code": "1" * 18, "amount": 100},
        token=token,
        headers={"idempotency-key": "k" * 16},
    )
    assert (status, body["error"]["code"]) == (401, "UNAUTHENTICATED")


def test_audit_trail_records_who_did_what_where(api: Any, merchant: Any) -> None:
    api.staff_token(merchant, "s9")
    day = clock.local_date(merchant.timezone).isoformat()
    _, body = api.get(f"/v1/admin/audit?day={day}", token=api.admin_token(merchant))
    actions = [(r["action"], r["actor"], r["target"]) for r in body["records"]]
    assert actions[0] == ("STORE_CREATED", "admin-1", "s9")
    assert actions[1][0] == "STAFF_CREATED" and body["records"][1]["detail"]["store_id"] == "s9"
    assert api.get("/v1/admin/audit?day=yesterday", token=api.admin_token(merchant))[0] == 400
    api.post(
        "/v1/admin/coupon-templates",
        {"name": "5元", "kind": "CASH", "amount": 500, "total_stock": 5, "per_member_limit": 1, "days_after_claim": 7},
        token=api.admin_token(merchant),
    )
    _, body = api.get(f"/v1/admin/audit?day={day}", token=api.admin_token(merchant))
    assert body["records"][-1]["action"] == "COUPON_TEMPLATE_CREATED" and body["records"][-1]["actor"] == "admin-1"
