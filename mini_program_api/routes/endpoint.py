"""The one way a route is declared: auth, body/query validation and error shape in one place.

Chalice turns any exception escaping a view into a 500 before middleware sees
it, so `KabaoError` is converted here, inside the view.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from chalice import Blueprint, Response
from pydantic import BaseModel, ValidationError

from .. import auth, merchants
from ..auth import Principal
from ..errors import KabaoError

M = TypeVar("M", bound=BaseModel)
MAX_PATH_ID = 128  # characters in an id taken from the path


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
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    status: int = 200,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @bp.route(path, methods=[method])
        @functools.wraps(fn)
        def view(**params: str) -> Response:
            request = bp.current_request
            headers = {k.lower(): v for k, v in (request.headers or {}).items()}
            try:
                call = Call(
                    principal=_authenticate(headers, role) if role else None,
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
                return Response(body=exc.body(), status_code=exc.status)
            if isinstance(result, Response):  # a handler that chose its own content type (a CSV report)
                return result
            return Response(body=result if result is not None else "", status_code=status)

        return view

    return decorate


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


def _parse_body(raw: bytes | None, model: type[M]) -> M:
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise KabaoError("INVALID_JSON", "request body is not valid JSON") from None
    except RecursionError:  # `[` x 50000: nested deeper than the parser's stack; no request of ours nests that deep
        raise KabaoError("INVALID_JSON", "request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise KabaoError("VALIDATION_ERROR", "request body must be a JSON object")
    return _validate(model, data)


def _validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "problem": err["msg"]} for err in exc.errors()
        ]
        message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise KabaoError("VALIDATION_ERROR", message, fields=problems) from None
