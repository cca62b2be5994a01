"""DynamoDB calls per API operation, and the app's own time per request next to DynamoDB's.

Every operation runs in-process through chalice.test.Client against the local
stack. A botocore event hook (registered on every client botocore creates)
counts each DynamoDB call and times it from `before-call` to `after-call`.

The floor for a value-moving call is one TransactWriteItems with at most one
read before it; reads after the write (the response body) are listed apart.

Capacity: every call asks for ReturnConsumedCapacity=TOTAL (a `before-parameter-build`
hook, only here) and the read and write units DynamoDB Local reports are summed per
operation; bench/README.md turns them into yuan per 10 000 members a month.
"""
from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from collections import Counter
from typing import Any

from bench import cost, quiet_app
from infra.local import stack as local_stack

RUNS = 20
_WRITES = {"TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem"}
_READS = {"GetItem", "BatchGetItem", "Query"}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.inside = 0.0
        self.rcu = self.wcu = 0.0
        self._started: dict[int, float] = {}
        self._lock = threading.Lock()

    def ask_capacity(self, params: dict[str, Any], **_: Any) -> None:
        params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def before(self, model: Any, **_: Any) -> None:
        self._started[threading.get_ident()] = time.perf_counter()

    def after(self, model: Any, parsed: dict[str, Any] | None = None, **_: Any) -> None:
        elapsed = time.perf_counter() - self._started.pop(threading.get_ident(), time.perf_counter())
        consumed = (parsed or {}).get("ConsumedCapacity") or []
        units = sum(c.get("CapacityUnits", 0.0) for c in (consumed if isinstance(consumed, list) else [consumed]))
        with self._lock:
            self.inside += elapsed
            self.calls.append(model.name)
            if model.name in _WRITES:
                self.wcu += units
            else:
                self.rcu += units

    def reset(self) -> None:
        with self._lock:
            self.calls, self.inside, self.rcu, self.wcu = [], 0.0, 0.0, 0.0


def install(recorder: Recorder) -> None:
    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register("before-parameter-build.dynamodb", recorder.ask_capacity)
        client.meta.events.register("before-call.dynamodb", recorder.before)
        client.meta.events.register("after-call.dynamodb", recorder.after)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]


def _shape(calls: list[str]) -> tuple[int, int, int, str]:
    """(reads before the first write, writes, reads after, call list)."""
    first_write = next((i for i, c in enumerate(calls) if c in _WRITES), len(calls))
    before = sum(1 for c in calls[:first_write] if c in _READS)
    writes = sum(1 for c in calls if c in _WRITES)
    after = sum(1 for c in calls[first_write:] if c in _READS)
    counts = Counter(calls)
    return before, writes, after, " ".join(f"{n}x{c}" for c, n in counts.items())


