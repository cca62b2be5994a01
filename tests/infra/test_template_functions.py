"""One Lambda per audience (lambdas/audiences.py): the template sends every route of app.py to exactly one function,
whose entry declares it, every schedule and the stream to the jobs' entry, which declares no route; an entry loads no
other audience's routes; and a request through an entry is answered as through app.py.

Each entry is imported in a fresh interpreter, as its Lambda imports it: a blueprint serves one app per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from bench.cold_start import handlers
from infra.deploy.template import integrations
from lambdas.audiences import API, AUDIENCES

ROOT = Path(__file__).resolve().parents[2]


def _fresh(code: str) -> Any:
    """Run `code` in a fresh interpreter from the source tree, with the tests' environment; its last line is JSON."""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}


_ROUTES_OF = """
import importlib, json, sys
module = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else %r)
print(json.dumps(sorted(f"{method} {path}" for path, methods in module.app.routes.items() for method in methods)))
"""


def test_every_route_of_app_is_served_by_one_function_whose_entry_declares_it(template: dict[str, Any]) -> None:
    from app import app

    routes = {f"{method} {path}" for path, methods in app.routes.items() for method in methods}
    integrated = integrations(template)
    assert set(integrated) == routes  # each route once in the API, with one integration: one function
    functions = _functions(template)
    sent: dict[str, set[str]] = defaultdict(set)
    for route, function in integrated.items():
        sent[function].add(route)
    assert {functions[name]["Handler"] for name in sent} == {f"lambdas.{audience}.app" for audience in API}
    for name, served in sent.items():
        entry = functions[name]["Handler"].removesuffix(".app")
        declared = set(_fresh(_ROUTES_OF % entry))
        assert declared == served, name  # it declares what it is sent, and nothing API Gateway never sends it
    assert "POST /v1/auth/login" in sent["MemberAPIHandler"] and "POST /v1/staff/checkout" in sent["TillAPIHandler"]
    assert "GET /v1/admin/reports/sales" in sent["ConsoleAPIHandler"]
    # WeChat's servers' callbacks, and only they, on a function of their own (reserved concurrency: docs/deploy.md).
    assert sent["WeChatAPIHandler"] == {
        "POST /v1/wechatpay/notify",
        "POST /v1/wechatpay/notify/{merchant_id}",
        "GET /v1/wechat/card-events/{merchant_id}",
        "POST /v1/wechat/card-events/{merchant_id}",
    }


def test_every_function_of_the_api_is_chalices_api_function_with_its_own_handler(template: dict[str, Any]) -> None:
    """Runtime, memory, timeout, role, tracing and environment as Chalice wrote APIHandler; each may be invoked by
    the API; no function is left with app.py's handler."""
    functions = _functions(template)
    api = {name: p for name, p in functions.items() if p["Handler"].endswith(".app")}
    assert sorted(p["Handler"] for p in api.values()) == sorted(f"lambdas.{audience}.app" for audience in API)
    shapes = [{k: v for k, v in p.items() if k != "Handler"} for p in api.values()]
    assert all(shape == shapes[0] for shape in shapes) and shapes[0]["Timeout"] == 10
    assert shapes[0]["Role"] == {"Fn::GetAtt": ["DefaultRole", "Arn"]}
    resources = template["Resources"]
    assert "APIHandler" not in resources
    for name in api:
        permission = resources[f"{name}InvokePermission"]
        assert permission["Type"] == "AWS::Lambda::Permission"
        assert permission["Properties"]["FunctionName"] == {"Ref": name}
        assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"


_JOBS = """
import json, sys
import lambdas.jobs as jobs
names = json.loads(sys.argv[1])
handlers = {name: getattr(jobs, name) for name in names}
print(json.dumps({
    "routes": len(jobs.app.routes),
    "callable": sorted(name for name, handler in handlers.items() if callable(handler)),
    "logged": sorted(name for name, h in handlers.items() if [m.__name__ for m in h.middleware_handlers] == ["logged"]),
    "route_modules": sorted(m for m in sys.modules if m.startswith("mini_program_api.routes")),
}))
"""


def test_every_schedule_and_the_stream_run_the_jobs_entry_which_declares_no_route(template: dict[str, Any]) -> None:
    """Their handler is `lambdas.jobs.<name>`, the function functions/ decorated, registered in an app with no
    route and with functions/reported.py's middleware (which a handler imported alone would run without)."""
    from app import app

    events = {p["Handler"] for p in _functions(template).values() if "Events" in p}
    assert all(handler.startswith("lambdas.jobs.") for handler in events)
    names = sorted(handler.removeprefix("lambdas.jobs.") for handler in events)
    assert names == sorted(source.name for source in app.event_sources) and "wallet_stream" in names
    code = _JOBS.replace("names = json.loads(sys.argv[1])", f"names = {names!r}")
    seen = _fresh(code)
    assert seen == {"routes": 0, "callable": names, "logged": names, "route_modules": []}


