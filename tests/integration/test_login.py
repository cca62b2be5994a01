"""POST /v1/auth/login: WeChat code -> member and token; every bad input is a 4xx that writes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from mini_program_api.db.models import LOOKUP, Lookup, lookup_pk


def test_first_login_creates_member_and_returns_token(api: Any, merchant: Any) -> None:
    status, body = api.post("/v1/auth/login", {"appid": merchant.appid, "code": "test:alice"})
    assert status == 200, body
    assert body["created"] is True and body["expires_in"] == 7200 and body["token"].count(".") == 2
    member = body["member"]
    assert member["card"] is None and member["phone"] is None
    assert (member["points"], member["principal"], member["bonus"], member["growth"]) == (0, 0, 0, 0)
    assert member["tier"]["id"] == "normal" and member["next_tier"]["id"] == "silver"
    assert body["merchant"]["terms_version"] == merchant.terms_version
    assert "session_key" not in str(body)


def test_second_login_same_openid_is_same_member(api: Any, merchant: Any) -> None:
    first = api.login(merchant, "bob")
    second = api.login(merchant, "bob")
    assert second["created"] is False
    assert second["member"]["member_id"] == first["member"]["member_id"]


def test_same_openid_at_two_merchants_is_two_members(api: Any, merchant: Any, sandbox: Any) -> None:
    from mini_program_api.merchants import configuration

    other = configuration.create(
        configuration.MerchantSpec(
            merchant_id=f"m-{uuid.uuid4().hex[:8]}",
            name="Other",
            appid=f"wx{uuid.uuid4().hex[:12]}",
            app_secret_ref="dev:other-secret",
            tiers=[("normal", "普通", 0)],
        )
    )
    sandbox.apps[other.appid] = "other-secret"
    assert api.login(merchant, "carol")["member"]["member_id"] != api.login(other, "carol")["member"]["member_id"]


def test_reused_code_is_rejected(api: Any, merchant: Any) -> None:
    body = {"appid": merchant.appid, "code": "test:dave:once"}
    assert api.post("/v1/auth/login", body)[0] == 200
    status, error = api.post("/v1/auth/login", body)
    assert (status, error["error"]["code"]) == (400, "INVALID_CODE")


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"appid": "{appid}", "code": "not-a-test-code"}, 400, "INVALID_CODE"),
        ({"appid": "wx-nobody", "code": "test:erin"}, 400, "UNKNOWN_APPID"),
        ({"appid": "{appid}"}, 400, "VALIDATION_ERROR"),
        ({"code": "test:erin"}, 400, "VALIDATION_ERROR"),
        ({"appid": "{appid}", "code": 12345}, 400, "VALIDATION_ERROR"),
        ({"appid": "{appid}", "code": "test:erin", "admin": True}, 400, "VALIDATION_ERROR"),
        ({"appid": "{appid}", "code": ""}, 400, "VALIDATION_ERROR"),
        (["not", "an", "object"], 400, "VALIDATION_ERROR"),
    ],
)
def test_bad_login_is_4xx_and_creates_nothing(api: Any, merchant: Any, payload: Any, status: int, code: str) -> None:
    if isinstance(payload, dict):
        payload = {k: (v.format(appid=merchant.appid) if isinstance(v, str) else v) for k, v in payload.items()}
    got_status, body = api.post("/v1/auth/login", payload)
    assert (got_status, body["error"]["code"]) == (status, code)
    assert body["error"]["message"]
    with pytest.raises(Lookup.DoesNotExist):
        Lookup.get(lookup_pk(merchant.merchant_id, "OPENID", "erin"), LOOKUP, consistent_read=True)


def test_non_json_body_is_400(api: Any, merchant: Any) -> None:
    status, body = api.call("POST", "/v1/auth/login", raw=b"appid=wx&code=x")
    assert (status, body["error"]["code"]) == (400, "INVALID_JSON")


def test_wrong_app_secret_is_not_a_client_error_and_creates_nothing(api: Any, merchant: Any, sandbox: Any) -> None:
    sandbox.apps[merchant.appid] = "rotated-secret"
    status, body = api.post("/v1/auth/login", {"appid": merchant.appid, "code": "test:frank"})
    assert (status, body["error"]["code"]) == (503, "WECHAT_UNAVAILABLE")
    with pytest.raises(Lookup.DoesNotExist):
        Lookup.get(lookup_pk(merchant.merchant_id, "OPENID", "frank"), LOOKUP, consistent_read=True)


def test_concurrent_first_logins_create_one_member(api: Any, merchant: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from mini_program_api.members import login

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: login.login(merchant.appid, f"test:grace:{i}"), range(16)))
    assert len({r.member.member_id for r in results}) == 1
    assert sum(r.created for r in results) == 1


def test_a_first_login_that_draws_a_taken_invite_code_draws_again(api: Any, merchant: Any, monkeypatch: Any) -> None:
    """The invite-code lookup is what keeps two members from sharing a code (40 bits drawn at random): a first
    login whose transaction loses on it alone draws again and is created, once; the holder keeps the code."""
    from mini_program_api.members import login
    from mini_program_api.platform import ids

    holder = api.login(merchant, "heidi")["member"]
    taken, fresh = holder["invite_code"], ids.invite_code()
    drawn = iter([taken, fresh])
    monkeypatch.setattr(ids, "invite_code", lambda: next(drawn))
    result = login.login(merchant.appid, "test:ivan")
    assert result.created and result.member.invite_code == fresh
    assert next(drawn, None) is None  # drawn twice, no more
    owners = {
        code: Lookup.get(lookup_pk(merchant.merchant_id, "INVITE", code), LOOKUP, consistent_read=True).target
        for code in (taken, fresh)
    }
    assert owners == {taken: holder["member_id"], fresh: result.member.member_id}
    again = api.login(merchant, "ivan")
    assert (again["created"], again["member"]["member_id"]) == (False, result.member.member_id)
