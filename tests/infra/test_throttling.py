"""Load shedding at the door: the deploy template throttles the API stage (rate and burst from chalice.json), each
anonymous route has a limit of its own, and a throttled request is a 429 in kabao's error shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.deploy.template import anonymous_routes, merge_template, throttling

ROOT = Path(__file__).resolve().parents[2]


def _prod() -> dict[str, Any]:
    return json.loads((ROOT / "chalice.json").read_text())["stages"]["prod"]


def _method_settings(throttle: Any) -> dict[tuple[str, str], tuple[float, int]]:
    rest_api = merge_template("prod", _prod()["environment_variables"], throttle)["Resources"]["RestAPI"]
    return {
        (s["HttpMethod"], s["ResourcePath"]): (s["ThrottlingRateLimit"], s["ThrottlingBurstLimit"])
        for s in rest_api["Properties"]["MethodSettings"]
    }


def test_the_stage_and_every_anonymous_route_are_throttled_as_chalice_json_says() -> None:
    throttle = _prod()["kabao"]["throttle"]
    settings = _method_settings(throttle)
    assert settings[("*", "/*")] == (throttle["rate"], throttle["burst"])
    anonymous = anonymous_routes()
    assert {
        "POST /v1/auth/login",
        "POST /v1/wechatpay/notify",
        "POST /v1/wechat/card-events/{merchant_id}",
    } <= anonymous
    for route in anonymous:
        method, path = route.split(" ", 1)
        limit = throttle["routes"].get(route, throttle["anonymous"])
        assert settings[(method, "/" + path.replace("/", "~1"))] == (limit["rate"], limit["burst"]), route
    assert len(settings) == len(anonymous) + 1  # no limit on a route that does not exist


def test_a_limit_on_a_route_the_app_does_not_serve_anonymously_is_refused() -> None:
    """A typo (or a route with a role) would leave the anonymous route it meant on the stage's limit alone."""
    throttle = {**_prod()["kabao"]["throttle"], "routes": {"POST /v1/auth/logn": {"rate": 1, "burst": 1}}}
    with pytest.raises(ValueError, match="logn"):
        _method_settings(throttle)
    with pytest.raises(ValueError, match="/v1/me/sign-in"):
        throttling({**throttle, "routes": {"POST /v1/me/sign-in": {"rate": 1, "burst": 1}}}, anonymous_routes())


@pytest.mark.parametrize(
    "throttle",
    [
        "missing",
        {"burst": 10},
        {"rate": 0, "burst": 10},
        {"rate": 10, "burst": 1.5},
        {"rate": 10, "burst": 20},  # no limit for the anonymous routes
        {"rate": 10, "burst": 20, "anonymous": {"rate": 100, "burst": 20}},  # above the stage's own
    ],
)
def test_a_stage_without_sound_limits_does_not_build(throttle: Any) -> None:
    with pytest.raises(ValueError):
        throttling(throttle, anonymous_routes())


def test_every_deployed_stage_has_a_throttle() -> None:
    """package.build refuses a stage without one; the one stage chalice.json deploys has it."""
    stages = json.loads((ROOT / "chalice.json").read_text())["stages"]
    deployed = [name for name in stages if name != "local"]
    assert deployed == ["prod"]
    for name in deployed:
        throttling(stages[name]["kabao"]["throttle"], anonymous_routes())


def test_a_throttled_request_is_a_429_in_the_error_shape() -> None:
    """API Gateway answers THROTTLED itself, before any Lambda: its gateway response carries our body."""
    resources = merge_template("prod", _prod()["environment_variables"], _prod()["kabao"]["throttle"])["Resources"]
    throttled = next(
        r["Properties"]
        for r in resources.values()
        if r.get("Type") == "AWS::ApiGateway::GatewayResponse" and r["Properties"]["ResponseType"] == "THROTTLED"
    )
    assert throttled["StatusCode"] == "429" and throttled["RestApiId"] == {"Ref": "RestAPI"}
    body = json.loads(throttled["ResponseTemplates"]["application/json"])
    assert body["error"]["code"] == "RATE_LIMITED" and body["error"]["message"]
