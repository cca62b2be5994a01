"""Resolve secret references: `ssm:/path` in AWS, `dev:value` on a local stack only.

A reference instead of a value keeps keys out of `chalice.json` and out of the
Lambda environment; `dev:` exists so that the sandbox and the tests need no AWS,
and it is refused outside local stages so a dev key can never reach production.

`ssm:` values are read through the AWS Parameters and Secrets Lambda Extension, a layer the template attaches
to every function (infra/deploy/secrets_extension.py): one GET on loopback with the standard library, so a cold
container loads neither boto3's SSM client and its service model nor Powertools to read the JWT secret every
signed-in path needs. The extension keeps each parameter `EXTENSION_TTL_SECONDS` (its `SSM_PARAMETER_STORE_TTL`,
set by the template) and this module keeps each value `MAX_AGE_SECONDS` more in the process, so a warm container
crosses loopback about once a minute per name, not per request or per token. A rotated
secret is picked up within the sum, `ROTATION_SECONDS` (five minutes, what docs/operations.md promises), without
waiting for a cold start. What is built from a secret must not outlive it: the WeChat clients are cached by the
secret's value (a new value, a new client) and the JWT secret is resolved per token. The PII key is the
exception: data is encrypted under it, so it is not rotated by overwriting the parameter.

Without the layer (or with the wrong port) nothing answers on loopback and every `ssm:` reference is a
`SecretError` naming the parameter and the cause, within `TIMEOUT_SECONDS`; so is a parameter SSM refuses or
does not have, and a session token the extension refuses. No error carries a value.

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

import os
import re
import threading
from contextlib import closing
from datetime import datetime

from mini_program_api.platform import clock
from mini_program_api.platform.config import settings

MAX_AGE_SECONDS = 60  # in this process, on top of the extension's own cache
EXTENSION_TTL_SECONDS = 240  # SSM_PARAMETER_STORE_TTL, which infra/deploy/secrets_extension.py sets
ROTATION_SECONDS = MAX_AGE_SECONDS + EXTENSION_TTL_SECONDS  # the longest a warm container reads an old value
TIMEOUT_SECONDS = 3.0  # the extension's own call to SSM gives up first (SSM_PARAMETER_STORE_TIMEOUT_MILLIS)
DEFAULT_PORT = 2773  # the extension's, unless PARAMETERS_SECRETS_EXTENSION_HTTP_PORT says otherwise


class SecretError(RuntimeError):
    """A secret reference that cannot be resolved: a deployment mistake, not a client error."""


class SecretRefused(SecretError):
    """A reference refused before anything is read (`check_merchant_ref`: another scheme, a name outside the
    merchant's path): the merchant's set-up, for its callers to answer as such. A read that fails (no layer, a
    timeout, SSM refusing or throttling) is a plain SecretError: the deployment's, a logged 5xx, never reported as
    the merchant's missing configuration."""


def resolve(ref: str) -> str:
    scheme, _, rest = ref.partition(":")
    if not rest:
        raise SecretError("empty or malformed secret reference")
    if scheme == "dev":
        if not settings().is_local:
            raise SecretError("dev: secrets are refused outside local stages")
        return rest
    if scheme == "ssm":
        return _parameter(rest)
    raise SecretError(f"unknown secret scheme {scheme!r}")


# name -> (when it was read, its value); the local server's threads share it, so it is read and written under
# the lock, but a read from the extension happens outside it (two threads missing at once both read: harmless).
_cache: dict[str, tuple[datetime, str]] = {}
_cache_lock = threading.Lock()


def _parameter(name: str) -> str:
    now = clock.now()
    with _cache_lock:
        cached = _cache.get(name)
    if cached is not None and 0 <= (now - cached[0]).total_seconds() < MAX_AGE_SECONDS:
        return cached[1]
    value = _from_extension(name)
    with _cache_lock:
        _cache[name] = (now, value)
    return value


def _from_extension(name: str) -> str:
    """GetParameter through the extension on loopback: `{"Parameter": {"Name", "Type", "Value", ...}}`."""
    import http.client
    import json
    from urllib.parse import quote

    configured = os.environ.get("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT") or str(DEFAULT_PORT)
    if not re.fullmatch(r"[0-9]{1,5}", configured) or not 0 < int(configured) < 65536:
        raise SecretError(f"parameter {name}: PARAMETERS_SECRETS_EXTENSION_HTTP_PORT is not a port: {configured!r}")
    port = int(configured)
    token = os.environ.get("AWS_SESSION_TOKEN", "")
    if not token:
        raise SecretError(f"parameter {name}: no AWS_SESSION_TOKEN for the Parameters and Secrets extension")
    try:
        with closing(http.client.HTTPConnection("localhost", port, timeout=TIMEOUT_SECONDS)) as connection:
            connection.request(
                "GET",
                f"/systemsmanager/parameters/get?name={quote(name, safe='')}&withDecryption=true",
                headers={"X-Aws-Parameters-Secrets-Token": token},
            )
            answer = connection.getresponse()
            body = answer.read()
    # Refused (no layer, another port), reset, no answer within the timeout; or not whole HTTP (cut off, another
    # program on the port): http.client's own errors, one of which (IncompleteRead) holds the bytes it read.
    except (OSError, http.client.HTTPException) as exc:
        raise SecretError(
            f"parameter {name}: the Parameters and Secrets extension did not answer on localhost:{port}"
            f" ({type(exc).__name__}); is its layer attached to the function?"
        ) from None
    if answer.status in (401, 403):
        raise SecretError(f"parameter {name}: the Parameters and Secrets extension refused the session token")
    if answer.status != 200:  # SSM's refusal (no such parameter, not allowed): an error text, never a value
        reason = body[:200].decode("utf-8", "replace").strip()
        raise SecretError(f"parameter {name}: the Parameters and Secrets extension answered {answer.status}: {reason}")
    try:
        value = json.loads(body)["Parameter"]["Value"]
    except (ValueError, KeyError, TypeError):
        value = None
    if not isinstance(value, str):
        raise SecretError(f"parameter {name}: the Parameters and Secrets extension answered without a value")
    return value


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
            raise SecretRefused("dev: references are for local stages only")
        return
    if scheme != "ssm":
        raise SecretRefused("a merchant's secret is an ssm: reference")
    prefix = merchant_prefix(merchant_id)
    if not _segment(merchant_id) or not rest.startswith(prefix):
        raise SecretRefused(f"a merchant's secret is a parameter under {prefix}")
    if not all(_segment(part) for part in rest.removeprefix(prefix).split("/")):
        raise SecretRefused(f"not a parameter name under {prefix}")


def check_merchant_refs(merchant_id: str, refs: dict[str, str | None]) -> None:
    """`check_merchant_ref` for every named reference that is set (None: not set); the error names the one
    refused. Where a merchant's references are written: the merchant row and the onboarding CLI."""
    for name, ref in refs.items():
        if ref is None:
            continue
        try:
            check_merchant_ref(merchant_id, ref)
        except SecretError as exc:
            raise SecretRefused(f"{name}: {exc}") from None


def resolve_merchant(merchant_id: str, ref: str) -> str:
    """Resolve one of the merchant's own references; never another merchant's, whatever was stored."""
    check_merchant_ref(merchant_id, ref)
    return resolve(ref)
