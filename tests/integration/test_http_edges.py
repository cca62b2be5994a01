"""The HTTP edges: bodies no handler should see, routes that do not exist, admin creates that are retried.

Every answer is JSON in kabao's error shape, never a 5xx for bad input, and never
an echo of the caller's credentials: through chalice.test.Client, over real HTTP
on loopback (the local API server), and in AWS through API Gateway's gateway
responses in the deploy template.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from mini_program_api.db.coupon_templates import CouponTemplate, template_pk
from mini_program_api.db.models import PROFILE, Merchant, merchant_pk
from mini_program_api.platform import clock
from mini_program_api.staff import audit

NESTED = b"[" * 50000
SECRET = "Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.do-not-echo-me"


def _error(body: Any, code: str | None = None) -> dict[str, Any]:
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and re.fullmatch(r"[A-Z_]+", error["code"]), body
    assert isinstance(error["message"], str), body
    if code is not None:
        assert error["code"] == code, body
    return error


def _routes_with_a_body() -> list[tuple[str, str]]:
    """The operations that declare a JSON body. One that declares none never parses what is sent (a file upload
    reads its bytes, a notify its XML or signed JSON), and calling it would only do what it does: a member's
    account deletion among them, after which every member route would stop at the token and test nothing."""
    import app  # noqa: F401  (registers every route)
    from mini_program_api.routes.endpoint import ROUTES

    return sorted((route.method, re.sub(r"\{[^}]+\}", "x1234567", route.path)) for route in ROUTES if route.body)


# --- item 12: bodies, empty changes, retried creates -------------------------------------------


def test_deeply_nested_json_is_a_400_on_every_endpoint_with_a_body(api: Any, merchant: Any) -> None:
    member = api.login(merchant)["token"]
    tokens = [None, member, api.admin_token(merchant), api.staff_token(merchant, "s1")]
    routes = _routes_with_a_body()
    assert len(routes) >= 20
    for method, path in routes:
        for token in tokens:
            status, body = api.call(
                method, path, raw=NESTED, token=token, headers={"idempotency-key": uuid.uuid4().hex}
            )
            assert 400 <= status < 500, (method, path, status, body)
            _error(body)
    # the routes that take a JSON body say why
    status, body = api.post("/v1/me/phone", raw=NESTED, token=member)
    assert (status, _error(body)["code"]) == (400, "INVALID_JSON")


@pytest.mark.parametrize("payload", [{}, {"tier_review": None}, {"points_per_yuan": None, "message_templates": None}])
def test_settings_patch_with_nothing_to_change_is_400_and_changes_nothing(
    api: Any, merchant: Any, payload: dict[str, Any]
) -> None:
    stored = Merchant.get(merchant_pk(merchant.merchant_id), PROFILE, consistent_read=True).serialize()
    status, body = api.patch("/v1/admin/settings", payload, token=api.admin_token(merchant))
    assert (status, _error(body)["code"]) == (400, "VALIDATION_ERROR")
    assert Merchant.get(merchant_pk(merchant.merchant_id), PROFILE, consistent_read=True).serialize() == stored
    today = clock.local_date(merchant.timezone).isoformat()
    assert audit.day(merchant.merchant_id, today) == []


def test_a_retried_store_or_staff_create_returns_what_was_created(api: Any, merchant: Any) -> None:
    admin = api.admin_token(merchant)
    store = {"store_id": "wj", "name": "五角场店"}
    first = api.post("/v1/admin/stores", store, token=admin)
    assert first[0] == 201
    assert api.post("/v1/admin/stores", store, token=admin) == first  # the answer was lost; the client resends
    status, body = api.post("/v1/admin/stores", {**store, "name": "另一家"}, token=admin)
    assert (status, _error(body)["code"]) == (409, "ALREADY_EXISTS")  # another store under a taken id

    account = {"username": "amy", "password": "correct horse battery", "role": "staff", "store_id": "wj"}
    first = api.post("/v1/admin/staff", account, token=admin)
    assert first[0] == 201
    assert api.post("/v1/admin/staff", account, token=admin) == first
    for other in ({"password": "another password!"}, {"role": "admin", "store_id": None}):
        status, body = api.post("/v1/admin/staff", {**account, **other}, token=admin)
        assert (status, _error(body)["code"]) == (409, "ALREADY_EXISTS"), other
    records = audit.day(merchant.merchant_id, clock.local_date(merchant.timezone).isoformat())
    assert sorted(r.action for r in records) == ["STAFF_CREATED", "STORE_CREATED"]  # each created once


def test_a_retried_coupon_template_create_returns_the_template_created(api: Any, merchant: Any) -> None:
    admin, key = api.admin_token(merchant), uuid.uuid4().hex
    template = {
        "name": "5元无门槛",
        "kind": "CASH",
        "amount": 500,
        "total_stock": 100,
        "per_member_limit": 1,
        "days_after_claim": 7,
    }
    first = api.post("/v1/admin/coupon-templates", template, token=admin, headers={"idempotency-key": key})
    assert first[0] == 201, first
    again = api.post("/v1/admin/coupon-templates", template, token=admin, headers={"idempotency-key": key})
    assert again == first
    assert [t.template_id for t in CouponTemplate.query(template_pk(merchant.merchant_id))] == [first[1]["template_id"]]
    status, body = api.post(
        "/v1/admin/coupon-templates", {**template, "amount": 600}, token=admin, headers={"idempotency-key": key}
    )
    assert (status, _error(body)["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")


def test_a_retried_punch_plan_create_returns_the_plan_created(api: Any, merchant: Any) -> None:
    admin, key = api.admin_token(merchant), uuid.uuid4().hex
    plan = {"name": "美式5杯卡", "visits": 5, "valid_days": 90, "price": 9000}
    first = api.post("/v1/admin/punch-card-plans", plan, token=admin, headers={"idempotency-key": key})
    assert first[0] == 201, first
    assert api.post("/v1/admin/punch-card-plans", plan, token=admin, headers={"idempotency-key": key}) == first
    token = api.member_with_card(merchant)["token"]
    assert [p["plan_id"] for p in api.get("/v1/punch-cards/plans", token=token)[1]["plans"]] == [first[1]["plan_id"]]
    status, body = api.post(
        "/v1/admin/punch-card-plans", {**plan, "visits": 6}, token=admin, headers={"idempotency-key": key}
    )
    assert (status, _error(body)["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")


# --- item 13: answers kabao's handlers never gave ----------------------------------------------


def _assert_edges(call: Any) -> None:
    """`call(method, path, headers, body) -> (status, headers, raw body)` against some transport."""
    for method, path in (("GET", "/v1/nope"), ("POST", "/v2/me"), ("GET", "/"), ("GET", "/v1/me/extra/deep/path")):
        status, _, raw = call(method, path, {"authorization": SECRET}, b"")
        assert status == 404, (method, path, status, raw)
        assert "do-not-echo-me" not in raw.decode() and "Bearer" not in raw.decode()
        _error(json.loads(raw), "NOT_FOUND")
        status, _, raw = call(method, path, {}, b"")
        assert status == 404 and _error(json.loads(raw), "NOT_FOUND")
    status, headers, raw = call("DELETE", "/v1/me", {"authorization": SECRET}, b"")
    assert status == 405 and "do-not-echo-me" not in raw.decode()
    _error(json.loads(raw), "METHOD_NOT_ALLOWED")
    assert {k.lower(): v for k, v in headers.items()}["allow"] == "GET"
    status, _, raw = call("POST", "/v1/staff/login", {"content-type": "text/plain"}, b"hello")
    assert status == 415
    _error(json.loads(raw), "UNSUPPORTED_MEDIA_TYPE")


def test_unknown_routes_methods_and_media_types_through_the_test_client(api: Any) -> None:
    def call(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        response = api._client.http.request(method, path, headers=headers, body=body)
        return response.status_code, dict(response.headers), response.body

    _assert_edges(call)


def test_unknown_routes_methods_and_media_types_over_http(api_url: str) -> None:
    def call(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(api_url + path, data=body or None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    _assert_edges(call)
    status, _, raw = call("POST", "/v1/me/phone", {"content-type": "application/json", "authorization": SECRET}, NESTED)
    assert status == 401 and "do-not-echo-me" not in raw.decode()
    _error(json.loads(raw))


def test_a_bug_is_a_500_in_the_error_shape(api: Any, merchant: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from mini_program_api.coupons import shelf

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug with a secret inside: do-not-echo-me")

    monkeypatch.setattr(shelf, "offers", broken)
    status, body = api.get("/v1/coupons/offers", token=api.login(merchant)["token"])
    assert status == 500
    error = _error(body, "INTERNAL_ERROR")
    assert "do-not-echo-me" not in json.dumps(body) and "RuntimeError" not in error["message"]


def test_the_deploy_template_answers_api_gateways_own_errors_in_the_error_shape() -> None:
    from infra.deploy.template import merge_template

    resources = merge_template("prod", {"KABAO_TABLE": "kabao-prod"})["Resources"]
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources.values()
        if r.get("Type") == "AWS::ApiGateway::GatewayResponse"
    }
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "MISSING_AUTHENTICATION_TOKEN"} <= set(responses)
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    for kind, properties in responses.items():
        assert properties["RestApiId"] == {"Ref": "RestAPI"}, kind
        template = properties["ResponseTemplates"]["application/json"]
        assert "$context.error.message" not in template and "Authorization" not in template, kind
        _error(json.loads(template))