_MODULES = """
import json, sys
import %s
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize("audience", API)
def test_an_entry_loads_no_other_audiences_routes_and_no_scheduled_function(audience: str) -> None:
    modules = set(_fresh(_MODULES % f"lambdas.{audience}"))
    others = {module for other, names in AUDIENCES.items() if other != audience for module in names}
    assert set(AUDIENCES[audience]) <= modules
    assert sorted(modules & others) == []
    assert [m for m in modules if m == "functions" or m.startswith("functions.")] == []
    assert "app" not in modules


# One route per audience and a method its path does not take (Chalice's own 405, rewritten by gateway.bp's middleware),
# each request JSON unless it names its content type. WeChat's callbacks are anonymous: a content type the notify does
# not take is Chalice's own 415, as 401 is the others' first answer, before any read.
_REQUESTS = {
    "member": [("GET", "/v1/me"), ("DELETE", "/v1/me")],
    "wechat": [("POST", "/v1/wechatpay/notify/demo", "text/csv"), ("DELETE", "/v1/wechatpay/notify")],
    "till": [("POST", "/v1/staff/checkout"), ("DELETE", "/v1/staff/checkout")],
    "console": [("GET", "/v1/admin/reports/sales"), ("DELETE", "/v1/openapi.json")],
}
_ANSWERS = """
import json
from chalice.test import Client
from lambdas.%s import app
answers = []
with Client(app) as client:
    for method, path, *kind in %r:
        headers = {"content-type": (kind or ["application/json"])[0]}
        response = client.http.request(method, path, headers=headers, body=b"{}")
        answers.append([response.status_code, json.loads(response.body)])
