"""Session tokens: HS256 JWTs carrying merchant, subject and role.

Only HS256 is accepted on decode (never the token's own `alg`), and exp, iat,
sub, mid and role are required, so `alg: none`, unsigned or half-formed tokens
fail closed.
"""

from __future__ import annotations

import sys
import uuid
from datetime import timedelta
from functools import cache
from types import ModuleType
from typing import NamedTuple

from mini_program_api.platform import clock
from mini_program_api.platform.config import settings
from mini_program_api.platform.errors import KabaoError
from mini_program_api.platform.secrets import resolve


@cache
def jwt_module() -> ModuleType:
    """PyJWT, imported on the first token issued or verified (not with this module, which every staff action,
    a WeChat Pay notify and the scheduled jobs import for `Principal` and never sign or verify anything), and
    without the `cryptography` it would load for RSA/EC/EdDSA keys.

    PyJWT imports cryptography (x509, every asymmetric key type) at import when it is installed, and
    falls back to HMAC alone when it is not. We accept HS256 only, so a cold start need not pay for
    the rest: cryptography is hidden while jwt is imported (None in sys.modules reads as "not
    installed") and given back at once, for platform/pii.py and WeChat Pay to import when they need it. When
    something imported cryptography first, PyJWT simply sees it; HS256 behaves the same either way.
    """
    if "jwt" in sys.modules or "cryptography" in sys.modules:
        import jwt

        return jwt
    sys.modules["cryptography"] = None  # type: ignore[assignment]
    try:
        import jwt
    finally:
        del sys.modules["cryptography"]
    return jwt


ROLES = frozenset({"member", "staff", "admin"})
_ISSUER = "kabao"
_AUDIENCE = "kabao-api"
_ALGORITHM = "HS256"


class Principal(NamedTuple):
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
    return jwt_module().encode(claims, _secret(), algorithm=_ALGORITHM), ttl


def verify(token: str) -> Principal:
    jwt = jwt_module()
    try:
        claims = jwt.decode(
            token,
            _secret(),
            algorithms=[_ALGORITHM],
            audience=_AUDIENCE,
            issuer=_ISSUER,
            # Times are checked below against our clock, which tests and jobs may move.
            options={"require": ["exp", "iat", "sub", "mid", "role"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
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
