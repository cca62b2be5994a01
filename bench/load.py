"""Load over HTTP: members logging in, signing in, claiming and paying at the counter, at 16 and 64 users.

    python -m bench load                      # 16 then 64 users against its own local stack
    python -m bench.load --users 16 64 --rounds 320

Reuses bench/soak.py's HTTP client and member set-up (no second copy): the same local
stack (DynamoDB Local, the WeChat sandbox, the API on loopback, in this process). One
round is one member's visit: `POST /v1/auth/login` (a returning member), `POST
/v1/me/sign-in`, a claim of a coupon offer, then at the till the member's code and
`POST /v1/staff/checkout` paid with points and the coupon when it has one. Each level
runs the same number of rounds spread over its users (threads), so the levels compare.

Prints p50/p99 per route and, per request, the time inside DynamoDB calls (a botocore
hook on every client, bench/calls.py's Recorder: the API runs in this process) against
the rest, which is the app's own work plus HTTP and waiting for the GIL: client and
server share one interpreter here, so "app" is an upper bound of what a Lambda would spend.
"""
from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import quiet_app
from bench.calls import Recorder, install
from bench.soak import APPID, Client, Member, Report, Soak


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
    seed(stack.sandbox_server.url)
    soak = Soak(stack.api_url, stack.sandbox_server.url, members=max(args.users), seed=7)
    offer = soak.client().ok("POST", "-", "/v1/admin/coupon-templates", {
        "name": "load 满30减5", "kind": "FULL_REDUCTION", "threshold": 3000, "amount": 500,
        "total_stock": 1_000_000, "per_member_limit": 100, "days_after_claim": 30},
        token=soak.admin, key=uuid.uuid4().hex)["template_id"]
    failures = 0
    for users in args.users:
        report, inside, ddb_calls = level(soak, recorder, offer, users, args.rounds)
        requests_made = report.operations
        latency = statistics.mean(x for v in report.latencies.values() for x in v)
        ddb = inside / requests_made
        print(f"\n{users} users, {args.rounds} visits: {requests_made} requests in {report.seconds:.1f} s, "
              f"{requests_made / report.seconds:.1f} requests/s")
        report.print_routes()
        print(f"per request: {latency * 1000:.1f} ms mean, of which DynamoDB {ddb * 1000:.1f} ms "
              f"({ddb_calls / requests_made:.1f} calls) and app + HTTP {(latency - ddb) * 1000:.1f} ms "
              f"(app/ddb {(latency - ddb) / ddb:.2f})")
        failures += sum(n for codes in report.statuses.values() for code, n in codes.items() if code.startswith("5"))
    stack.stop()
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
