"""Tokens: forged, expired, unsigned or misrouted tokens never reach data."""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

import jwt
import pytest

from mini_program_api.platform import auth
from mini_program_api.platform.auth import Principal

PROTECTED = [
    ("GET", "/v1/me"),
    ("GET", "/v1/me/code"),
    ("GET", "/v1/me/ledger?account=points"),
    ("POST", "/v1/me/sign-in"),
]


def _claims(merchant_id: str, member_id: str, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": "kabao",
        "aud": "kabao-api",
        "sub": member_id,
        "mid": merchant_id,
        "role": "member",
        "iat": now,
        "exp": now + 600,
        **over,
    }


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.fixture
def member(api: Any, merchant: Any) -> dict[str, Any]:
    return api.member_with_card(merchant)


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_missing_token_is_401(api: Any, method: str, path: str) -> None:
    status, body = api.call(method, path)
    assert (status, body["error"]["code"]) == (401, "UNAUTHENTICATED")


def test_forged_signature_is_401(api: Any, member: dict[str, Any], merchant: Any) -> None:
    forged = jwt.encode(_claims(merchant.merchant_id, member["member"]["member_id"]), "x" * 40, algorithm="HS256")
    for method, path in PROTECTED:
        status, body = api.call(method, path, token=forged)
        assert (status, body["error"]["code"]) == (401, "UNAUTHENTICATED")


def test_alg_none_is_401(api: Any, member: dict[str, Any], merchant: Any) -> None:
    unsigned = (
        f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(merchant.merchant_id, member['member']['member_id']))}."
    )
    status, body = api.get("/v1/me", token=unsigned)
    assert (status, body["error"]["code"]) == (401, "UNAUTHENTICATED")


def test_tampered_payload_is_401(api: Any, member: dict[str, Any]) -> None:
    header, _, signature = member["token"].split(".")
    tampered = f"{header}.{_b64(_claims('another-merchant', 'another-member'))}.{signature}"
    status, body = api.get("/v1/me", token=tampered)
    assert (status, body["error"]["code"]) == (401, "UNAUTHENTICATED")


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer", "🙂"])
def test_garbage_token_is_401(api: Any, garbage: str) -> None:
    status, body = api.get("/v1/me", headers={"authorization": f"Bearer {garbage}"})
    assert status == 401 and body["error"]["code"] == "UNAUTHENTICATED"


def test_validly_signed_but_expired_token_is_401(api: Any, member: dict[str, Any], merchant: Any) -> None:
    from mini_program_api.platform.secrets import resolve

    secret = resolve(os.environ["KABAO_JWT_SECRET"])  # the test stage's secret, a dev: or an ssm: reference
    claims = _claims(merchant.merchant_id, member["member"]["member_id"], iat=1_700_000_000, exp=1_700_000_600)
    status, body = api.get("/v1/me", token=jwt.encode(claims, secret, algorithm="HS256"))
    assert (status, body["error"]["code"]) == (401, "TOKEN_EXPIRED")
    fresh = jwt.encode(_claims(merchant.merchant_id, member["member"]["member_id"]), secret, algorithm="HS256")
    assert api.get("/v1/me", token=fresh)[0] == 200  # same secret, live times: accepted


def test_token_expires_after_its_ttl(api: Any, merchant: Any, clock: Any) -> None:
    session = api.login(merchant)
    assert api.get("/v1/me", token=session["token"])[0] == 200
    clock.advance(seconds=session["expires_in"] + 1)
    status, body = api.get("/v1/me", token=session["token"])
    assert (status, body["error"]["code"]) == (401, "TOKEN_EXPIRED")


def test_staff_role_cannot_use_member_endpoints(api: Any, member: dict[str, Any], merchant: Any) -> None:
    token, _ = auth.issue(Principal(merchant.merchant_id, member["member"]["member_id"], "staff", "store-1"))
    status, body = api.get("/v1/me", token=token)
    assert (status, body["error"]["code"]) == (403, "FORBIDDEN")


def test_token_for_unknown_member_is_404_not_someone_else(api: Any, merchant: Any) -> None:
    token, _ = auth.issue(Principal(merchant.merchant_id, "no-such-member", "member"))
    status, body = api.get("/v1/me", token=token)
    assert (status, body["error"]["code"]) == (404, "MEMBER_NOT_FOUND")


def test_each_member_sees_only_their_own_data(api: Any, merchant: Any) -> None:
    alice, bob = api.member_with_card(merchant), api.member_with_card(merchant)
    api.post("/v1/me/sign-in", token=alice["token"])
    _, bob_me = api.get("/v1/me", token=bob["token"])
    assert bob_me["member_id"] == bob["member"]["member_id"] and bob_me["points"] == 0
    _, bob_ledger = api.get("/v1/me/ledger?account=points", token=bob["token"])
    assert bob_ledger["entries"] == []
