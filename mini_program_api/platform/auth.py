"""Session tokens: HS256 JWTs carrying merchant, subject and role.

Only HS256 is accepted on decode (never the token's own `alg`), and exp, iat,
sub, mid and role are required, so `alg: none`, unsigned or half-formed tokens
fail closed.

Signed and checked here with the standard library's HMAC (RFC 7515's compact form, RFC 7519's claims), not
PyJWT: importing PyJWT loads urllib.request for its JWKS client, about 15 ms of the first request of every
signed-in path a cold container serves (bench/cold_start.py), for one HMAC. Tokens are the same either way:
tests/integration/test_tokens.py has PyJWT read ours and ours read PyJWT's, and refuses every forgery it makes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mini_program_api.platform import clock
from mini_program_api.platform.config import settings
from mini_program_api.platform.errors import KabaoError
from mini_program_api.platform.secrets import resolve

ROLES = frozenset({"member", "staff", "admin"})
_ISSUER = "kabao"
_AUDIENCE = "kabao-api"
_ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    merchant_id: str
    subject: str  # member id, staff id or admin id, by role
    role: str
    store_id: str | None = None
    # Staff and admin sessions: the account's token version at login (staff.require_session compares it).
    token_version: int | None = None


def _secret() -> str:
    secret = resolve(settings().jwt_secret_ref)
    if len(secret) < 32:
        raise RuntimeError("the JWT secret must be at least 32 characters")
    return secret


def issue(principal: Principal) -> tuple[str, int]:
    """Returns (token, expires_in seconds)."""
    ttl = settings().token_ttl_seconds
    now = clock.now()
    claims = {
        "iss": _ISSUER,
        "aud": _AUDIENCE,
        "sub": principal.subject,
        "mid": principal.merchant_id,
        "role": principal.role,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl)).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    if principal.store_id:
        claims["store"] = principal.store_id
    if principal.token_version is not None:
        claims["ver"] = principal.token_version
    return _encode(claims, _secret()), ttl


# The header every token carries, as PyJWT writes it; a token's own header is read only to refuse any other alg.
_HEADER = {"alg": _ALGORITHM, "typ": "JWT"}
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")  # base64url without padding (RFC 7515 §2)
_REQUIRED = ("exp", "iat", "sub", "mid", "role", "aud", "iss")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(segment: str) -> bytes:
    if not _SEGMENT.fullmatch(segment):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _signature(signing_input: str, secret: str) -> bytes:
    return hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()


def _encode(claims: dict[str, Any], secret: str) -> str:
    header = _b64encode(json.dumps(_HEADER, separators=(",", ":")).encode())
    payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}.{_b64encode(_signature(f'{header}.{payload}', secret))}"


def _decode(token: str, secret: str) -> dict[str, Any]:
    """The claims of an HS256 token signed with `secret` for our audience and issuer; ValueError otherwise.
    Times are checked by `verify`, against our clock (which tests and jobs may move)."""
    header, payload, signature = token.split(".") if token.count(".") == 2 else ("", "", "")
    if not header or not payload or not signature:
        raise ValueError("not a compact JWS")
    if json.loads(_b64decode(header)).get("alg") != _ALGORITHM:  # `none`, RS256, HS512: never the token's choice
        raise ValueError("not HS256")
    if not hmac.compare_digest(_b64decode(signature), _signature(f"{header}.{payload}", secret)):
        raise ValueError("bad signature")
    claims = json.loads(_b64decode(payload))
    if not isinstance(claims, dict) or any(name not in claims for name in _REQUIRED):
        raise ValueError("claims missing")
    audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if _AUDIENCE not in audience or claims["iss"] != _ISSUER:
        raise ValueError("not ours")
    if "nbf" in claims and not (isinstance(claims["nbf"], int) and claims["nbf"] <= clock.now().timestamp()):
        raise ValueError("not yet valid")
    if "jti" in claims and not isinstance(claims["jti"], str):
        raise ValueError("bad jti")
    return claims


def verify(token: str) -> Principal:
    try:
        claims = _decode(token, _secret())
    except (ValueError, AttributeError, UnicodeError, binascii.Error, RecursionError):
        raise KabaoError("UNAUTHENTICATED", "invalid token") from None
    exp, iat = claims["exp"], claims["iat"]
    if not all(isinstance(v, int) for v in (exp, iat)):
        raise KabaoError("UNAUTHENTICATED", "invalid token")
    if exp <= clock.now().timestamp():
        raise KabaoError("TOKEN_EXPIRED", "token expired, log in again")
    if claims["role"] not in ROLES or not isinstance(claims["mid"], str) or not isinstance(claims["sub"], str):
        raise KabaoError("UNAUTHENTICATED", "invalid token")
    version = claims.get("ver")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise KabaoError("UNAUTHENTICATED", "invalid token")
    return Principal(claims["mid"], claims["sub"], claims["role"], claims.get("store"), version)
