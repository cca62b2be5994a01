"""The contract: openapi.json is what the code declares, a valid OpenAPI 3.1 document, served at /v1/openapi.json,
and covers every route the app has; the endpoint holds answers to their declarations."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tests.conftest import ROOT

SPEC_FILE = os.path.join(ROOT, "openapi.json")


def _file() -> dict[str, Any]:
    with open(SPEC_FILE, encoding="utf-8") as f:
        return json.load(f)


def test_the_spec_file_is_what_the_code_declares() -> None:
    from infra.contract import generated

    with open(SPEC_FILE, encoding="utf-8") as f:
        on_disk = f.read()
    assert on_disk == generated(), "openapi.json differs from the route declarations: run `make openapi`"


def test_the_spec_is_valid_openapi_3_1() -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator

    spec = _file()
    assert spec["openapi"].startswith("3.1")
    validate(spec, cls=OpenAPIV31SpecValidator)


def test_served_without_a_token_and_equal_to_the_file(api: Any) -> None:
    status, body = api.get("/v1/openapi.json")
    assert status == 200
    assert body == _file()


def test_every_route_of_the_app_is_in_the_spec() -> None:
    """A route declared around `endpoint()` (a bare @bp.route) would be missing from the contract. The console's
    files (routes/console.py) are the one exception: pages, not operations."""
    from app import app
    from mini_program_api.routes import console

    spec = _file()
    served = {
        (path, method.lower())
        for path, methods in app.routes.items()
        for method in methods
        if path not in console.PATHS
    }
    assert {path for path in app.routes if path.startswith("/console")} == set(console.PATHS)
    documented = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert served == documented


def test_each_operation_declares_auth_errors_and_idempotency() -> None:
    from mini_program_api.platform.errors import STATUS

    spec = _file()
    ops = {(m, p): op for p, item in spec["paths"].items() for m, op in item.items()}
    checkout = ops[("post", "/v1/staff/checkout")]
    assert checkout["security"] == [{"staff": []}]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in checkout["parameters"])
    assert {"INSUFFICIENT_BALANCE", "IDEMPOTENCY_KEY_REUSED", "FORBIDDEN"} <= set(checkout["x-error-codes"])
    assert ops[("get", "/v1/me")]["security"] == [{"member": []}]
    assert ops[("post", "/v1/auth/login")]["security"] == []
    assert not any(p["name"] == "Idempotency-Key" for p in ops[("get", "/v1/me")]["parameters"])
    for (method, path), op in ops.items():
        for code in op["x-error-codes"]:
            schema = op["responses"][str(STATUS[code])]["content"]["application/json"]["schema"]
            assert code in schema["properties"]["error"]["properties"]["code"]["enum"], (method, path, code)
        assert set(op["security"][0]) <= {"member", "staff", "admin"} if op["security"] else True


def test_an_answer_outside_its_model_is_refused() -> None:
    """On the local stages a view cannot drift from its schema: an extra, missing or mistyped field is a 500."""
    from mini_program_api.routes import endpoint

    route = next(r for r in endpoint.ROUTES if r.response == "TopupPlanView")
    endpoint._check_response(route, {"plan_id": "p1", "amount": 100, "bonus": 0})
    for drifted in (
        {"plan_id": "p1", "amount": 100, "bonus": 0, "new": 1},
        {"plan_id": "p1", "amount": 100},
        {"plan_id": "p1", "amount": 1.5, "bonus": 0},
        {"plan_id": "p1", "amount": "100", "bonus": 0},
    ):
        with pytest.raises(endpoint.ResponseDrift):
            endpoint._check_response(route, drifted)


def test_declaring_an_unknown_error_code_no_response_model_or_reads_without_a_session_fails_at_import() -> None:
    from chalice import Blueprint

    from mini_program_api.routes.endpoint import endpoint

    bp = Blueprint("probe")
    with pytest.raises(ValueError, match="unregistered"):
        endpoint(bp, "/v1/probe", "GET", role=None, errors=("NO_SUCH_CODE",))
    with pytest.raises(ValueError, match="declare response="):
        endpoint(bp, "/v1/probe", "GET", role=None)
    for role in (None, "member", ("member", "staff")):  # first reads come back with a staff session only
        with pytest.raises(ValueError, match="staff session"):
            endpoint(bp, "/v1/probe", "POST", role=role, response="ReceiptView", reads=lambda call: [])


def test_every_declared_link_is_in_the_spec_and_feeds_a_real_operation() -> None:
    """A renamed route or field must break here, not silently drop a link the stateful fuzzing follows."""
    from mini_program_api.routes.openapi import LINKS

    spec = _file()
    ops = {op["operationId"]: op for item in spec["paths"].values() for op in item.values()}
    links = [
        link
        for item in spec["paths"].values()
        for op in item.values()
        for response in op["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert len(links) == sum(len(targets) for targets in LINKS.values())
    for link in links:
        target = ops[link["operationId"]]
        assert set(link["parameters"]) == {p["name"] for p in target["parameters"] if p["in"] == "path"}


def test_every_error_code_a_handler_can_reach_is_declared() -> None:
    """Statically: codes raised down a handler's call graph (infra/contract_errors.py). At run time the
    conftest's check catches what a static walk cannot see."""
    from infra.contract_errors import check

    missing, _ = check()
    assert not missing, "declare in endpoint(errors=...) (python -m infra.contract_errors lists them): " + "; ".join(
        f"{m} {p}: {', '.join(codes)}" for (m, p), codes in sorted(missing.items())
    )


