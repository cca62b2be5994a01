"""The one way a route is declared: auth, body/query validation, error shape and the request's log line.

Chalice turns any exception escaping a view into a 500 before middleware sees
it, so `KabaoError` is converted here, inside the view.

A call is checked in this order: its token (signature, expiry, role), its body and query, then the account
behind the token as the table has it (a staff session not ended, a member not erased), then its handler runs.
The account is read last of these so a till's sale can read its first items in the same round trip (`reads`);
a body or query refused is answered after the account alone is checked, so an ended session's or an erased
member's refusal still wins over a 400, as when the account was read first.

Models are named, not passed (`body="LoginBody"`, `response="LoginView"`: classes in schemas.py and
responses.py): the modules and pydantic are imported, and a model built, on the first request that
needs it. Importing them for every route at import time was a third of a cold start (bench/cold_start.py).
For the same reason a route module imports at its top only what declaring its routes needs, and each
handler imports the domain modules it calls: every Lambda imports app.py whichever handler it serves,
and then loads only the code (and PynamoDB, botocore's client, PyJWT) its own calls reach
(tests/infra/test_cold_start.py keeps it so).

Every declaration is kept in `ROUTES`, from which `openapi.py` builds the spec on demand. On the
local stages (dev, tests) each answer is checked against its declaration, so a view cannot drift
from the published contract: a body that does not fit its response model is a 500, an error code the
route does not declare is recorded in `UNDECLARED` (tests fail on it), and reading the
Idempotency-Key in a route that does not declare it raises.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from chalice import Blueprint, Response

from mini_program_api.platform.config import settings
from mini_program_api.platform.errors import STATUS, KabaoError
from mini_program_api.telemetry import logs

if TYPE_CHECKING:
    from pydantic import BaseModel

    from mini_program_api.db.models import ItemKey, Known, Member
    from mini_program_api.platform.auth import Principal

    Reads = Callable[["Call"], Sequence[ItemKey]]  # a staff route's first reads (`endpoint`)

MAX_PATH_ID = 128  # characters in an id taken from the path

# Codes any route can answer, whatever it declares: the database or WeChat's gateway refusing for a moment.
COMMON_ERRORS = ("DATABASE_UNAVAILABLE", "CONCURRENT_UPDATE", "RATE_LIMITED")


class Route(NamedTuple):
    """One declared operation: what the spec says about it and what the local stages hold it to.
    `body`, `query` and `response` name models (see `model`)."""

    name: str
    module: str
    doc: str
    path: str
    method: str
    role: tuple[str, ...]
    body: str | None
    query: str | None
    response: str | None
    status: int
    idempotent: bool
    errors: frozenset[str]  # every code it may answer: `declared` and those its declaration implies
    declared: frozenset[str]  # what its domain calls can raise (`errors=`), checked by infra/contract_errors.py
    reads: Reads | None = None  # what a staff call reads first, read with its session (`endpoint`)


ROUTES: list[Route] = []
# (method, path, code) of error codes answered but not declared; only filled on the local stages.
UNDECLARED: set[tuple[str, str, str]] = set()


class ResponseDrift(Exception):
    """A view answered something its response model does not describe: a bug, surfaced as a 500."""


def implied_errors(role: tuple[str, ...], body: bool, query: bool, path: str, idempotent: bool) -> set[str]:
    """Codes the declaration itself brings: auth, input validation, path ids, idempotency keys."""
    codes = set(COMMON_ERRORS)
    if role:
        codes |= {"UNAUTHENTICATED", "TOKEN_EXPIRED", "FORBIDDEN"}
    if "member" in role:  # an erased member's token (data_rights/erasure.py)
        codes.add("ACCOUNT_DELETED")
    if {"staff", "admin"} & set(role):  # the account behind the token is read on every call (staff.require_session)
        codes |= {"SESSION_REVOKED", "ACCOUNT_DISABLED"}
    if body:
        codes |= {"INVALID_JSON", "VALIDATION_ERROR", "UNSUPPORTED_MEDIA_TYPE", "REQUEST_TOO_LARGE"}
    if query:
        codes |= {"VALIDATION_ERROR", "INVALID_CURSOR"}
    if "{" in path:
        codes.add("NOT_FOUND")
    if idempotent:
        codes |= {"INVALID_IDEMPOTENCY_KEY", "IDEMPOTENCY_KEY_REUSED"}
    return codes


class Call(NamedTuple):
    """What a handler gets: the caller, the validated body and query, and raw headers."""

    principal: Principal | None
    body: Any
    query: Any
    headers: dict[str, str]
    raw_body: bytes
    route: Route | None = None
    # A member caller's row as the call found it, before anything it wrote (None: no row, or not a member call).
    member: Member | None = None
    # A staff call's first reads (the route's `reads`), read with its session: pass on to `get_together`.
    known: Known | None = None

    @property
    def caller(self) -> Principal:
        """Who called a route with a role: a member, a staff member or an admin (`principal`, known present)."""
        assert self.principal is not None
        return self.principal

    @property
    def idempotency_key(self) -> str | None:
        if self.route is not None and not self.route.idempotent and _checking():
            route = f"{self.route.method} {self.route.path}"
            raise AssertionError(f"{route} reads Idempotency-Key: declare idempotent=True")
        return self.headers.get("idempotency-key")

    @property
    def timezone(self) -> str:
        """The caller's merchant's time zone, for ISO times with its offset (merchant settings are cached)."""
        from mini_program_api.merchants import merchants

        return merchants.get(self.caller.merchant_id).timezone


def endpoint(
    bp: Blueprint,
    path: str,
    method: str,
    *,
    role: str | tuple[str, ...] | None,
    body: str | None = None,
    query: str | None = None,
    response: str | None = None,
    status: int = 200,
    idempotent: bool = False,
    errors: tuple[str, ...] = (),
    content_types: list[str] | None = None,
    reads: Reads | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a route. `response` names the model of a 2xx body (None only for an empty answer: 204),
    `errors` the codes its domain calls can raise beyond those the declaration implies (`implied_errors`),
    and `idempotent` that it honours an Idempotency-Key header.
    `reads` (staff routes): the keys the handler reads first, known from the validated call alone. They are read
    in the same round trip as the staff session (`staff.accounts.require_session`), which is checked before the
    handler sees them (`Call.known`): one round trip fewer for a till's sale. A call they cannot be worked out
    for (a bad Idempotency-Key: the handler refuses it) reads the session alone."""
    roles = () if role is None else (role,) if isinstance(role, str) else tuple(role)
    unknown = [code for code in errors if code not in STATUS]
    if unknown:
        raise ValueError(f"unregistered error codes {unknown}")
    if response is None and status != 204:
        raise ValueError(f"{method} {path}: declare response='ModelName' (only a 204 has no body)")
    if reads is not None and not (roles and set(roles) <= {"staff", "admin"}):
        raise ValueError(f"{method} {path}: `reads` come with a staff session; a {roles or 'public'} call has none")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        declared = Route(
            name=fn.__name__,
            module=fn.__module__,
            doc=(fn.__doc__ or "").strip(),
            path=path,
            method=method,
            role=roles,
            body=body,
            query=query,
            response=response,
            status=status,
            idempotent=idempotent,
            errors=frozenset(errors) | implied_errors(roles, body is not None, query is not None, path, idempotent),
            declared=frozenset(errors),
            reads=reads,
        )
        ROUTES.append(declared)

        @bp.route(path, methods=[method], content_types=content_types or ["application/json"])
        @functools.wraps(fn)
        def view(**params: str) -> Response:
            request = bp.current_request
            rid = logs.request_id(request.context, getattr(request, "lambda_context", None))
            with logs.request(rid, method, path) as entry:
                answer = _respond(fn, declared, request, params, entry)
                entry.status = answer.status_code
                answer.headers["X-Request-Id"] = rid  # what a client quotes to support: finds this line
                return answer

        return view

    return decorate


