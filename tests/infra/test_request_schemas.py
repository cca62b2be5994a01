"""Every request schema a client can fill: each integer has both bounds, and no date or time takes a number.

Two walks over what the routes declare (their body and query models, nested objects, lists, maps and tuples
included). An integer without a maximum let a 41-digit number reach DynamoDB, which stores at most 38 digits
(a 500); pydantic's lax mode read a number as a Unix time, so `dates: [0]` was stored as 1970-01-01.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from tests.conftest import ROOT

Path = tuple[str | int, ...]  # property names and item indexes, as pydantic's error `loc`


def _spec() -> dict[str, Any]:
    with open(os.path.join(ROOT, "openapi.json"), encoding="utf-8") as f:
        return json.load(f)


def _leaves(schema: dict[str, Any], defs: dict[str, Any], path: Path = ()) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every scalar schema under `schema`, with the path a value takes to reach it."""
    if "$ref" in schema:
        yield from _leaves(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, path)
        return
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        yield from _leaves(branch, defs, path)
    for name, sub in schema.get("properties", {}).items():
        yield from _leaves(sub, defs, (*path, name))
    for index, sub in enumerate(schema.get("prefixItems", [])):
        yield from _leaves(sub, defs, (*path, index))
    if isinstance(schema.get("items"), dict):
        yield from _leaves(schema["items"], defs, (*path, 0))
    if isinstance(schema.get("additionalProperties"), dict):
        key = (schema.get("propertyNames") or {}).get("enum", ["key"])[0]
        yield from _leaves(schema["additionalProperties"], defs, (*path, key))
    if schema.get("type") not in (None, "object", "array"):
        yield path, schema


def _request_schemas() -> Iterator[tuple[str, dict[str, Any]]]:
    """Each operation's body and parameters in openapi.json (which tests/infra/test_openapi.py holds to the code)."""
    for route, item in _spec()["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {route}"
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body is not None:
                yield where, body
            for parameter in op.get("parameters", []):
                yield f"{where} {parameter['in']} {parameter['name']}", parameter["schema"]


def _integers() -> list[tuple[str, Path, dict[str, Any]]]:
    defs = _spec()["components"]["schemas"]
    return [
        (where, path, leaf)
        for where, schema in _request_schemas()
        for path, leaf in _leaves(schema, defs)
        if leaf.get("type") == "integer"
    ]


def test_the_walk_reaches_nested_integers() -> None:
    """The walk itself: integers inside lists of objects and fixed-length lists are found."""
    found = {(where, path) for where, path, _ in _integers()}
    assert ("PUT /v1/admin/member-days", ("member_days", 0, "weekdays", 0)) in found
    assert ("PUT /v1/admin/reports/rfm-thresholds", ("m", 0)) in found
    assert ("PUT /v1/admin/tiers", ("tiers", 0, "threshold")) in found
    assert ("GET /v1/admin/audit query limit", ()) in found


# Refused below their floor by checkout itself, with a code of its own the till shows (AMOUNT_OUT_OF_RANGE, which
# tests/integration/test_request_validation.py sends -10**40 to reach); their ceiling is the schema's.
FLOOR_IN_CHECKOUT = {
    (f"POST /v1/staff/checkout{quote}", (field,))
    for quote in ("", "/quote")
    for field in ("amount", "points", "stored_value")
}


def test_every_integer_a_client_sends_is_bounded() -> None:
    unbounded = [
        (where, ".".join(map(str, path)) or "(value)", side)
        for where, path, leaf in _integers()
        for side in ("maximum", "minimum")
        if side not in leaf
        and f"exclusive{side.title()}" not in leaf
        and not (side == "minimum" and (where, path) in FLOOR_IN_CHECKOUT)
    ]
    assert unbounded == []
    too_big = [
        (where, path)
        for where, path, leaf in _integers()
        if abs(leaf.get("maximum", leaf.get("exclusiveMaximum", 0))) >= 10**38
        or abs(leaf.get("minimum", leaf.get("exclusiveMinimum", 0))) >= 10**38
    ]
    assert too_big == []  # DynamoDB's numbers have 38 digits


def _request_models() -> list[type[Any]]:
    from app import app  # noqa: F401 - declares the routes
    from mini_program_api.routes import endpoint

    names = {name for route in endpoint.ROUTES for name in (route.body, route.query) if name}
    return [endpoint.model(name) for name in sorted(names)]


def _value_at(path: Path, value: Any) -> Any:
    """A body that holds `value` at `path` and nothing else."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    return [_value_at(rest, value)] if isinstance(head, int) else {head: _value_at(rest, value)}


def _time_fields() -> list[tuple[type[Any], Path, str]]:
    found = []
    for model in _request_models():
        schema = model.model_json_schema()
        for path, leaf in _leaves(schema, schema.get("$defs", {})):
            if leaf.get("format") in ("date", "date-time"):
                found.append((model, path, leaf["format"]))
    return found


def _errors_at(model: type[Any], body: dict[str, Any], path: Path) -> list[str]:
    try:
        model.model_validate(body)
    except ValidationError as exc:
        return [err["type"] for err in exc.errors() if tuple(err["loc"]) == path]
    return []


def test_the_walk_reaches_every_date_and_time_field() -> None:
    found = {(model.__name__, path) for model, path, _ in _time_fields()}
    assert {
        ("MemberDaysBody", ("member_days", 0, "dates", 0)),
        ("MemberDaysBody", ("member_days", 0, "starts_on")),
        ("TemplatePatchBody", ("valid_until",)),
        ("CouponTemplateBody", ("valid_from",)),
    } <= found


@pytest.mark.parametrize("number", [0, 1900000000, 1.5, "1900000000", "20261203", "2026-W01-1"])
def test_no_date_or_time_takes_a_number(number: Any) -> None:
    """ISO-8601 text only: a JSON number, or digits in a string, is refused wherever a date or time goes."""
    for model, path, kind in _time_fields():
        assert _errors_at(model, _value_at(path, number), path), (model.__name__, path, number)
        iso = "2030-01-02" if kind == "date" else "2030-01-02T03:04:05+08:00"
        assert _errors_at(model, _value_at(path, iso), path) == [], (model.__name__, path, iso)