def main() -> None:
    quiet_app()
    stack = local_stack.start(stage="local", table="kabao-bench")
    recorder = Recorder()
    install(recorder)
    from chalice.test import Client

    from app import app
    from infra.local import cpu
    from infra.local.seed import seed
    from mini_program_api.coupons import templates

    appid = seed(stack.sandbox_server.url)
    client = Client(app, stage_name="bench")
    meter = cpu.install(app)  # chalice.test.Client serves in this thread: the CPU of each operation's request
    offer = templates.create_template("demo", templates.TemplateSpec(
        name="bench", kind="CASH", amount=100, total_stock=100_000, per_member_limit=1, days_after_claim=7)).template_id

    def call(method: str, path: str, body: Any = None, token: str | None = None, key: bool = False) -> Any:
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        if key:
            headers["idempotency-key"] = uuid.uuid4().hex
        response = client.http.request(method, path, headers=headers, body=json.dumps(body).encode() if body else b"")
        assert response.status_code < 300, response.body
        return json.loads(response.body) if response.body else None

    def member() -> str:
        token = call("POST", "/v1/auth/login", {"appid": appid, "code": f"test:{uuid.uuid4().hex[:12]}"})["token"]
        call("POST", "/v1/me/phone", {"code": f"phone:139{uuid.uuid4().int % 10**8:08d}"}, token)
        call("POST", "/v1/me/card", {"agreed_terms_version": "1"}, token)
        return token

    cashier = call("POST", "/v1/staff/login", {"merchant_id": "demo", "username": "cashier",
                                               "password": "LOCAL-DEV-ONLY-cashier"})["token"]

    def checkout(code: str) -> Any:  # the member's phone shows the code (not timed), the till checks out
        return call("POST", "/v1/staff/checkout", {"member_code": code, "amount": 3000}, cashier, key=True)

    def notify(token: str) -> tuple[str, str, Any]:
        order = call("POST", "/v1/topup/orders", {"plan_id": "p300"}, token, key=True)
        url, body, headers = stack.wechat.pay.signed_notify(order["order_id"])
        return url.replace(stack.api_url, ""), body, headers

    operations: dict[str, Any] = {
        "login (new member)": lambda t: call("POST", "/v1/auth/login", {"appid": appid, "code": f"test:{uuid.uuid4().hex}"}),
        "login (returning)": lambda t: call("POST", "/v1/auth/login", {"appid": appid, "code": f"test:bench-regular:{uuid.uuid4().hex[:8]}"}),
        "GET /v1/me": lambda t: call("GET", "/v1/me", token=t),
        "GET /v1/me/code": lambda t: call("GET", "/v1/me/code", token=t),
        "GET /v1/me/ledger": lambda t: call("GET", "/v1/me/ledger?account=points", token=t),
        "POST /v1/me/sign-in *": lambda t: call("POST", "/v1/me/sign-in", token=t),
        "POST /v1/topup/orders *": lambda t: call("POST", "/v1/topup/orders", {"plan_id": "p300"}, t, key=True),
        # keyed, as the typed client sends it: a member's first listing of the day, and one of offers already shown
        "GET /v1/coupons/offers": lambda t: call("GET", "/v1/coupons/offers", token=t, key=True),
        "GET /v1/coupons/offers (again)": lambda t: call("GET", "/v1/coupons/offers", token=t, key=True),
        "POST .../offers/{id}/claim *": lambda t: call("POST", f"/v1/coupons/offers/{offer}/claim", token=t, key=True),
        "POST /v1/staff/checkout *": checkout,
    }
    prepare = {"POST /v1/staff/checkout *": lambda t: call("GET", "/v1/me/code", token=t)["code"],
               "GET /v1/coupons/offers (again)": lambda t: (call("GET", "/v1/coupons/offers", token=t, key=True), t)[1]}
    call("POST", "/v1/auth/login", {"appid": appid, "code": "test:bench-regular"})
    rows = []
    for name, op in operations.items():
        samples, shape = [], None
        for _ in range(RUNS):
            token = member()  # fresh member: sign-in credits, the cap never binds
            argument = prepare[name](token) if name in prepare else token
            recorder.reset()
            meter.reset()
            start = time.perf_counter()
            op(argument)
            total = time.perf_counter() - start
            samples.append((total - recorder.inside, recorder.inside, recorder.rcu, recorder.wcu,
                            sum(meter.seconds.values()), len(recorder.calls)))
            shape = _shape(recorder.calls)
        rows.append((name, shape, samples))
    samples, shape = [], None
    for _ in range(RUNS):
        path, body, headers = notify(member())
        recorder.reset()
        meter.reset()
        start = time.perf_counter()
        response = client.http.request("POST", path, headers=headers, body=body.encode())
        assert response.status_code == 204, response.body
        total = time.perf_counter() - start
        samples.append((total - recorder.inside, recorder.inside, recorder.rcu, recorder.wcu,
                        sum(meter.seconds.values()), len(recorder.calls)))
        shape = _shape(recorder.calls)
    rows.append(("POST /v1/wechatpay/notify *", shape, samples))
    stack.stop()

    print(f"\nDynamoDB calls per operation (median of {RUNS}; * moves value: floor = 1 write, <= 1 read before)")
    print(f"{'operation':30} {'reads<':>6} {'writes':>6} {'reads>':>6} {'app ms':>7} {'ddb ms':>7} {'app/ddb':>7} "
          f"{'RCU':>5} {'WCU':>5} {'cpu ms':>6}  calls")
    for name, (before, writes, after, listing), measured in rows:
        outside = statistics.median(m[0] for m in measured) * 1000
        inside = statistics.median(m[1] for m in measured) * 1000
        rcu = statistics.median(m[2] for m in measured)
        wcu = statistics.median(m[3] for m in measured)
        cpu_ms = statistics.median(m[4] for m in measured) * 1000
        print(f"{name:30} {before:6d} {writes:6d} {after:6d} {outside:7.1f} {inside:7.1f} {outside / inside:7.2f} "
              f"{rcu:5.1f} {wcu:5.1f} {cpu_ms:6.1f}  {listing}")
    print("app ms = time outside DynamoDB calls (routing, validation, JWT, crypto, PynamoDB marshalling, WeChat sandbox calls);")
    print("ddb ms = inside them, against DynamoDB Local on loopback.")
    print("RCU/WCU = capacity units DynamoDB Local reports (ReturnConsumedCapacity=TOTAL), median per call.")
    print("cpu ms = the app's CPU time for the request (infra/local/cpu.py), the WeChat sandbox's excluded.")
    costs = {name: (statistics.median(m[2] for m in measured), statistics.median(m[3] for m in measured),
                    statistics.median(cost.lambda_seconds(m[4], m[5]) for m in measured)) for name, _, measured in rows}
    print()
    print("\n".join(cost.monthly(costs)))


if __name__ == "__main__":
    main()
