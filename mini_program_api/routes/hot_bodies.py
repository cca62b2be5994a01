"""Login's and checkout's bodies checked without pydantic: the two bodies a cold container meets most.

Importing pydantic and creating a model class was about a tenth of a cold login's or checkout's first answer
(bench/cold_start.py), to check four or six plain fields. `check` holds each body to the same rules as its
pydantic model in hot_schemas.py, which stays the published shape (openapi.json) and what every other route
validates with: the same fields and defaults, strict JSON types (no bool for an int, no number for a string),
the same lengths and patterns, unknown fields refused, and the same errors, field by field, in pydantic's words
and order. tests/unit/test_hot_bodies.py holds the two equal on valid and invalid bodies; a field added to or
changed in one of those models fails it until the table below says the same.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any, NamedTuple

_MISSING = object()


class Text(NamedTuple):
    """A JSON string: `None` allowed when `nullable`; lengths in characters; `pattern` matched whole."""

    required: bool = True
    nullable: bool = False
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None  # as pydantic prints it in its error


class Integer(NamedTuple):
    """A JSON integer (not a boolean, not a float), at most `le`; `default` when left out."""

    le: int
    default: int | None = None


Field = Text | Integer

# hot_schemas.LoginBody and hot_schemas.CheckoutBody, field by field, in their order.
BODIES: dict[str, dict[str, Field]] = {
    "LoginBody": {
        "appid": Text(min_length=1, max_length=64),
        "code": Text(min_length=1, max_length=256),
        "invite_code": Text(required=False, nullable=True, min_length=1, max_length=32),
        "scene": Text(required=False, nullable=True, max_length=128),
    },
    "CheckoutBody": {
        "member_code": Text(pattern="^[0-9]{18}$"),
        "amount": Integer(le=100_000_000),
        "coupon_id": Text(required=False, nullable=True, min_length=1, max_length=64),
        "points": Integer(le=10_000_000_000, default=0),
        "stored_value": Integer(le=100_000_000, default=0),
        "spending_password": Text(required=False, nullable=True, pattern="^[0-9]{6}$"),
    },
}
# pydantic's pattern engine (Rust's regex) anchors `$` at the very end; Python's `$` also before a final newline.
_PATTERNS = {
    field.pattern: re.compile(field.pattern.removeprefix("^").removesuffix("$"))
    for body in BODIES.values()
    for field in body.values()
    if isinstance(field, Text) and field.pattern
}


def check(name: str, data: dict[str, Any]) -> tuple[SimpleNamespace | None, list[tuple[str, str]]]:
    """(the body's fields as attributes, []) or (None, [(field, problem), ...]) for body `name` of BODIES."""
    fields = BODIES[name]
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for field_name, field in fields.items():
        value = data.get(field_name, _MISSING)
        if value is _MISSING:
            if isinstance(field, Text) and field.required or isinstance(field, Integer) and field.default is None:
                problems.append((field_name, "Field required"))
            values[field_name] = field.default if isinstance(field, Integer) else None
            continue
        problem = _text(field, value) if isinstance(field, Text) else _integer(field, value)
        if problem:
            problems.append((field_name, problem))
        values[field_name] = value
    problems += [(key, "Extra inputs are not permitted") for key in data if key not in fields]
    return (None, problems) if problems else (SimpleNamespace(**values), [])


def _text(field: Text, value: Any) -> str | None:
    if value is None and field.nullable:
        return None
    if not isinstance(value, str):
        return "Input should be a valid string"
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate (`"\ud800"` in JSON): not text pydantic can read
        return "Input should be a valid string, unable to parse raw data as a unicode string"
    if field.min_length is not None and len(value) < field.min_length:
        unit = "character" if field.min_length == 1 else "characters"
        return f"String should have at least {field.min_length} {unit}"
    if field.max_length is not None and len(value) > field.max_length:
        unit = "character" if field.max_length == 1 else "characters"
        return f"String should have at most {field.max_length} {unit}"
    if field.pattern is not None and not _PATTERNS[field.pattern].fullmatch(value):
        return f"String should match pattern '{field.pattern}'"
    return None


def _integer(field: Integer, value: Any) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return "Input should be a valid integer"
    if value > field.le:
        return f"Input should be less than or equal to {field.le}"
    return None
