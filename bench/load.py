"""Load over HTTP: members logging in, signing in, claiming and paying at the counter, at 16 and 64 users.

    python -m bench load                      # 16 then 64 users against its own local stack
    python -m bench.load --users 16 64 --rounds 320

Reuses bench/soak.py's HTTP client and member set-up (no second copy): the same local
stack (DynamoDB Local, the WeChat sandbox, the API on loopback, in this process). One
round is one member's visit: `POST /v1/auth/login` (a returning member), `POST
/v1/me/sign-in`, a claim of a coupon offer, then at the till the member's code and
`POST /v1/staff/checkout` paid with points and the coupon when it has one. Each level
runs the same number of rounds spread over its users (threads), so the levels compare.

Prints p50/p99 per route with the app's CPU per request (`cpu ms`: the CPU time of the server thread
that served it, infra/local/cpu.py: waiting for the GIL, a core or DynamoDB Local does not count), and,
per request, the time inside DynamoDB calls (a botocore hook on every client, bench/calls.py's Recorder:
the API runs in this process) against the rest, which is the app's own work plus HTTP and waiting for
the GIL: client and server share one interpreter here, so wall-clock "app" is an upper bound of what a
Lambda would spend, and the CPU column is the app's own cost apart from the machine's contention. The
last lines price a month of Lambda from that CPU (bench/cost.py).
"""
from __future__ import annotations

import argparse
import random
import re
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import cost, quiet_app
from bench.calls import Recorder, install
from bench.soak import APPID, Client, Member, Report, Soak
from infra.local.cpu import CpuMeter


def visit(c: Client, soak: Soak, m: Member, offer: str, rnd: random.Random) -> None:
    session = c.ok("POST", "POST /v1/auth/login", "/v1/auth/login",
                   {"appid": APPID, "code": f"test:{m.openid}:{uuid.uuid4().hex[:8]}"})
    m.token = session["token"]
    c.call("POST", "POST /v1/me/sign-in", "/v1/me/sign-in", token=m.token)
    status, coupon = c.call("POST", "POST /v1/coupons/offers/{id}/claim", f"/v1/coupons/offers/{offer}/claim",
                            token=m.token, key=uuid.uuid4().hex)
    code = c.ok("GET", "GET /v1/me/code", "/v1/me/code", token=m.token)["code"]
    body: dict[str, Any] = {"member_code": code, "amount": rnd.randrange(3000, 15000)}
    if status == 200:
        body["coupon_id"] = coupon["coupon_id"]
    c.call("POST", "POST /v1/staff/checkout", "/v1/staff/checkout", body, token=soak.cashier, key=uuid.uuid4().hex)


def _template(route: str) -> str:
    """`POST /v1/coupons/offers/{id}/claim` and the declared `.../{template_id}/claim` are the same route."""
    return re.sub(r"\{[^}]*\}", "{}", route)


def print_routes(report: Report, meter: CpuMeter) -> dict[str, float]:
    """The report's p50/p99 per route with the app's CPU per request beside them; returns route -> CPU seconds."""
    served = {_template(route): route for route in meter.requests}
    cpu: dict[str, float] = {}
    print(f"{'route':40} {'calls':>6} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms':>7}  answers")
    for route in sorted(report.latencies):
        ms = sorted(x * 1000 for x in report.latencies[route])
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        cpu[route] = meter.per_request(served[_template(route)]) if _template(route) in served else 0.0
        codes = " ".join(f"{v}x{k}" for k, v in sorted(report.statuses[route].items()))
        print(f"{route:40} {len(ms):6} {statistics.median(ms):8.1f} {p99:8.1f} {cpu[route] * 1000:7.1f}  {codes}")
    return cpu


def level(soak: Soak, recorder: Recorder, offer: str, users: int, rounds: int) -> tuple[Report, float, int]:
    report, lock = Report(), threading.Lock()
    members = soak.members[:users]
    counter, counter_lock = iter(range(rounds)), threading.Lock()

    def user(index: int) -> None:
        c, rnd, m = Client(soak.api, soak.sandbox, report, lock), random.Random(index), members[index]
        while True:
            with counter_lock:
                if next(counter, None) is None:
                    return
            visit(c, soak, m, offer, rnd)

    recorder.reset()
    started = time.perf_counter()
    with ThreadPoolExecutor(users) as pool:
        list(pool.map(user, range(users)))
    report.seconds = time.perf_counter() - started
    report.operations = sum(len(v) for v in report.latencies.values())
    return report, recorder.inside, len(recorder.calls)


def main(argv: list[str] | None = None) -> int:
    quiet_app()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--rounds", type=int, default=320, help="member visits per level (5 requests each)")
    args = parser.parse_args(argv)

    from infra.local import stack as local_stack
    from infra.local.seed import seed

    stack = local_stack.start(stage="local", table="kabao-load")
    recorder = Recorder()
    install(recorder)
    from app import app
    from infra.local import cpu as cpu_meter

    meter = cpu_meter.install(app)  # the app the stack's API serves, in this process
    seed(stack.sandbox_server.url)
    soak = Soak(stack.api_url, stack.sandbox_server.url, members=max(args.users), seed=7)
    offer = soak.client().ok("POST", "-", "/v1/admin/coupon-templates", {
        "name": "load 满30减5", "kind": "FULL_REDUCTION", "threshold": 3000, "amount": 500,
        "total_stock": 1_000_000, "per_member_limit": 100, "days_after_claim": 30},
        token=soak.admin, key=uuid.uuid4().hex)["template_id"]
    failures = 0
    for users in args.users:
        meter.reset()
        report, inside, ddb_calls = level(soak, recorder, offer, users, args.rounds)
        requests_made = report.operations
        latency = statistics.mean(x for v in report.latencies.values() for x in v)
        ddb = inside / requests_made
        print(f"\n{users} users, {args.rounds} visits: {requests_made} requests in {report.seconds:.1f} s, "
              f"{requests_made / report.seconds:.1f} requests/s")
        cpu = print_routes(report, meter)
        print(f"per request: {latency * 1000:.1f} ms mean, of which DynamoDB {ddb * 1000:.1f} ms "
              f"({ddb_calls / requests_made:.1f} calls) and app + HTTP {(latency - ddb) * 1000:.1f} ms "
              f"(app/ddb {(latency - ddb) / ddb:.2f}); the app's CPU "
              f"{sum(meter.seconds.values()) / max(1, sum(meter.requests.values())) * 1000:.1f} ms")
        print("\n".join(cost.lambda_from_cpu(cpu, ddb_calls / requests_made)))
        failures += sum(n for codes in report.statuses.values() for code, n in codes.items() if code.startswith("5"))
    stack.stop()
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
