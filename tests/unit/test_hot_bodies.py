"""routes/hot_bodies.py checks login's and checkout's bodies without pydantic: it must agree with their pydantic
models (routes/hot_schemas.py, the published shapes) on every body, valid or not.

Given any JSON object built from each field's edges (missing, null, booleans, integers around each bound and far
past them, floats, strings around each length and pattern, lists, unknown fields), when both check it, then both
accept it with the same values, or both refuse it with the same (field, problem) list, in the same order.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from mini_program_api.routes import hot_bodies, hot_schemas

MODELS: dict[str, type[BaseModel]] = {"LoginBody": hot_schemas.LoginBody, "CheckoutBody": hot_schemas.CheckoutBody}
_MISSING = object()

_texts = st.one_of(
    st.text(max_size=3),
    st.text(min_size=30, max_size=35),
    st.text(min_size=62, max_size=66),
    st.text(min_size=126, max_size=130),
    st.text(min_size=254, max_size=258),
    st.sampled_from(["", "\ud800", "a\udfff", "x" * 257]),
    st.integers(min_value=0, max_value=10**20).map(str),
    st.text(alphabet="0123456789", min_size=5, max_size=7),
    st.text(alphabet="0123456789", min_size=17, max_size=19),
    st.text(alphabet="0123456789", min_size=6, max_size=6).map(lambda s: s + "\n"),
    st.text(alphabet="0123456789", min_size=18, max_size=18).map(lambda s: s + "\n"),
    st.text(alphabet="0123456789０１２３٣", min_size=6, max_size=6),
    st.text(alphabet="0123456789０１２３٣", min_size=18, max_size=18),
)
_integers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([0, 1, -1, 100_000_000, 100_000_001, 10_000_000_000, 10_000_000_001, 2**63, -(2**63) - 1]),
)
_values = st.one_of(
    st.none(),
    st.booleans(),
    _integers,
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1.0, 0.0, 100.0]),
    _texts,
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)


def _bodies(name: str) -> st.SearchStrategy[dict[str, Any]]:
    fields = list(hot_bodies.BODIES[name])
    each = st.fixed_dictionaries({field: st.one_of(st.just(_MISSING), _values) for field in fields})
    extra = st.dictionaries(st.sampled_from(["extra", "APPID", "amount ", "x"]), _values, max_size=2)
    return st.tuples(each, extra, st.booleans()).map(
        lambda t: _shuffled({k: v for k, v in t[0].items() if v is not _MISSING}, t[1], t[2])
    )


def _shuffled(known: dict[str, Any], extra: dict[str, Any], extra_first: bool) -> dict[str, Any]:
    return {**extra, **known} if extra_first else {**known, **extra}


def _by_pydantic(name: str, data: dict[str, Any]) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    try:
        return MODELS[name].model_validate(data).model_dump(), []
    except ValidationError as exc:
        return None, [(".".join(str(p) for p in err["loc"]) or "(body)", err["msg"]) for err in exc.errors()]


def _by_hand(name: str, data: dict[str, Any]) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    body, problems = hot_bodies.check(name, data)
    return (vars(body) if body is not None else None), problems


def _agree(name: str, data: dict[str, Any]) -> None:
    assert _by_hand(name, data) == _by_pydantic(name, data), data


@given(data=_bodies("LoginBody"))
def test_login_bodies_agree_with_the_pydantic_model(data: dict[str, Any]) -> None:
    _agree("LoginBody", data)


@given(data=_bodies("CheckoutBody"))
def test_checkout_bodies_agree_with_the_pydantic_model(data: dict[str, Any]) -> None:
    _agree("CheckoutBody", data)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("LoginBody", {"appid": "wx1", "code": "test:o1"}),
        ("LoginBody", {"appid": "wx1", "code": "test:o1", "invite_code": None, "scene": ""}),
        ("LoginBody", {}),
        ("LoginBody", {"appid": "", "code": "c" * 257, "invite_code": "", "scene": "s" * 129, "extra": 1}),
        ("LoginBody", {"appid": 1, "code": True, "invite_code": 3, "scene": []}),
        ("CheckoutBody", {"member_code": "1" * 18, "amount": 3000}),
        ("CheckoutBody", {"member_code": "1" * 18, "amount": -(10**40), "points": 0, "stored_value": 100_000_000}),
        ("CheckoutBody", {"member_code": "1" * 18 + "\n", "amount": 100_000_001, "points": None, "coupon_id": ""}),
        ("CheckoutBody", {"member_code": "１" * 18, "amount": 1.0, "stored_value": True, "spending_password": "12345"}),
        ("CheckoutBody", {"spending_password": "123456\n", "points": 10_000_000_001, "coupon_id": "c" * 65}),
    ],
)
def test_the_edges_agree(name: str, data: dict[str, Any]) -> None:
    """The cases the generated ones must include, named: valid bodies, every field wrong at once."""
    _agree(name, data)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_tables_name_each_models_fields_in_order(name: str) -> None:
    """A field added to, removed from or reordered in a model fails here before it drifts."""
    fields = MODELS[name].model_fields
    assert list(hot_bodies.BODIES[name]) == list(fields)
    for field_name, rule in hot_bodies.BODIES[name].items():
        required = rule.required if isinstance(rule, hot_bodies.Text) else rule.default is None
        assert fields[field_name].is_required() == required, field_name
        if not required:
            assert fields[field_name].default == (rule.default if isinstance(rule, hot_bodies.Integer) else None)
