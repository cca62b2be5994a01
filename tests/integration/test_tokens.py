"""Tokens: forged, expired, unsigned or misrouted tokens never reach data."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from typing import Any

import jwt
import pytest

from mini_program_api.platform import auth
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError

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
    secret = os.environ["KABAO_JWT_SECRET"].removeprefix("dev:")  # the test stage's dev secret
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


# platform/auth.py signs and checks HS256 itself (no PyJWT in a cold start): PyJWT is the reference it must match.


def _secret() -> str:
    return os.environ["KABAO_JWT_SECRET"].removeprefix("dev:")  # the test stage's dev secret


def test_pyjwt_reads_our_tokens_as_we_issue_them(merchant: Any) -> None:
    principal = Principal(merchant.merchant_id, "member-1", "staff", "store-1", 3)
    token, ttl = auth.issue(principal)
    claims = jwt.decode(token, _secret(), algorithms=["HS256"], audience="kabao-api", issuer="kabao")
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    assert (claims["mid"], claims["sub"], claims["role"], claims["store"], claims["ver"]) == (
        merchant.merchant_id,
        "member-1",
        "staff",
        "store-1",
        3,
    )
    assert claims["exp"] - claims["iat"] == ttl and isinstance(claims["jti"], str)
    assert auth.verify(token) == principal


def test_we_read_pyjwts_tokens_and_refuse_what_it_refuses(merchant: Any) -> None:
    good = _claims(merchant.merchant_id, "member-1")
    assert auth.verify(jwt.encode(good, _secret(), algorithm="HS256")) == Principal(
        merchant.merchant_id, "member-1", "member"
    )
    assert auth.verify(jwt.encode({**good, "aud": ["other", "kabao-api"]}, _secret(), algorithm="HS256"))
    refused = [
        jwt.encode(good, _secret() * 2, algorithm="HS512"),  # (PyJWT warns of an HS512 key under 64 bytes)
        jwt.encode(good, _secret() + "x", algorithm="HS256"),
        jwt.encode({**good, "aud": "another-api"}, _secret(), algorithm="HS256"),
        jwt.encode({**good, "iss": "someone"}, _secret(), algorithm="HS256"),
        jwt.encode({**good, "nbf": int(time.time()) + 600}, _secret(), algorithm="HS256"),
        jwt.encode({**good, "jti": 5}, _secret(), algorithm="HS256"),
        *(
            jwt.encode({k: v for k, v in good.items() if k != missing}, _secret(), algorithm="HS256")
            for missing in ("exp", "iat", "sub", "mid", "role", "aud", "iss")
        ),
    ]
    for token in refused:
        with pytest.raises(jwt.PyJWTError):  # as platform/auth.py called PyJWT before it checked tokens itself
            jwt.decode(
                token,
                _secret(),
                algorithms=["HS256"],
                audience="kabao-api",
                issuer="kabao",
                options={"require": ["exp", "iat", "sub", "mid", "role"], "verify_exp": False, "verify_iat": False},
            )
        with pytest.raises(KabaoError) as refusal:
            auth.verify(token)
        assert refusal.value.code == "UNAUTHENTICATED", token


@pytest.mark.parametrize(
    "token",
    [
        "a.b",
        "a.b.c.d",
        "..",
        "eyJhbGciOiJIUzI1NiJ9..sig",
        "W10.e30.c2ln",  # header `[]`
        "e30.e30.c2ln",  # header `{}`: no alg
        "eyJhbGciOiJIUzI1NiJ9.e30=.c2ln",  # padding is not base64url's
        "eyJhbGciOiJIUzI1NiJ9.ZQ.c2ln",  # a payload that is not JSON
        "eyJhbGciOiJIUzI1NiJ9.e30.c2ln+",
    ],
)
def test_malformed_tokens_are_unauthenticated(token: str) -> None:
    with pytest.raises(KabaoError) as refusal:
        auth.verify(token)
    assert refusal.value.code == "UNAUTHENTICATED"


def test_a_token_signed_over_a_payload_that_is_not_an_object_is_refused() -> None:
    header = _b64({"alg": "HS256", "typ": "JWT"})
    for payload in ("[]", '"x"', "1"):
        body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        signature = hmac.new(_secret().encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
        token = f"{header}.{body}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"
        with pytest.raises(KabaoError) as refusal:
            auth.verify(token)
        assert refusal.value.code == "UNAUTHENTICATED"


@pytest.mark.parametrize("alg", ["none", "HS512", "RS256", None])
def test_a_header_naming_another_alg_is_refused_even_with_a_valid_hs256_signature(alg: str | None) -> None:
    """The algorithm is ours (HS256), never the token's: one that says otherwise is refused, however it is signed."""
    header = _b64({"alg": alg, "typ": "JWT"} if alg else {"typ": "JWT"})
    body = _b64(_claims("m", "member-1"))
    signature = hmac.new(_secret().encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    token = f"{header}.{body}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"
    with pytest.raises(KabaoError) as refusal:
        auth.verify(token)
    assert refusal.value.code == "UNAUTHENTICATED"