def _respond(
    fn: Callable[..., Any], route: Route, request: Any, params: dict[str, str], entry: logs.RequestLog
) -> Response:
    headers = {k.lower(): v for k, v in (request.headers or {}).items()}
    if len(params.get("merchant_id", "")) <= MAX_PATH_ID:
        entry.merchant_id = params.get("merchant_id")  # the notify routes name theirs in the path
    try:
        principal = _verify(headers, route.role) if route.role else None
        if principal is not None:
            entry.merchant_id = principal.merchant_id
        raw_body = request.raw_body or b""
        try:
            call = Call(
                principal=principal,
                body=_parse_body(request.raw_body, route.body) if route.body else None,
                query=_validate(route.query, _single(request.query_params)) if route.query else None,
                headers=headers,
                raw_body=raw_body,
                route=route,
            )
        except KabaoError:
            if principal is not None:  # an ended session or an erased member is refused as that, whatever it sent
                _admit(Call(principal, None, None, headers, raw_body, route), principal, route, ahead=False)
            raise
        if principal is not None:
            call = _admit(call, principal, route)
        if any(len(value) > MAX_PATH_ID for value in params.values()):
            # No id of ours is that long, and DynamoDB refuses keys past 1-2 KB (a 500).
            raise KabaoError("NOT_FOUND", "no such resource")
        result = fn(call, **params)
    except KabaoError as exc:
        return _refused(route, exc, entry)
    except Exception as exc:
        from mini_program_api.db.transact import unavailable  # here, not at import: pynamodb costs a cold start

        if not unavailable(exc):
            raise
        # A read (or a write outside a transaction) DynamoDB never answered: the client may retry, not a bug.
        return _refused(route, KabaoError("DATABASE_UNAVAILABLE", "the database did not answer, retry later"), entry)
    if isinstance(result, Response):  # a handler that chose its own content type (WeChat's plain text, CSV)
        entry.outcome = "OK"
        return result
    if _checking():
        _check_response(route, result)
    entry.outcome = "OK"
    return Response(body=result if result is not None else "", status_code=route.status)


