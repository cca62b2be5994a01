"""Resolve secret references: `ssm:/path` in AWS, `dev:value` on a local stack only.

A reference instead of a value keeps keys out of `chalice.json` and out of the
Lambda environment; `dev:` exists so that the sandbox and the tests need no AWS,
and it is refused outside local stages so a dev key can never reach production.

SSM values are read through Powertools Parameters and kept `MAX_AGE_SECONDS`, so a
warm container makes no SSM call per request yet picks up a rotated secret within
that time, without waiting for a cold start. What is built from a secret must not
outlive it: the WeChat clients are cached by the secret's value (a new value, a new
client) and the JWT secret is resolved per token. The PII key is the exception: data
is encrypted under it, so it is not rotated by overwriting the parameter.

Every merchant's secrets share one Lambda role, which may read every merchant's parameters, so IAM
cannot keep one merchant's references off another's. A merchant's reference (its app secret, WeChat
Pay keys, official account secret, event token, EncodingAESKey) must therefore name a parameter
under that merchant's own path, `/kabao/{stage}/merchants/{merchant_id}/`, and it is checked both
where it is set (`check_merchant_ref`: the admin API, onboarding) and where it is read
(`resolve_merchant`): a reference stored before that rule existed, or written past it, is never
resolved. The stage's own references (the JWT secret, the PII key) come from the deployment's
environment, not from a merchant, and are read with `resolve`.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

from mini_program_api.platform.config import settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters.ssm import SSMProvider

MAX_AGE_SECONDS = 300


class SecretError(RuntimeError):
    """A secret reference that cannot be resolved: a deployment mistake, not a client error."""


def resolve(ref: str) -> str:
    scheme, _, rest = ref.partition(":")
    if not rest:
        raise SecretError("empty or malformed secret reference")
    if scheme == "dev":
        if not settings().is_local:
            raise SecretError("dev: secrets are refused outside local stages")
        return rest
    if scheme == "ssm":
        return str(_ssm().get(rest, max_age=MAX_AGE_SECONDS, decrypt=True))
    raise SecretError(f"unknown secret scheme {scheme!r}")


_SEGMENT = re.compile(r"[A-Za-z0-9_.-]+")  # what SSM allows in a path segment, without `/`


def _segment(part: str) -> bool:
    """One path segment: SSM's characters, and not `.`, `..` or the like (no traversal to read past)."""
    return bool(_SEGMENT.fullmatch(part)) and bool(part.strip("."))


def merchant_prefix(merchant_id: str) -> str:
    """Where a merchant's parameters live (infra/deploy/onboard.py writes them there)."""
    return f"/kabao/{settings().stage}/merchants/{merchant_id}/"


def check_merchant_ref(merchant_id: str, ref: str) -> None:
    """Refuse (SecretError) a reference the merchant may not use: another scheme, or an `ssm:` name outside
    `merchant_prefix` (another merchant's, the stage's own, `..`, a trailing `/`, another case: SSM names
    are case-sensitive, so `/kabao/prod/merchants/ACME/` is not acme's). A `dev:` reference holds its value,
    naming nothing of anyone else's: taken on local stages only, as `resolve` does, so a merchant set up with
    one elsewhere is refused when written, not at its first payment."""
    scheme, _, rest = ref.partition(":")
    if scheme == "dev" and rest:
        if not settings().is_local:
            raise SecretError("dev: references are for local stages only")
        return
    if scheme != "ssm":
        raise SecretError("a merchant's secret is an ssm: reference")
    prefix = merchant_prefix(merchant_id)
    if not _segment(merchant_id) or not rest.startswith(prefix):
        raise SecretError(f"a merchant's secret is a parameter under {prefix}")
    if not all(_segment(part) for part in rest.removeprefix(prefix).split("/")):
        raise SecretError(f"not a parameter name under {prefix}")


def check_merchant_refs(merchant_id: str, refs: dict[str, str | None]) -> None:
    """`check_merchant_ref` for every named reference that is set (None: not set); the error names the one
    refused. Where a merchant's references are written: the merchant row and the onboarding CLI."""
    for name, ref in refs.items():
        if ref is None:
            continue
        try:
            check_merchant_ref(merchant_id, ref)
        except SecretError as exc:
            raise SecretError(f"{name}: {exc}") from None


def resolve_merchant(merchant_id: str, ref: str) -> str:
    """Resolve one of the merchant's own references; never another merchant's, whatever was stored."""
    check_merchant_ref(merchant_id, ref)
    return resolve(ref)


@cache
def _ssm() -> SSMProvider:
    """One provider (and its cache) per container; boto3 and Powertools' SSM module load only when a
    stage has ssm: references, so a cold start without them pays for neither."""
    import boto3
    from aws_lambda_powertools.utilities.parameters.ssm import SSMProvider

    return SSMProvider(boto3_client=boto3.client("ssm", region_name=settings().region))