def test_no_route_declares_a_code_it_cannot_answer() -> None:
    """The other way round: a declared code that nothing the handler calls can raise (or that a `try` around
    the call swallows, or that the declaration already implies) is a promise to clients that is not kept, and the
    client's types carry it."""
    from infra.contract_errors import check

    _, stale = check()
    assert not stale, "remove from endpoint(errors=...): " + "; ".join(
        f"{m} {p}: {', '.join(codes)}" for (m, p), codes in sorted(stale.items())
    )


def test_the_walk_sees_a_swallowed_call_and_a_shadowing_variable() -> None:
    """The two refinements that keep the declarations honest: a message sent best-effort inside
    `except KabaoError` answers nothing, and a local variable named like a function is not a call to it."""
    from infra.contract_errors import _graph, reach
    from mini_program_api.platform.errors import STATUS

    graph = _graph(set(STATUS))
    quote, _ = reach(graph, "mini_program_api.routes.till:quote")
    assert "WECHAT_UNAVAILABLE" not in quote  # the spending-password notice is sent best-effort
    scanned, _ = reach(graph, "mini_program_api.routes.till:scanned_member")
    assert "COUPON_EXPIRED" not in scanned  # unusable coupons are left out of the list, not answered
    created, _ = reach(graph, "mini_program_api.routes.admin:create_staff")
    assert "STAFF_NOT_FOUND" not in created  # `account = ...` in create_account is a variable


def test_the_static_walk_follows_handlers_into_the_domain() -> None:
    """The check above passes vacuously if the walk stops at the handler: handlers import the domain modules they
    call inside the function (routes/endpoint.py), so the walk must see those imports. Each of these codes is
    raised only in domain code, one or more calls down."""
    from infra.contract_errors import _graph, reachable
    from mini_program_api.platform.errors import STATUS

    graph = _graph(set(STATUS))
    assert "TERMS_OUTDATED" in reachable(graph, "mini_program_api.routes.me:open_card")
    assert "SOLD_OUT" in reachable(graph, "mini_program_api.routes.coupons:claim")
    assert "WALLET_CARD_TAKEN" in reachable(graph, "mini_program_api.routes.wallet:activate")
    assert "INSUFFICIENT_BALANCE" in reachable(graph, "mini_program_api.routes.till:do_checkout")