def _refused(route: Route, exc: KabaoError, entry: logs.RequestLog) -> Response:
    entry.outcome = exc.code
    if exc.code not in route.errors and _checking():
        UNDECLARED.add((route.method, route.path, exc.code))
    return Response(body=exc.body(), status_code=exc.status)


def _checking() -> bool:
    """Answers are held to their declarations on the local stages (dev and tests), not in production."""
    return settings().is_local


def _check_response(route: Route, result: Any) -> None:
    from pydantic import ValidationError

    if route.response is None:
        if result is not None:
            raise ResponseDrift(f"{route.method} {route.path} declares no body but answered one")
        return
    try:
        model(route.response).model_validate_json(json.dumps(result))
    except (ValidationError, TypeError) as exc:
        raise ResponseDrift(f"{route.method} {route.path} answered outside {route.response}: {exc}") from exc


# What an erased member's token may still call: its own deletion, so a retry answers as the first call did.
_ERASED_MAY_CALL = frozenset({"/v1/me/delete-account"})


def _verify(headers: dict[str, str], roles: tuple[str, ...]) -> Principal:
    """The caller the bearer token names, signed and in date, in one of `roles` (`_admit` then reads its account)."""
    from mini_program_api.platform import auth

    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise KabaoError("UNAUTHENTICATED", "missing bearer token")
    principal = auth.verify(token.strip())
    if principal.role not in roles:
        raise KabaoError("FORBIDDEN", f"this endpoint is for role {' or '.join(roles)}")
    if principal.role == "staff" and not principal.store_id:
        raise KabaoError("UNAUTHENTICATED", "staff tokens are bound to a store")
    return principal


def _admit(call: Call, principal: Principal, route: Route, ahead: bool = True) -> Call:
    """The call, once the account behind its token is found live: a staff or admin session not ended, with the
    route's first reads (`reads`; not `ahead`: the session alone, for a call refused for its body or query); a
    member not erased, with their row."""
    if principal.role in ("staff", "admin"):
        from mini_program_api.staff import accounts  # here: a member's request never loads staff accounts

        # disabled, revoked, password reset: refused on the next call
        return call._replace(known=accounts.require_session(principal, _first_reads(call, route) if ahead else ()))
    if principal.role == "member" and route.path not in _ERASED_MAY_CALL:
        from mini_program_api.members import members

        return call._replace(member=members.require_not_erased(principal.merchant_id, principal.subject))
    return call


def _first_reads(call: Call, route: Route) -> Sequence[ItemKey]:
    if route.reads is None:
        return ()
    try:
        return route.reads(call)
    except KabaoError:  # the handler refuses the call itself, after the session is checked
        return ()


@cache
def model(name: str) -> type[BaseModel]:
    """The request (schemas.py) or response (responses.py) model called `name`, imported with pydantic on
    first use; its validator is built on its first validation (`defer_build`). hot_schemas.py first: login's
    and checkout's first request then creates their model alone, not schemas.py's every class."""
    from mini_program_api.routes import hot_schemas

    found = getattr(hot_schemas, name, None)
    if found is None:
        from mini_program_api.routes import schemas

        found = getattr(schemas, name, None)
    if found is None:  # responses.py (a third of a login's first request) only when an answer's model is asked for
        from mini_program_api.routes import responses

        found = getattr(responses, name, None)
    if found is None:
        raise LookupError(f"no model {name} in routes/schemas.py or routes/responses.py")
    return found


def _single(params: Any) -> dict[str, str]:
    """Query parameters, each given once: a repeated one (`?id=a&id=b`) is a 400, never silently its last value."""
    if not params:
        return {}
    repeated = [name for name in params if len(params.getlist(name)) > 1]
    if repeated:
        raise KabaoError("VALIDATION_ERROR", f"query parameters given more than once: {', '.join(sorted(repeated))}")
    return dict(params)


def _parse_body(raw: bytes | None, name: str) -> Any:
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise KabaoError("INVALID_JSON", "request body is not valid JSON") from None
    except RecursionError:  # `[` x 50000: nested deeper than the parser's stack; no request of ours nests that deep
        raise KabaoError("INVALID_JSON", "request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise KabaoError("VALIDATION_ERROR", "request body must be a JSON object")
    from mini_program_api.routes import hot_bodies

    if name in hot_bodies.BODIES:  # login's and checkout's: checked without importing pydantic (a cold start)
        body, problems = hot_bodies.check(name, data)
        if problems:
            raise _invalid(problems)
        return body
    return _validate(name, data)


def _validate(name: str, data: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    try:
        return model(name).model_validate(data)
    except ValidationError as exc:
        problems = [(".".join(str(p) for p in err["loc"]) or "(body)", err["msg"]) for err in exc.errors()]
        raise _invalid(problems) from None


def _invalid(problems: list[tuple[str, str]]) -> KabaoError:
    """VALIDATION_ERROR naming each (field, problem), from pydantic or from hot_bodies.py alike."""
    fields = [{"field": field, "problem": problem} for field, problem in problems]
    message = "; ".join(f"{field}: {problem}" for field, problem in problems)
    return KabaoError("VALIDATION_ERROR", message, fields=fields)
