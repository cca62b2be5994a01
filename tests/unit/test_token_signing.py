"""A session token is signed with the standard library (platform/auth.py `_signed`) and verified with PyJWT: the
token is byte for byte the one PyJWT's `encode` makes for the same claims and secret, and PyJWT, as `verify` calls
it, reads back exactly those claims (a wrong secret or a changed byte does not verify).
"""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from mini_program_api.platform import auth

SECRETS = ["s" * 32, "a-much-longer-secret-of-sixty-four-characters-0123456789abcdefgh", "会员卡的秘钥" * 6]
CLAIMS: list[dict[str, Any]] = [
    {
        "iss": "kabao",
        "aud": "kabao-api",
        "sub": "6b0ea574b2014a529366018938aaa4e8",
        "mid": "demo",
        "role": "member",
        "iat": 1_764_900_000,
        "exp": 1_764_986_400,
        "jti": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    },
    {
        "iss": "kabao",
        "aud": "kabao-api",
        "sub": "staff-01",
        "mid": "m-门店",  # non-ASCII, escaped as PyJWT's json.dumps escapes it
        "role": "staff",
        "iat": 0,
        "exp": 2**40,
        "jti": "?>?>~~",  # bytes whose base64 has + and / (made - and _) and padding to strip
        "store": "store-1",
        "ver": 7,
    },
    {"sub": "", "mid": "x", "role": "admin", "iat": 1, "exp": 2, "ver": 0, "extra": {"a": [1, None, True]}},
]


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("claims", CLAIMS, ids=range(len(CLAIMS)))
def test_the_token_is_the_one_pyjwt_makes(claims: dict[str, Any], secret: str) -> None:
    ours = auth._signed(claims, secret)
    assert ours == jwt.encode(claims, secret, algorithm="HS256")
    assert (
        jwt.decode(
            ours,
            secret,
            algorithms=["HS256"],
            options={"verify_signature": True, "verify_aud": False, "verify_exp": False, "verify_iat": False},
        )
        == claims
    )


def test_a_token_signed_under_another_secret_or_changed_does_not_verify() -> None:
    token = auth._signed(CLAIMS[0], SECRETS[0])
    options = {"verify_aud": False, "verify_exp": False, "verify_iat": False}
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, SECRETS[1], algorithms=["HS256"], options=options)
    head, body, signature = token.split(".")
    changed = f"{head}.{body[:-1]}{'A' if body[-1] != 'A' else 'B'}.{signature}"
    with pytest.raises(jwt.PyJWTError):
        jwt.decode(changed, SECRETS[0], algorithms=["HS256"], options=options)
