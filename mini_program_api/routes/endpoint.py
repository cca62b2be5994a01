"""The one way a route is declared: auth, body/query validation and error shape in one place.

Chalice turns any exception escaping a view into a 500 before middleware sees
it, so `KabaoError` is converted here, inside the view.

Request models are named, not passed (`body="LoginBody"`, a class in schemas.py): the module and
pydantic are imported, and the one model built, on the first request that needs it. Importing them
for every route at import time was a third of a cold start (bench/cold_start.py).
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from .. import auth, merchants
from ..auth import Principal
from ..errors import KabaoError
from ..telemetry import logs

if TYPE_CHECKING:
    from pydantic import BaseModel

MAX_PATH_ID = 128  # characters in an id taken from the path
MODELS: set[str] = set()  # every request model a route names (tests/test_cold_start.py checks each exists)


@dataclass(frozen=True)
class Call:
    """What a handler gets: the caller, the validated body and query, and raw headers."""

    principal: Principal | None
    body: Any
    query: Any
    headers: dict[str, str]
    raw_body: bytes

    @property
    def member(self) -> Principal:
        assert self.principal is not None
        return self.principal

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")

    @property
    def timezone(self) -> str:
        """The caller's merchant's time zone, for ISO times with its offset (merchant settings are cached)."""
        return merchants.get(self.member.merchant_id).timezone


def endpoint(
    bp: Blueprint,
    path: str,
    method: str,
    *,
    role: str | tuple[str, ...] | None,
    body: str | None = None,
    query: str | None = None,
    status: int = 200,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    MODELS.update(name for name in (body, query) if name)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @bp.route(path, methods=[method])
        @functools.wraps(fn)
        def view(**params: str) -> Response:
            request = bp.current_request
            rid = logs.request_id(request.context, getattr(request, "lambda_context", None))
            with logs.request(rid, method, path) as entry:
                response = _respond(fn, request, params, role, body, query, status, entry)
                entry.status = response.status_code
                response.headers["X-Request-Id"] = rid  # what a client quotes to support: finds this line
                return response

        return view

    return decorate


def _respond(fn: Callable[..., Any], request: Any, params: dict[str, str], role: str | tuple[str, ...] | None,
             body: type[BaseModel] | None, query: type[BaseModel] | None, status: int,
             entry: logs.RequestLog) -> Response:
    headers = {k.lower(): v for k, v in (request.headers or {}).items()}
    if len(params.get("merchant_id", "")) <= MAX_PATH_ID:
        entry.merchant_id = params.get("merchant_id")  # the notify routes name theirs in the path
    try:
        principal = _authenticate(headers, role) if role else None
        if principal is not None:
            entry.merchant_id = principal.merchant_id
        call = Call(
            principal=principal,
            body=_parse_body(request.raw_body, body) if body else None,
            query=_validate(query, dict(request.query_params or {})) if query else None,
            headers=headers,
            raw_body=request.raw_body or b"",
        )
        if any(len(value) > MAX_PATH_ID for value in params.values()):
            # No id of ours is that long, and DynamoDB refuses keys past 1-2 KB (a 500).
            raise KabaoError("NOT_FOUND", "no such resource")
        result = fn(call, **params)
    except KabaoError as exc:
        entry.outcome = exc.code
        return Response(body=exc.body(), status_code=exc.status)
    entry.outcome = "OK"
    return Response(body=result if result is not None else "", status_code=status)


def _authenticate(headers: dict[str, str], role: str | tuple[str, ...]) -> Principal:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise KabaoError("UNAUTHENTICATED", "missing bearer token")
    principal = auth.verify(token.strip())
    roles = (role,) if isinstance(role, str) else role
    if principal.role not in roles:
        raise KabaoError("FORBIDDEN", f"this endpoint is for role {' or '.join(roles)}")
    if principal.role == "staff" and not principal.store_id:
        raise KabaoError("UNAUTHENTICATED", "staff tokens are bound to a store")
    return principal


@cache
def model(name: str) -> type[BaseModel]:
    """The request model called `name` in schemas.py, imported (with pydantic) on first use; its
    validator is built on its first validation (`defer_build`)."""
    from . import schemas

    return getattr(schemas, name)  # type: ignore[no-any-return]


def _parse_body(raw: bytes | None, name: str) -> Any:
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise KabaoError("INVALID_JSON", "request body is not valid JSON") from None
    except RecursionError:  # `[` x 50000: nested deeper than the parser's stack; no request of ours nests that deep
        raise KabaoError("INVALID_JSON", "request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise KabaoError("VALIDATION_ERROR", "request body must be a JSON object")
    return _validate(name, data)


def _validate(name: str, data: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    try:
        return model(name).model_validate(data)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "problem": err["msg"]} for err in exc.errors()
        ]
        message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise KabaoError("VALIDATION_ERROR", message, fields=problems) from None
