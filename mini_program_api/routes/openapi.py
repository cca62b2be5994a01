"""The OpenAPI 3.1 document, built from the route declarations (`endpoint.ROUTES`) when first asked for.

Nothing here runs at import: a cold start pays for the spec only if someone fetches it. The copy kept in the
repository (`openapi.json`) is written by `make openapi` (`python -m infra.contract`), and a test fails when it
and the code disagree.
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from mini_program_api.platform.errors import STATUS
from mini_program_api.routes.endpoint import MAX_PATH_ID, ROUTES, Call, Route, endpoint, model

if TYPE_CHECKING:
    from pydantic import BaseModel

bp = Blueprint(__name__)

IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_\-]{8,64}$"
_REF = "#/components/schemas/{model}"
_ROLE_DOC = {
    "member": "A member's session: `POST /v1/auth/login` returns it (role member).",
    "staff": "A cashier's session, bound to one store: `POST /v1/staff/login` (role staff).",
    "admin": "The merchant's back office: `POST /v1/staff/login` with an admin account (role admin).",
}
_REASONS = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    415: "Unsupported media type",
    422: "Unprocessable",
    429: "Too many requests",
    503: "Unavailable",
}


# OpenAPI links: an id one answer gives that another operation takes in its path (schemathesis follows them in its
# stateful runs; a client generator can too). (method, path) of the answer -> [(method, path) of the operation].
LINKS: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("POST", "/v1/topup/orders"): [
        ("GET", "/v1/topup/orders/{order_id}"),
        ("POST", "/v1/admin/topup/orders/{order_id}/refund"),
    ],
    ("POST", "/v1/staff/checkout"): [
        ("GET", "/v1/staff/orders/{order_id}"),
        ("POST", "/v1/staff/orders/{order_id}/refund"),
    ],
    ("POST", "/v1/admin/coupon-templates"): [
        ("GET", "/v1/admin/coupon-templates/{template_id}"),
        ("PATCH", "/v1/admin/coupon-templates/{template_id}"),
        ("POST", "/v1/admin/coupon-templates/{template_id}/pause"),
        ("POST", "/v1/admin/coupon-templates/{template_id}/resume"),
        ("POST", "/v1/admin/coupon-templates/{template_id}/end"),
        ("POST", "/v1/coupons/offers/{template_id}/claim"),
    ],
    ("POST", "/v1/admin/topup-plans"): [
        ("PATCH", "/v1/admin/topup-plans/{plan_id}"),
        ("DELETE", "/v1/admin/topup-plans/{plan_id}"),
    ],
    ("POST", "/v1/admin/punch-card-plans"): [("POST", "/v1/punch-cards/plans/{plan_id}/buy")],
    ("GET", "/v1/me"): [("POST", "/v1/admin/members/{member_id}/punch-cards")],
}


@endpoint(bp, "/v1/openapi.json", "GET", role=None, response="OpenAPIDocument")
def document(call: Call) -> dict[str, Any]:
    """The API's contract, generated from the code (no token needed)."""
    return spec()


def _declare_every_route() -> None:
    """Import every route module: the function serving this route declares its own audience's alone
    (lambdas/audiences.py), and the spec is of every route."""
    import importlib
    import pkgutil

    from mini_program_api import routes

    for module in pkgutil.walk_packages(routes.__path__, f"{routes.__name__}."):  # routes/wechat/'s too
        importlib.import_module(module.name)


@cache
def spec() -> dict[str, Any]:
    from pydantic.json_schema import models_json_schema

    _declare_every_route()
    routes = sorted(ROUTES, key=lambda r: (r.path, r.method))
    models: dict[type[BaseModel], None] = {model("ErrorResponse"): None}
    for route in routes:
        for name in (route.body, route.response):
            if name is not None:
                models[model(name)] = None
    _, schemas = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    ids = {(r.method, r.path): _operation_id(r) for r in routes}
    for route in routes:
        operation = _operation(route)
        links = _links(route, ids)
        if links:
            operation["responses"][str(route.status)]["links"] = links
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kabao",
            "version": "1",
            "description": "WeChat Mini Program membership cards. Money is integer fen; times are ISO-8601 with the "
            'merchant\'s offset. Errors are `{"error": {"code", "message"}}`; each operation '
            "lists the codes it can answer.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {
                role: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": doc}
                for role, doc in _ROLE_DOC.items()
            },
        },
    }


def _operation_id(route: Route) -> str:
    return f"{route.module.rsplit('.', 1)[-1]}_{route.name}"


def _links(route: Route, ids: dict[tuple[str, str], str]) -> dict[str, Any]:
    """Declared links whose target exists and whose path ids are all fields of this answer."""
    fields = set(model(route.response).model_fields) if route.response is not None else set()
    links: dict[str, Any] = {}
    for method, path in LINKS.get((route.method, route.path), []):
        names = _path_names(path)
        if (method, path) in ids and names and set(names) <= fields:
            links[ids[(method, path)]] = {
                "operationId": ids[(method, path)],
                "parameters": {n: f"$response.body#/{n}" for n in names},
            }
    return links


def _operation(route: Route) -> dict[str, Any]:
    summary, _, description = route.doc.partition("\n")
    operation: dict[str, Any] = {
        "operationId": _operation_id(route),
        "tags": [route.module.rsplit(".", 1)[-1]],
        "summary": summary or f"{route.method} {route.path}",
        "security": [{role: []} for role in route.role],
        "parameters": _parameters(route),
        "responses": _responses(route),
        "x-error-codes": sorted(route.errors),
    }
    if description.strip():
        operation["description"] = description.strip()
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": _REF.format(model=route.body)}}},
        }
    return operation


def _parameters(route: Route) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_PATH_ID},
        }
        for name in _path_names(route.path)
    ]
    if route.query is not None:
        schema = model(route.query).model_json_schema(ref_template=_REF)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            prop = {k: v for k, v in prop.items() if k != "title"}
            params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    if route.idempotent:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
                "description": "Makes the operation exactly once: a retry with the same key and request returns the "
                "first result; the same key with another request is 422 IDEMPOTENCY_KEY_REUSED.",
            }
        )
    return params


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def _responses(route: Route) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if route.response is None:
        responses[str(route.status)] = {"description": "Done, no content"}
    else:
        responses[str(route.status)] = {
            "description": "OK",
            "content": {"application/json": {"schema": {"$ref": _REF.format(model=route.response)}}},
        }
    by_status: dict[int, list[str]] = {}
    for code in sorted(route.errors):
        by_status.setdefault(STATUS[code], []).append(code)
    for status, codes in sorted(by_status.items()):
        responses[str(status)] = {
            "description": f"{_REASONS.get(status, 'Error')}: {', '.join(codes)}",
            "content": {"application/json": {"schema": _error_schema(codes)}},
        }
    return responses


def _error_schema(codes: list[str]) -> dict[str, Any]:
    """The error shape with `code` limited to what this operation declares for this status."""
    return {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string", "enum": codes},
                    "message": {"type": "string"},
                    "details": {"type": "object"},
                },
            }
        },
    }


def render() -> str:
    """The document as the repository keeps it: stable key order, one trailing newline."""
    return json.dumps(spec(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
