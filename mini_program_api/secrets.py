"""Resolve secret references: `ssm:/path` in AWS, `dev:value` on a local stack only.

A reference instead of a value keeps keys out of `chalice.json` and out of the
Lambda environment; `dev:` exists so that the sandbox and the tests need no AWS,
and it is refused outside local stages so a dev key can never reach production.
"""
from __future__ import annotations

from functools import cache

from .config import settings


class SecretError(RuntimeError):
    """A secret reference that cannot be resolved: a deployment mistake, not a client error."""


@cache
def resolve(ref: str) -> str:
    scheme, _, rest = ref.partition(":")
    if not rest:
        raise SecretError("empty or malformed secret reference")
    if scheme == "dev":
        if not settings().is_local:
            raise SecretError("dev: secrets are refused outside local stages")
        return rest
    if scheme == "ssm":
        import boto3

        client = boto3.client("ssm", region_name=settings().region)
        return client.get_parameter(Name=rest, WithDecryption=True)["Parameter"]["Value"]
    raise SecretError(f"unknown secret scheme {scheme!r}")