print(json.dumps(answers))
"""


@pytest.mark.parametrize("audience", API)
def test_a_request_through_an_entry_is_answered_as_through_app(audience: str) -> None:
    from chalice.test import Client

    from app import app

    with Client(app) as client:
        expected = []
        for method, path, *kind in _REQUESTS[audience]:
            headers = {"content-type": (kind or ["application/json"])[0]}
            response = client.http.request(method, path, headers=headers, body=b"{}")
            expected.append([response.status_code, json.loads(response.body)])
    assert _fresh(_ANSWERS % (audience, _REQUESTS[audience])) == expected
    first = (415, "UNSUPPORTED_MEDIA_TYPE") if audience == "wechat" else (401, "UNAUTHENTICATED")
    assert (expected[0][0], expected[0][1]["error"]["code"]) == first
    assert expected[1][0] == 405 and expected[1][1]["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_the_console_entry_serves_the_spec_of_every_route() -> None:
    """`GET /v1/openapi.json` is the console's, whose app declares its own routes alone: the spec declares every
    route module first, so it is openapi.json whichever function builds it."""
    code = (
        "import json\n"
        "from chalice.test import Client\n"
        "from lambdas.console import app\n"
        "with Client(app) as client:\n"
        "    print(json.dumps(json.loads(client.http.get('/v1/openapi.json').body)))\n"
    )
    assert _fresh(code) == json.loads((ROOT / "openapi.json").read_text())


def _chalices(*routes: str) -> dict[str, Any]:
    """A template as `chalice package` writes it: one APIHandler behind every route, and a scheduled function."""
    uri = (
        "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${APIHandler.Arn}/invocations"
    )
    paths: dict[str, Any] = defaultdict(dict)
    for route in routes:
        method, path = route.split(" ", 1)
        paths[path][method.lower()] = {"x-amazon-apigateway-integration": {"uri": {"Fn::Sub": uri}}}
    function = {"Type": "AWS::Serverless::Function", "Properties": {"Handler": "app.app", "Runtime": "python3.11"}}
    permission = {"Type": "AWS::Lambda::Permission", "Properties": {"FunctionName": {"Ref": "APIHandler"}}}
    job = {"Type": "AWS::Serverless::Function", "Properties": {"Handler": "functions.x.tick", "Events": {}}}
    return {
        "Resources": {
            "APIHandler": function,
            "APIHandlerInvokePermission": permission,
            "Tick": job,
            "RestAPI": {"Type": "AWS::Serverless::Api", "Properties": {"DefinitionBody": {"paths": dict(paths)}}},
        },
        "Outputs": {"APIHandlerName": {"Value": {"Ref": "APIHandler"}}},
    }


def test_a_route_no_function_serves_or_one_the_api_lacks_or_a_stray_job_fails_the_build() -> None:
    from infra.deploy.template import by_audience

    sam = _chalices("GET /v1/me", "POST /v1/staff/checkout")
    built = by_audience(sam, {"GET /v1/me": "member", "POST /v1/staff/checkout": "till"}, {"tick"})
    assert integrations(built) == {"GET /v1/me": "MemberAPIHandler", "POST /v1/staff/checkout": "TillAPIHandler"}
    assert built["Resources"]["Tick"]["Properties"]["Handler"] == "lambdas.jobs.tick"
    with pytest.raises(ValueError, match="POST /v1/staff/checkout: no function serves it"):
        by_audience(sam, {"GET /v1/me": "member"}, {"tick"})
    with pytest.raises(ValueError, match="missing from the API: GET /v1/stores"):
        by_audience(
            sam, {"GET /v1/me": "member", "POST /v1/staff/checkout": "till", "GET /v1/stores": "member"}, {"tick"}
        )
    with pytest.raises(ValueError, match=r"Tick \(functions.x.tick\): lambdas/jobs.py does not serve it"):
        by_audience(sam, {"GET /v1/me": "member", "POST /v1/staff/checkout": "till"}, set())


def test_a_module_in_no_audience_or_in_two_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from lambdas import audiences

    assert audiences.audience_of("mini_program_api.routes.till") == "till"
    with pytest.raises(LookupError, match="in 0 audiences"):
        audiences.audience_of("mini_program_api.routes.somewhere")
    twice = {**audiences.AUDIENCES, "till": (*audiences.AUDIENCES["till"], "mini_program_api.routes.me")}
    monkeypatch.setattr(audiences, "AUDIENCES", twice)
    with pytest.raises(LookupError, match="in 2 audiences"):
        audiences.audience_of("mini_program_api.routes.me")


def test_the_bench_and_the_cold_start_probes_run_what_the_template_runs(template: dict[str, Any]) -> None:
    """bench/cold_start.py reads each path's handler from the built template; the probes of test_cold_start.py take
    them from the source tree (`source_handlers`): the same, route for route and schedule for schedule."""
    from bench.cold_start import source_handlers

    runs = handlers(template)
    assert runs == source_handlers()
    assert runs["POST /v1/auth/login"] == runs["GET /v1/me"] == "lambdas.member.app"
    assert runs["POST /v1/wechatpay/notify/{merchant_id}"] == "lambdas.wechat.app"
    assert runs["POST /v1/staff/checkout"] == "lambdas.till.app"
    assert runs["schedule issue_jobs_run"] == "lambdas.jobs.issue_jobs_run"


def test_a_cors_preflight_stays_api_gateways_own_answer() -> None:
    """A route declared with `cors=True` gets an OPTIONS operation from `chalice package`: a mock integration that
    API Gateway answers itself, with no function behind it and no route of app.py to match."""
    from infra.deploy.template import by_audience

    sam = _chalices("GET /v1/me")
    preflight = {"x-amazon-apigateway-integration": {"type": "mock", "requestTemplates": {}}}
    sam["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]["/v1/me"]["options"] = preflight
    built = by_audience(sam, {"GET /v1/me": "member"}, {"tick"})
    operations = built["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]["/v1/me"]
    assert operations["options"] == preflight
    assert operations["get"]["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"].count("${MemberAPIHandler.Arn}") == 1
    assert integrations(built) == {"GET /v1/me": "MemberAPIHandler"}  # what the tests and the bench read of it
    assert handlers(built)["GET /v1/me"] == "lambdas.member.app"


def test_a_schedule_named_apart_from_its_function_runs_by_its_name() -> None:
    """Chalice names a scheduled function's resource after the schedule's `name=` and sets its Handler to the
    decorated function's module path; lambdas/jobs.py serves each schedule by that name, whatever the function is
    called (`@bp.schedule(..., name="nightly") def tick`)."""
    from infra.deploy.template import by_audience

    sam = _chalices("GET /v1/me")
    sam["Resources"]["Nightly"] = sam["Resources"].pop("Tick")
    built = by_audience(sam, {"GET /v1/me": "member"}, {"nightly"})
    assert built["Resources"]["Nightly"]["Properties"]["Handler"] == "lambdas.jobs.nightly"


_STREAM = """
import json, logging
import lambdas.jobs as jobs
from mini_program_api.telemetry.logs import JsonLine

class Context:
    aws_request_id = "r-1"
    def get_remaining_time_in_millis(self):
        return 60_000

answer = jobs.wallet_stream({"Records": []}, Context())
handlers = logging.getLogger("kabao").handlers
print(json.dumps({"answer": answer, "json_logs": [isinstance(h.formatter, JsonLine) for h in handlers]}))
"""


def test_the_stream_run_through_the_jobs_entry_reports_its_batch_failures_with_json_logs() -> None:
    """What Lambda calls for `lambdas.jobs.wallet_stream`: the decorated function behind functions/reported.py's
    middleware (the JSON logs set up before the run), answering the `batchItemFailures` that
    ReportBatchItemFailures reads (an answer without it would retry the whole batch)."""
    assert _fresh(_STREAM) == {"answer": {"batchItemFailures": []}, "json_logs": [True]}


def test_nothing_in_the_template_still_names_chalices_single_api_function(template: dict[str, Any]) -> None:
    """No integration, permission, alarm, output or `DependsOn` left pointing at `APIHandler`, which the template no
    longer has: CloudFormation would refuse the stack (an unresolved reference) only at deploy time."""
    import re

    assert re.findall(r"(?<![A-Za-z])APIHandler\w*", json.dumps(template)) == []
