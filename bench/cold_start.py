"""Cold start: a fresh interpreter importing the packaged app vs `import boto3` alone.

Builds the deployment zip twice (with and without .pyc; botocore removed in
both, as Lambda's runtime provides it), unpacks each like /var/task, and times
`import app` in new interpreters that see only the package plus the runtime's
botocore. PYTHONDONTWRITEBYTECODE=1 stands in for Lambda's read-only /var/task:
without shipped .pyc, every cold start compiles every module. Peak RSS is
the same process's VmHWM.

`import app` declares routes and schedules; each handler imports the domain modules it
calls on its first call (tests/infra/test_cold_start.py holds that). So that the cost is shown
and not just moved, two more variants import app and then the modules handlers import
(found in their source): a member's first requests', and every handler's, which is what a
container holds once it has served every route and schedule.

The variants run interleaved (boto3, app, app without .pyc, boto3, ...) so that
the load of a shared machine falls on all of them alike; medians of RUNS,
printed as ratios to boto3. Then `python -X importtime` of the shipped app names
the ten top-level packages that cost the most (cumulative, median of 3).

Then the cold start where the member feels it (issue 26): per path, a fresh interpreter's
import of the handler the built template assigns to it (route -> function -> Handler in sam.json:
`lambdas.member.app` for login, `lambdas.till.app` for the checkout, `lambdas.wechat.app` for the notify,
`lambdas.jobs.issue_jobs_run` for the job) from the unpacked zip, plus its first request to an answer, served
in-process as the Lambda runtime calls it (the handler with an API Gateway proxy event, or with a schedule's CloudWatch
event), against DynamoDB Local and the WeChat sandbox of a local stack started here. The paths: a
returning member's login, `GET /v1/me`, the till's checkout, the WeChat Pay notify of a paid top-up,
and the `issue_jobs_run` schedule (every minute: the job that starts cold most often). The floor is
the least any DynamoDB-backed answer costs: a fresh process that imports boto3, makes a DynamoDB
client and answers one GetItem. A value-moving answer (the checkout, the notify) cannot be one
GetItem: its floor is the least a balance change costs under docs/money.md, one read and then one
TransactWriteItems (here of four small items: the balance, its ledger entry, the operation's record,
a counter), printed as a second floor and a second ratio for those paths.
Interleaved (floors, login, me, ...) RUNS rounds; printed as `first answer` rows with their ratio to
the floor. `first_answer` is also
what tests/infra/test_cold_start.py runs, from the source tree, to see what each path's first
request imports.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import quiet_app

ROOT = Path(__file__).resolve().parents[1]
_ROUTES = ROOT / "mini_program_api" / "routes"
# A member's first requests (/v1/me and its sub-resources, with the auth and views they go through), and
# every handler: what a container holds once it has served every route and schedule.
_HANDLER_SETS = {
    "app + member handler imports": [_ROUTES / "endpoint.py", _ROUTES / "views.py", _ROUTES / "me.py"],
    "app + every handler import": [*_ROUTES.rglob("*.py"), *(ROOT / "functions").glob("*.py")],
}
RUNS = 11
_FLOOR_LABEL = "floor: boto3, client, GetItem"
_TX_FLOOR_LABEL = "value-moving floor: + transaction"
TOP = 10
# Peak memory is VmHWM: ru_maxrss survives exec, so a child would report its parent's peak (the bench's own).
_PROBE = """
import sys, time
sys.path[:0] = {paths!r}
t = time.perf_counter()
import {module}
elapsed = time.perf_counter() - t
print(elapsed, next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")))
"""


def _command(module: str, paths: list[str], no_bytecode: bool, site: bool) -> tuple[list[str], dict[str, str]]:
    env = {"PATH": os.environ.get("PATH", ""), "KABAO_STAGE": "prod"}
    if no_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    args = [sys.executable] + ([] if site else ["-S"]) + ["-c", _PROBE.format(paths=paths, module=module)]
    return args, env


def handler_imports(paths: list[Path]) -> list[str]:
    """The modules that these route and schedule modules' handlers import when first called: the imports
    inside their functions (endpoint.py's pydantic and request models aside), read from source."""
    found: set[str] = set()
    for path in paths:
        package = ".".join(path.relative_to(ROOT).parent.parts)
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, ast.FunctionDef):
                for node in ast.walk(fn):
                    if isinstance(node, ast.ImportFrom) and (node.level or node.module.startswith("mini_program_api")):
                        source = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                        for alias in node.names:  # `from .. import members` names a module, `from ..auth import X` not
                            module = ROOT.joinpath(*source.split("."), alias.name)
                            is_module = module.with_suffix(".py").exists() or module.is_dir()
                            found.add(f"{source}.{alias.name}" if is_module else source)
    return sorted(found - {"mini_program_api.routes.responses", "mini_program_api.routes.schemas"})


def _once(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    seconds, kib = out.stdout.split()
    return float(seconds) * 1000, int(kib) / 1024


def _top_imports(args: list[str], env: dict[str, str]) -> list[tuple[str, float]]:
    """Import time per top-level package (the self time of all its modules summed), median of 3 runs."""
    samples: dict[str, list[float]] = defaultdict(list)
    for _ in range(3):
        out = subprocess.run([args[0], "-X", "importtime", *args[1:]], env=env, capture_output=True, text=True,
                             check=True, cwd=tempfile.gettempdir())
        totals: dict[str, float] = defaultdict(float)
        for line in out.stderr.splitlines():
            if line.startswith("import time:") and "|" in line:
                own, _, name = line.removeprefix("import time:").split("|")
                if own.strip().isdigit():
                    totals[name.strip().split(".")[0]] += int(own) / 1000
        for name, ms in totals.items():
            samples[name].append(ms)
    ranked = [(name, statistics.median(ms + [0.0] * (3 - len(ms)))) for name, ms in samples.items()]
    return sorted(ranked, key=lambda r: -r[1])[:TOP]


# Prepended (outside the clock) to a probe run apart from the timed ones: sums the time spent waiting on DynamoDB's
# answers (botocore's HTTP send and receive), which is the database's share of an answer, not the app's.
_WAITS = """
import botocore.endpoint, time as _time
_waited = []
_send = botocore.endpoint.Endpoint._send
def _timed_send(self, request):
    began = _time.perf_counter()
    try:
        return _send(self, request)
    finally:
        _waited.append(_time.perf_counter() - began)
botocore.endpoint.Endpoint._send = _timed_send
import atexit, json as _json
atexit.register(lambda: print("\\n" + _json.dumps({"waited": sum(_waited)})))
"""


# A Lambda context as the runtime passes it (the app reads the request id and the time left).
_CONTEXT = """
class _Context:
    aws_request_id = "cold-start"
    function_name = "kabao-prod"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws-cn:lambda:cn-north-1:000000000000:function:kabao-prod"
    log_group_name = log_stream_name = "cold-start"

    def get_remaining_time_in_millis(self):
        return 10_000
"""
_FIRST = """
import time
started = time.perf_counter()
import importlib, json, sys
sys.path[:0] = {paths!r}
handler = {handler!r}
module, name = handler.rsplit(".", 1)
entry = importlib.import_module(module)
imported = time.perf_counter()
if "mini_program_api.routes.endpoint" in sys.modules:  # as in production: answers held to their models locally only
    sys.modules["mini_program_api.routes.endpoint"]._checking = lambda: False
{context}
event = json.loads({event!r})
result = getattr(entry, name)(event, _Context())
if "requestContext" in event:
    answer = str(result["statusCode"])
else:
    answer = "ran" if result is not None else "none"
answered = time.perf_counter()
print("\\n" + json.dumps({{"import": imported - started, "first": answered - imported, "answer": answer,
                          "modules": sorted(sys.modules)}}))
"""
_FLOOR = """
import time
started = time.perf_counter()
import json, os
import boto3
imported = time.perf_counter()
client = boto3.client("dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT"])
item = client.get_item(TableName=os.environ["KABAO_TABLE"], Key={"pk": {"S": "MCH#demo"}, "sk": {"S": "PROFILE"}})
answered = time.perf_counter()
print("\\n" + json.dumps({"import": imported - started, "first": answered - imported, "answer": str("Item" in item),
                          "modules": []}))
"""
# The value-moving floor: the same, then one transaction of four fresh small items, each conditional, as a
# balance change writes its balance, ledger entry, operation record and a counter (docs/money.md).
_TX_FLOOR = _FLOOR.replace("answered = ", """key = uuid.uuid4().hex
client.transact_write_items(TransactItems=[
    {"Put": {"TableName": os.environ["KABAO_TABLE"], "Item": {"pk": {"S": f"BENCH#{key}"}, "sk": {"S": part},
             "fen": {"N": "3000"}}, "ConditionExpression": "attribute_not_exists(pk)"}}
    for part in ("BALANCE", "LEDGER", "OPERATION", "COUNTER")])
answered = """).replace("import json, os", "import json, os, uuid")


@dataclass(frozen=True)
class Request:
    """One path's first request: an HTTP request through API Gateway, or a schedule's run; `handler` is what the
    template runs for it (`handlers`)."""

    label: str
    event: dict[str, Any]
    handler: str
    moves_value: bool = False  # compared with the value-moving floor too

    @property
    def route(self) -> str:
        """Its key in `handlers`: `"GET /v1/me"`, or `"schedule issue_jobs_run"`."""
        context = self.event.get("requestContext")
        if context is None:
            return "schedule " + self.event["resources"][0].rsplit("/", 1)[1]
        return f"{context['httpMethod']} {context['resourcePath']}"


def handlers(sam: dict[str, Any]) -> dict[str, str]:
    """What a built template runs for each route (its integration's function's Handler) and each scheduled or stream
    function (`"schedule <name>"`: the Handler's last part is the function's name)."""
    from infra.deploy.template import integrations

    resources = sam["Resources"]
    found = {route: resources[function]["Properties"]["Handler"] for route, function in integrations(sam).items()}
    for resource in resources.values():
        if resource["Type"] == "AWS::Serverless::Function" and "Events" in resource["Properties"]:
            handler = resource["Properties"]["Handler"]
            found[f"schedule {handler.rsplit('.', 1)[1]}"] = handler
    return found


def source_handlers() -> dict[str, str]:
    """`handlers` for the source tree, from what the template is built with (infra/deploy/template.py `served`
    and `scheduled`): the tests' probes, without a package."""
    from app import app
    from infra.deploy.template import scheduled, served

    found = {route: f"lambdas.{audience}.app" for route, audience in served(app).items()}
    found.update({f"schedule {name}": f"lambdas.jobs.{name}" for name in scheduled(app)})
    return found


def http_event(method: str, path: str, headers: dict[str, str], body: bytes | None = None) -> dict[str, Any]:
    """The API Gateway proxy event the Lambda would receive for this request (Chalice's own converter)."""
    from chalice.local import LambdaEventConverter, RouteMatcher

    from app import app

    event = LambdaEventConverter(RouteMatcher(list(app.routes))).create_lambda_event(method, path, headers, body)
    event["requestContext"]["stage"] = "api"
    if isinstance(event.get("body"), bytes):  # API Gateway hands the Lambda text
        event["body"] = event["body"].decode()
    return event


def schedule_event(name: str) -> dict[str, Any]:
    return {"version": "0", "id": "cold-start", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "000000000000", "time": "1970-01-01T00:00:00Z", "region": "cn-north-1",
            "resources": [f"arn:aws-cn:events:cn-north-1:000000000000:rule/{name}"], "detail": {}}


def first_answer(request: Request, paths: list[str], env: dict[str, str], site: bool = True,
                 extra: tuple[str, ...] = (), at: str | None = None, waits: bool = False,
                 handler: str | None = None) -> dict[str, Any]:
    """A fresh interpreter imports the request's handler (or `handler`: another package's) from `paths` and serves
    `request` in-process: seconds of the import and of the first request, the answer (an HTTP status, or whether the
    schedule reported) and `sys.modules` after it.
    `at`: the caller's clock (ISO), when a test moved it (`KABAO_TEST_EPOCH`), so a signed notify's timestamp is
    as fresh for the probe as for the stack that signed it; the bench leaves it out. `waits`: a run apart from the
    timed ones, for the seconds its DynamoDB calls waited (`waited`; its own timings are not comparable)."""
    code = _FIRST.format(paths=paths, context=_CONTEXT, event=json.dumps(request.event),
                         handler=handler or request.handler)
    if waits:
        code = f"import sys\nsys.path[:0] = {paths!r}\n{_WAITS}\n{code}"
    if at is not None:
        code = f"import datetime, time_machine; time_machine.travel(datetime.datetime.fromisoformat({at!r}), tick=True).start()\n{code}"
    args = [sys.executable, *extra] + ([] if site else ["-S"]) + ["-c", code]
    out = subprocess.run(args, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if out.returncode:
        raise RuntimeError(f"{request.label}: {out.stderr[-2000:]}")
    return {**_printed(out.stdout, waits), "stderr": out.stderr}


def floor(env: dict[str, str], moves_value: bool = False, waits: bool = False) -> dict[str, Any]:
    code = (_WAITS if waits else "") + (_TX_FLOOR if moves_value else _FLOOR)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         cwd=tempfile.gettempdir())
    return _printed(out.stdout, waits)


def _printed(stdout: str, waits: bool) -> dict[str, Any]:
    """A probe's last line, its timings; with `waits`, the line `_WAITS` printed at exit comes after it."""
    lines = stdout.strip().splitlines()
    return {**json.loads(lines[-3]), **json.loads(lines[-1])} if waits else dict(json.loads(lines[-1]))


def product_env() -> dict[str, str]:
    """What a probe needs to reach the local stack this process started (no AWS, no real WeChat)."""
    keep = ("DYNAMODB_ENDPOINT", "WECHAT_API_BASE", "WECHATPAY_API_BASE", "KABAO_", "AWS_", "POWERTOOLS_", "PARAMETERS_")
    return {"PATH": os.environ.get("PATH", ""), **{k: v for k, v in os.environ.items() if k.startswith(keep)}}


class Paths:
    """Each round's fresh requests on a seeded local stack: a returning member's login (a new code each time),
    `GET /v1/me`, a checkout at the till (a new member code and Idempotency-Key), the notify of a newly paid
    top-up, and the issue jobs' schedule; each with the handler `runs` gives it (a built template's `handlers`, by
    default the source tree's)."""

    def __init__(self, stack: Any, runs: dict[str, str] | None = None) -> None:
        import requests

        from infra.local.seed import seed

        from mini_program_api.platform.errors import KabaoError

        self.stack, self.http = stack, requests.Session()
        self.runs = source_handlers() if runs is None else runs
        for attempt in range(3):  # a just-started DynamoDB Local on a busy machine may miss the first write's timeout
            try:
                self.appid = seed(stack.sandbox_server.url)
                break
            except KabaoError:
                if attempt == 2:
                    raise
                time.sleep(5)
        self.member = self.cardholder("cold-member")
        self.payer, self.paid = "", 0
        self.cashier = self.call("POST", "/v1/staff/login", {"merchant_id": "demo", "username": "cashier",
                                                             "password": "LOCAL-DEV-ONLY-cashier"})["token"]

    def cardholder(self, openid: str) -> str:
        """The token of a member with a bound phone and an open card."""
        token = self.call("POST", "/v1/auth/login", {"appid": self.appid, "code": f"test:{openid}:{uuid.uuid4().hex[:12]}"})["token"]
        self.call("POST", "/v1/me/phone", {"code": f"phone:139{uuid.uuid4().int % 10**8:08d}"}, token)
        self.call("POST", "/v1/me/card", {"agreed_terms_version": "1"}, token)
        return str(token)

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        headers["idempotency-key"] = uuid.uuid4().hex
        response = self.http.request(method, self.stack.api_url + path, json=body, headers=headers, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else None

    def _request(self, label: str, event: dict[str, Any], moves_value: bool = False) -> Request:
        return Request(label, event, self.runs[Request(label, event, "").route], moves_value)

    def _json(self, method: str, path: str, body: Any, token: str | None = None, key: bool = False) -> dict[str, Any]:
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        if key:
            headers["idempotency-key"] = uuid.uuid4().hex
        return http_event(method, path, headers, json.dumps(body).encode() if body is not None else None)

    def login(self) -> Request:
        body = {"appid": self.appid, "code": f"test:cold-member:{uuid.uuid4().hex[:12]}"}
        return self._request("login (returning member)", self._json("POST", "/v1/auth/login", body))

    def me(self) -> Request:
        return self._request("GET /v1/me", self._json("GET", "/v1/me", None, self.member))

    def checkout(self) -> Request:
        code = self.call("GET", "/v1/me/code", token=self.member)["code"]
        body = {"member_code": code, "amount": 3000}
        return self._request("POST /v1/staff/checkout",
                             self._json("POST", "/v1/staff/checkout", body, self.cashier, True), moves_value=True)

    def notify(self) -> Request:
        if self.paid % 10 == 0:  # a new member before the prepaid cap (500 000 fen; p300 adds 30 000) refuses one
            self.payer = self.cardholder(f"cold-payer-{uuid.uuid4().hex[:8]}")
        self.paid += 1
        order = self.call("POST", "/v1/topup/orders", {"plan_id": "p300"}, self.payer)
        url, body, headers = self.stack.wechat.pay.signed_notify(order["order_id"])
        return self._request("POST /v1/wechatpay/notify", http_event("POST", url.removeprefix(self.stack.api_url),
                                                                    headers, body.encode()), moves_value=True)

    def job(self) -> Request:
        return self._request("schedule issue_jobs_run", schedule_event("issue_jobs_run"))

    KINDS = ("login", "me", "checkout", "notify", "job")


def first_answers(task: Path, runtime: Path, planned: Any, rounds: int = RUNS,
                  runs: dict[str, str] | None = None) -> list[str]:
    """The `first answer` table's lines (see the module docstring), on the stack `planned` before anything read
    the environment (building the package imports app, and the product reads its settings once); `runs`: the
    built template's `handlers`."""
    from infra.local import stack as local_stack

    stack = local_stack.start(planned=planned)
    try:
        paths = Paths(stack, runs)
        env = product_env()
        measured: dict[str, list[tuple[float, float]]] = defaultdict(list)
        waited: dict[str, list[float]] = defaultdict(list)
        moving: set[str] = set()
        for _ in range(rounds):
            for label, moves_value in ((_FLOOR_LABEL, False), (_TX_FLOOR_LABEL, True)):
                base = floor(env, moves_value)
                measured[label].append((base["import"], base["first"]))
                waited[label].append(floor(env, moves_value, waits=True)["waited"])
            for kind in paths.KINDS:
                request = getattr(paths, kind)()
                seen = first_answer(request, [str(task), str(runtime)], env, site=False)
                if seen["answer"] not in ("200", "204", "ran"):
                    raise RuntimeError(f"{request.label} answered {seen['answer']}: {seen['stderr'][-2000:]}")
                measured[request.label].append((seen["import"], seen["first"]))
                again = getattr(paths, kind)()  # a fresh request of its kind: a member code or a notify is used once
                waited[request.label].append(first_answer(again, [str(task), str(runtime)], env, site=False,
                                                          waits=True)["waited"])
                if request.moves_value:
                    moving.add(request.label)
    finally:
        stack.stop()
    rows = {label: [a + b for a, b in runs] for label, runs in measured.items()}
    answer = {label: statistics.median(runs) for label, runs in rows.items()}
    ddb = {label: statistics.median(runs) for label, runs in waited.items()}

    def ratio(label: str, floor_label: str) -> str:
        """The median answer over the floor's median, and the spread of the per-round ratios."""
        per_round = sorted(t / f for t, f in zip(rows[label], rows[floor_label], strict=True))
        return f"{answer[label] / answer[floor_label]:5.2f} ({per_round[0]:.2f}-{per_round[-1]:.2f})"

    def own(label: str, floor_label: str) -> str:
        """The answer less its DynamoDB waits over the floor's less its own: the app's share, apart from the database."""
        return f"{(answer[label] - ddb[label]) / (answer[floor_label] - ddb[floor_label]):.2f}"

    lines = [f"\nFirst answer per path (fresh interpreter, .pyc shipped, interleaved, median of {rounds})",
             f"{'path':34} {'import ms':>9} {'first ms':>9} {'answer ms':>9}  {'x floor (per round)':<20} "
             f"{'x value-moving floor':<21} {'ddb ms':>6} {'own x floor':>11}"]
    for label, runs in measured.items():
        moves = label in moving or label == _TX_FLOOR_LABEL
        lines.append(f"{label:34} {statistics.median(a for a, _ in runs) * 1000:9.0f} "
                     f"{statistics.median(b for _, b in runs) * 1000:9.0f} {answer[label] * 1000:9.0f}  "
                     f"{ratio(label, _FLOOR_LABEL):<20} {ratio(label, _TX_FLOOR_LABEL) if moves else '':<21} "
                     f"{ddb[label] * 1000:6.0f} {own(label, _TX_FLOOR_LABEL if moves else _FLOOR_LABEL):>11}")
    lines.append("import = the interpreter's import of the path's handler, the entry the template runs for it (of "
                 "boto3 for the floors); first = the first request to "
                 "its answer (for the floors: a client and one GetItem, then one transaction of four items); the "
                 "spread is of each round's ratio to that round's floor; ddb = the median time its DynamoDB calls "
                 "waited for DynamoDB Local's answers (a run apart); own x floor = (answer - ddb) / (floor - its ddb), "
                 "against the value-moving floor for the paths that move value: the app's imports and work, apart "
                 "from the database")
    return lines


def versus(other: Path, task: Path, runtime: Path, planned: Any, rounds: int = 15,
           runs: dict[str, str] | None = None) -> list[str]:
    """Each path's first answer from this checkout's package and from `other`'s (another checkout of kabao, the
    code before a change), on one stack, both run in every round in turn (the order alternating): the median of
    the rounds' differences says what the change did when the two tables' medians, a minute apart, move by more
    than it. The stage's secrets are `dev:` values for both, so that only the code differs (`other` may predate
    the extension's stand-in). Each package's probe runs the handler its own template assigns to the path (`runs`
    for this one)."""
    from infra.local import stack as local_stack

    built = subprocess.run(
        [sys.executable, "-c", f"from pathlib import Path; from infra.deploy.package import build; "
                               f"print(build(Path({str(task.parent / 'other-package')!r}), pyc=True))"],
        cwd=other, capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()[-1]
    theirs = task.parent / "other-task"
    zipfile.ZipFile(Path(built) / "deployment.zip").extractall(theirs)
    their_runs = handlers(json.loads((Path(built) / "sam.json").read_text()))
    stack = local_stack.start(planned=planned)
    try:
        paths = Paths(stack, runs)
        env = {**product_env(), "KABAO_JWT_SECRET": f"dev:{local_stack.JWT_SECRET}",
               "KABAO_PII_KEY": f"dev:{local_stack.PII_KEY}"}
        trees = {"this": task, "other": theirs}
        times: dict[tuple[str, str], list[float]] = defaultdict(list)
        for n in range(rounds):
            for kind in paths.KINDS:
                for name in (("this", "other") if n % 2 == 0 else ("other", "this")):
                    request = getattr(paths, kind)()
                    handler = their_runs[request.route] if name == "other" else None
                    seen = first_answer(request, [str(trees[name]), str(runtime)], env, site=False, handler=handler)
                    if seen["answer"] not in ("200", "204", "ran"):
                        raise RuntimeError(f"{kind} ({name}) answered {seen['answer']}: {seen['stderr'][-2000:]}")
                    times[(kind, name)].append((seen["import"] + seen["first"]) * 1000)
    finally:
        stack.stop()
    lines = [f"\nFirst answer, this checkout against {other} (one stack, both in each round, median of {rounds})",
             f"{'path':10} {'this ms':>8} {'other ms':>9} {'other - this, per round':>24}"]
    for kind in Paths.KINDS:
        ours, theirs_ms = times[(kind, "this")], times[(kind, "other")]
        saved = statistics.median(b - a for a, b in zip(ours, theirs_ms, strict=True))
        lines.append(f"{kind:10} {statistics.median(ours):8.0f} {statistics.median(theirs_ms):9.0f} {saved:24.1f}")
    return lines


def main() -> None:
    """`python -m bench.cold_start`: every table; `python -m bench.cold_start first [ROUNDS]`: the first answers
    alone (ROUNDS, 11 by default: fewer while iterating); `python -m bench.cold_start versus OTHER [ROUNDS]`: each
    path's first answer against another checkout's, side by side in each round (`versus`)."""
    quiet_app()
    import botocore

    from infra.local import stack as local_stack

    planned = local_stack.plan(stage="local", table="kabao-cold")
    if sys.argv[1:2] in (["first"], ["versus"]):
        from infra.deploy.package import build

        with tempfile.TemporaryDirectory() as tmp:
            runtime, task = Path(tmp) / "runtime", Path(tmp) / "task"
            runtime.mkdir()
            (runtime / "botocore").symlink_to(Path(botocore.__file__).parent)
            built = build(Path(tmp) / "package", pyc=True)
            zipfile.ZipFile(built / "deployment.zip").extractall(task)
            runs = handlers(json.loads((built / "sam.json").read_text()))
            if sys.argv[1] == "first":
                rounds = int(sys.argv[2]) if sys.argv[2:] else RUNS
                print("\n".join(first_answers(task, runtime, planned, rounds, runs)))
            else:
                rounds = int(sys.argv[3]) if sys.argv[3:] else 15
                print("\n".join(versus(Path(sys.argv[2]).resolve(), task, runtime, planned, rounds, runs)))
        return

    from infra.deploy.package import build

    with tempfile.TemporaryDirectory() as tmp:
        runtime = Path(tmp) / "runtime"
        runtime.mkdir()
        (runtime / "botocore").symlink_to(Path(botocore.__file__).parent)
        variants = [("import boto3 (baseline)", _command("boto3", [], False, True), None)]
        for label, pyc in (("import app, .pyc shipped", True), ("import app, no .pyc", False)):
            out = build(Path(tmp) / label.replace(" ", "_"), pyc=pyc)
            task = Path(tmp) / f"task-{pyc}"
            zipfile.ZipFile(out / "deployment.zip").extractall(task)
            size = (out / "deployment.zip").stat().st_size / 1024
            variants.append((label, _command("app", [str(task), str(runtime)], not pyc, False), size))
            if pyc:
                for name, paths in _HANDLER_SETS.items():
                    modules = ", ".join(["app", *handler_imports(paths)])
                    variants.append((name, _command(modules, [str(task), str(runtime)], False, False), size))
        with_botocore = build(Path(tmp) / "with_botocore", pyc=True, keep_botocore=True)
        botocore_kib = (with_botocore / "deployment.zip").stat().st_size / 1024

        measured: list[list[tuple[float, float]]] = [[] for _ in variants]
        for _ in range(RUNS):
            for i, (_, (args, env), _) in enumerate(variants):
                measured[i].append(_once(args, env))
        tops = [(label, _top_imports(*command)) for label, command, _ in variants[1:4:2]]
        runs = handlers(json.loads((Path(tmp) / "import_app,_.pyc_shipped" / "sam.json").read_text()))
        first = first_answers(Path(tmp) / "task-True", runtime, planned, runs=runs)

    rows = [(label, statistics.median(m[0] for m in runs), statistics.median(m[1] for m in runs), size)
            for (label, _, size), runs in zip(variants, measured)]
    base_ms, base_mb = rows[0][1], rows[0][2]
    print(f"\nCold start (fresh interpreter, interleaved, median of {RUNS})")
    print(f"{'variant':28} {'import ms':>9} {'x boto3':>8} {'peak MiB':>9} {'x boto3':>8} {'zip KiB':>8}")
    for label, ms, mb, size in rows:
        print(f"{label:28} {ms:9.0f} {ms / base_ms:8.2f} {mb:9.1f} {mb / base_mb:8.2f} {size or 0:8.0f}")
    ratios = sorted(a[0] / b[0] for a, b in zip(measured[1], measured[0]))
    print(f"app/.pyc vs boto3 per round: min {ratios[0]:.2f}, median {statistics.median(ratios):.2f}, "
          f"max {ratios[-1]:.2f}")
    print(f"zip with botocore kept: {botocore_kib:.0f} KiB ({botocore_kib / rows[1][3]:.2f}x the shipped zip); "
          f".pyc makes the import {rows[-1][1] / rows[1][1]:.2f}x faster")
    for label, top in tops:
        print(f"\nTen most expensive packages in {label!r} (-X importtime, self ms summed per package, median of 3)")
        for name, ms in top:
            print(f"  {name:40} {ms:7.1f}")
    print("\n".join(first))


if __name__ == "__main__":
    main()
