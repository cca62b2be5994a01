"""Issue 13: staff accounts disabled, re-passworded and signed out at once; stores renamed and closed;
logins, failures and lockouts in the audit trail; the trail paged newest first across days."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from mini_program_api.platform import clock as product_clock

PASSWORD = "correct horse battery"


def _staff(api: Any, merchant: Any, store_id: str = "s1") -> tuple[str, str]:
    """A cashier at `store_id`: (username, token)."""
    admin = api.admin_token(merchant)
    status, _ = api.post("/v1/admin/stores", {"store_id": store_id, "name": f"Store {store_id}"}, token=admin)
    assert status == 201
    username = f"c-{uuid.uuid4().hex[:8]}"
    api.ok(
        "POST",
        "/v1/admin/staff",
        {"username": username, "password": PASSWORD, "role": "staff", "store_id": store_id},
        token=admin,
    )
    return username, _login(api, merchant, username)


def _login(api: Any, merchant: Any, username: str, password: str = PASSWORD) -> Any:
    status, body = api.post(
        "/v1/staff/login", {"merchant_id": merchant.merchant_id, "username": username, "password": password}
    )
    return body["token"] if status == 200 else (status, body["error"]["code"])


def _probe(api: Any, token: str) -> tuple[int, str]:
    """A staff call that reaches the handler only with a live session (then: no such order, 404)."""
    status, body = api.get("/v1/staff/orders/nope", token=token)
    return status, body["error"]["code"]


def _actions(api: Any, merchant: Any) -> list[tuple[str, str]]:
    page = api.ok("GET", "/v1/admin/audit?limit=100", token=api.admin_token(merchant))
    return [(r["action"], r["target"]) for r in page["records"]]


def test_disable_reset_and_revoke_end_sessions_at_once(api: Any, merchant: Any) -> None:
    admin = api.admin_token(merchant)
    username, token = _staff(api, merchant)
    assert _probe(api, token) == (404, "ORDER_NOT_FOUND")

    # Revoke: every session ends, the password still works.
    api.ok("POST", f"/v1/admin/staff/{username}/revoke-sessions", token=admin)
    assert _probe(api, token) == (401, "SESSION_REVOKED")
    token = _login(api, merchant, username)
    assert _probe(api, token) == (404, "ORDER_NOT_FOUND")

    # Disable: refused at once; login refused only to someone who knows the password.
    assert api.ok("POST", f"/v1/admin/staff/{username}/disable", token=admin)["disabled"] is True
    assert _probe(api, token) == (403, "ACCOUNT_DISABLED")
    assert _login(api, merchant, username) == (403, "ACCOUNT_DISABLED")
    assert _login(api, merchant, username, "wrong password!") == (401, "INVALID_CREDENTIALS")
    api.ok("POST", f"/v1/admin/staff/{username}/disable", token=admin)  # again: nothing changes, nothing recorded
    assert api.ok("POST", f"/v1/admin/staff/{username}/enable", token=admin)["disabled"] is False
    assert _probe(api, token) == (401, "SESSION_REVOKED")  # enabling does not bring old sessions back
    token = _login(api, merchant, username)
    assert _probe(api, token) == (404, "ORDER_NOT_FOUND")

    # Reset: sessions end, the old password stops working, a lock is lifted.
    for _ in range(5):
        _login(api, merchant, username, "wrong password!")
    assert _login(api, merchant, username) == (429, "ACCOUNT_LOCKED")
    assert api.ok("GET", f"/v1/admin/staff/{username}", token=admin)["locked_until"] is not None
    assert api.post(f"/v1/admin/staff/{username}/password", {"password": "short"}, token=admin)[0] == 400
    api.ok("POST", f"/v1/admin/staff/{username}/password", {"password": "a new long password"}, token=admin)
    assert _probe(api, token) == (401, "SESSION_REVOKED")
    assert _login(api, merchant, username) == (401, "INVALID_CREDENTIALS")
    assert _probe(api, _login(api, merchant, username, "a new long password")) == (404, "ORDER_NOT_FOUND")

    actions = [a for a, target in _actions(api, merchant) if target == username]
    assert actions.count("STAFF_DISABLED") == 1 and actions.count("STAFF_ENABLED") == 1
    for expected in (
        "STAFF_SESSIONS_REVOKED",
        "STAFF_PASSWORD_RESET",
        "STAFF_LOGIN",
        "STAFF_LOGIN_FAILED",
        "STAFF_LOCKED",
        "STAFF_LOGIN_REFUSED",
    ):
        assert expected in actions, (expected, actions)
    assert all(
        "password" not in str(r["detail"]).lower() or r["action"] == "STAFF_LOGIN_FAILED"
        for r in api.ok("GET", "/v1/admin/audit", token=admin)["records"]
    )


def test_account_routes_refuse_members_staff_other_merchants_and_self_disable(
    api: Any, merchant: Any, make_merchant: Any
) -> None:
    username, token = _staff(api, merchant)
    member = api.member_with_card(merchant)
    paths = [
        ("GET", f"/v1/admin/staff/{username}", None),
        ("POST", f"/v1/admin/staff/{username}/disable", None),
        ("POST", f"/v1/admin/staff/{username}/revoke-sessions", None),
        ("POST", f"/v1/admin/staff/{username}/password", {"password": "a new long password"}),
        ("PATCH", "/v1/admin/stores/s1", {"name": "x"}),
        ("POST", "/v1/admin/stores/s1/close", None),
        ("GET", "/v1/admin/audit", None),
    ]
    other_admin = api.admin_token(make_merchant())
    for method, path, body in paths:
        assert api.call(method, path, body, token=member["token"])[0] == 403
        assert api.call(method, path, body, token=token)[0] == 403
        if "audit" not in path:  # another merchant's admin: not found in their own merchant
            assert api.call(method, path, body, token=other_admin)[0] == 404, path
    assert _probe(api, token) == (404, "ORDER_NOT_FOUND")  # untouched by all of that
    status, body = api.post("/v1/admin/staff/admin-1/disable", token=api.admin_token(merchant))
    assert (status, body["error"]["code"]) == (409, "CANNOT_DISABLE_SELF")
    # A disabled admin is refused at once too.
    second = api.admin_token(merchant, "admin-2")
    api.ok("POST", "/v1/admin/staff/admin-2/disable", token=api.admin_token(merchant))
    assert api.get("/v1/admin/stores", token=second)[1]["error"]["code"] == "ACCOUNT_DISABLED"


def test_store_rename_and_close(api: Any, merchant: Any) -> None:
    admin = api.admin_token(merchant)
    username, token = _staff(api, merchant, "s1")
    assert api.patch("/v1/admin/stores/s1", {}, token=admin)[0] == 400
    assert api.patch("/v1/admin/stores/s1", {"name": None}, token=admin)[0] == 400
    assert api.ok("PATCH", "/v1/admin/stores/s1", {"name": "南京西路店"}, token=admin)["name"] == "南京西路店"
    api.ok("PATCH", "/v1/admin/stores/s1", {"name": "南京西路店"}, token=admin)  # same name: nothing recorded
    assert api.patch("/v1/admin/stores/nope", {"name": "x"}, token=admin)[0] == 404
    closed = api.ok("POST", "/v1/admin/stores/s1/close", token=admin)
    assert closed["closed_at"] is not None
    assert _probe(api, token) == (401, "SESSION_REVOKED")
    assert _login(api, merchant, username) == (409, "STORE_CLOSED")
    status, body = api.post(
        "/v1/admin/staff", {"username": "late", "password": PASSWORD, "role": "staff", "store_id": "s1"}, token=admin
    )
    assert (status, body["error"]["code"]) == (409, "STORE_CLOSED")
    assert api.ok("GET", "/v1/admin/stores/s1", token=admin)["closed_at"] == closed["closed_at"]
    actions = [a for a, target in _actions(api, merchant) if target == "s1"]
    assert actions.count("STORE_RENAMED") == 1 and actions.count("STORE_CLOSED") == 1


def test_audit_trail_pages_newest_first_across_days(api: Any, merchant: Any, clock: Any) -> None:
    admin = api.admin_token(merchant)
    made = []
    for day in range(4):  # one store a day, with a quiet week between the second and third
        clock.advance(days=1 if day != 2 else 8)
        admin = api.admin_token(merchant)
        api.ok("POST", "/v1/admin/stores", {"store_id": f"d{day}", "name": f"D{day}"}, token=admin)
        made.append(f"d{day}")
    seen, cursor = [], None
    while True:
        page = api.ok("GET", "/v1/admin/audit?limit=3" + (f"&cursor={cursor}" if cursor else ""), token=admin)
        assert len(page["records"]) <= 3
        seen += [r for r in page["records"]]
        cursor = page["cursor"]
        if cursor is None:
            break
    times = [r["at"] for r in seen]
    assert times == sorted(times, reverse=True)
    assert [r["target"] for r in seen if r["action"] == "STORE_CREATED"] == made[::-1]
    day = product_clock.local_date(merchant.timezone).isoformat()
    assert [r["target"] for r in api.ok("GET", f"/v1/admin/audit?day={day}", token=admin)["records"]] == ["d3"]
    assert api.get("/v1/admin/audit?cursor=bad", token=admin)[1]["error"]["code"] == "INVALID_CURSOR"
    # A long quiet stretch ends a page early with a cursor rather than reading without bound.
    clock.advance(days=100)
    page = api.ok("GET", "/v1/admin/audit?limit=5", token=api.admin_token(merchant))
    assert page["records"] == [] and page["cursor"]
    rest = api.ok("GET", f"/v1/admin/audit?limit=5&cursor={page['cursor']}", token=api.admin_token(merchant))
    rest2 = rest
    while not rest2["records"] and rest2["cursor"]:
        rest2 = api.ok("GET", f"/v1/admin/audit?limit=5&cursor={rest2['cursor']}", token=api.admin_token(merchant))
    assert rest2["records"][0]["target"] == "d3"
    assert timedelta(days=1)  # (times are the merchant's, with offset)


def test_an_ended_session_sells_nothing_though_the_sale_is_read_with_it(api: Any, merchant: Any) -> None:
    """A sale's and a gift's first reads come back in the same round trip as the cashier's session (endpoint.py's
    `reads`); the session is checked before the handler sees them. A revoked or disabled cashier sells and
    redeems nothing, whatever key or code they send (a key the sale would refuse still answers the session's
    refusal), and the same key after a new login sells once."""
    from mini_program_api.money import idempotency

    admin = api.admin_token(merchant)
    username, token = _staff(api, merchant)
    member = api.member_with_card(merchant)
    key = uuid.uuid4().hex
    order_id = idempotency.client_key(merchant.merchant_id, "checkout", key).derived_id("K")

    def sale(token: str, idempotency_key: str = key) -> tuple[int, Any]:
        body = {"member_code": api.member_code(member["token"]), "amount": 3000}
        return api.post("/v1/staff/checkout", body, token=token, headers={"idempotency-key": idempotency_key})

    def refused(answer: tuple[int, Any]) -> tuple[int, str]:
        return answer[0], answer[1]["error"]["code"]

    def points() -> int:
        return int(api.ok("GET", "/v1/me", token=member["token"])["points"])

    before = points()
    api.ok("POST", f"/v1/admin/staff/{username}/revoke-sessions", token=admin)
    assert refused(sale(token)) == (401, "SESSION_REVOKED")
    assert refused(sale(token, "no!")) == (401, "SESSION_REVOKED")
    gift = {"member_code": api.member_code(member["token"]), "coupon_id": "nope"}
    redeemed = api.post("/v1/staff/coupons/redeem", gift, token=token, headers={"idempotency-key": key})
    assert refused(redeemed) == (401, "SESSION_REVOKED")

    token = _login(api, merchant, username)
    assert refused(api.get(f"/v1/staff/orders/{order_id}", token=token)) == (404, "ORDER_NOT_FOUND")
    assert points() == before
    assert refused(sale(token, "no!")) == (400, "INVALID_IDEMPOTENCY_KEY")
    status, receipt = sale(token)
    assert status == 200 and receipt["order_id"] == order_id, receipt
    assert sale(token) == (200, receipt)
    earned = points() - before
    assert earned > 0

    api.ok("POST", f"/v1/admin/staff/{username}/disable", token=admin)
    assert refused(sale(token, uuid.uuid4().hex)) == (403, "ACCOUNT_DISABLED")
    assert points() - before == earned


def test_an_ended_session_is_refused_before_its_body_is_judged(api: Any, merchant: Any) -> None:
    """A revoked or disabled account's token answers its session's refusal whatever it sends, as it did before the
    body was read ahead of the session (endpoint.py): a malformed sale or gift is not a 400 the till would show as
    a mistake to correct; the till is sent back to its login."""
    admin = api.admin_token(merchant)
    revoked_name, revoked = _staff(api, merchant)
    disabled_name, disabled = _staff(api, merchant)
    api.ok("POST", f"/v1/admin/staff/{revoked_name}/revoke-sessions", token=admin)
    api.ok("POST", f"/v1/admin/staff/{disabled_name}/disable", token=admin)
    key = {"idempotency-key": uuid.uuid4().hex}
    for token, refusal in ((revoked, (401, "SESSION_REVOKED")), (disabled, (403, "ACCOUNT_DISABLED"))):
        for path, body in (
            ("/v1/staff/checkout", {"member_code": "not a code", "amount": -1}),
            ("/v1/staff/coupons/redeem", {"member_code": "123"}),
            ("/v1/staff/orders?limit=nope", None),
        ):
            status, answer = api.call("POST" if body else "GET", path, body, token=token, headers=key)
            assert (status, answer["error"]["code"]) == refusal, (path, answer)
