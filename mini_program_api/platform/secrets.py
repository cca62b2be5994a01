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
"""

from __future__ import annotations

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


@cache
def _ssm() -> SSMProvider:
    """One provider (and its cache) per container; boto3 and Powertools' SSM module load only when a
    stage has ssm: references, so a cold start without them pays for neither."""
    import boto3
    from aws_lambda_powertools.utilities.parameters.ssm import SSMProvider

    return SSMProvider(boto3_client=boto3.client("ssm", region_name=settings().region))
