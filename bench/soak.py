"""Soak: mixed operations from concurrent clients over HTTP, then every money invariant, member by member.

    python -m bench soak                          # 10 000 operations, 16 clients, own local stack
    python -m bench soak --ops 1000 --clients 16
    python -m bench soak --api http://127.0.0.1:8000 --sandbox http://127.0.0.1:8002   # a running `make dev`

Black box: members, the cashier and the admin act only through the public API,
WeChat Pay only through the sandbox (payments whose notify arrives three times at
once, refunds settled with duplicate notifies). Afterwards, through the same API
and the sandbox's record of what WeChat Pay holds, it checks for every member:
each balance equals the sum of its ledger entries and none is negative; each
paid WeChat transaction is credited once, with its amount; coupon claims stay
within stock and per-member limits and none that succeeded is missing; every
receipt agrees with the ledger entries of its order; and no response was a 5xx.
It prints operations, operations/s, p50/p99 latency per route, and the time of
one member journey before and after the load (a growing table must not slow it).

    python -m bench.soak --chaos                  # the same operations while things fail (make soak CHAOS=1)

With --chaos (its own stack only) the operations meet faults (infra/local/faults.py): DynamoDB calls
throttled, transactions cancelled for conflicts, writes applied whose answer is lost; WeChat Pay and
WeChat refusing, answering late or losing answers; payment and refund notifies lost, late, duplicated
and out of order; and the scheduled jobs (reconciliation, issue jobs, the life cycle) run alongside,
killed at a random DynamoDB call and run again. Clients behave as the typed client does: a 503 or
409 CONCURRENT_UPDATE is sent again with the same Idempotency-Key (3 attempts). Afterwards, faults
off, the jobs run on until nothing is due, every operation that met a fault is sent once more with
its key, and on top of every invariant above it checks: an operation answered 200 has the same
result when asked again (it took effect once); every sale and top-up order on a member's lists is
one a client made (a failed call left nothing behind, or its retry completed it); every top-up paid
at WeChat Pay is credited, whether or not its client saw it; no order is still PENDING past its
expiry and no job's item is still due or failing. It prints the faults injected by kind and the
invariants held. A 500 is a bug; a 503 (the database or WeChat unavailable) is a legitimate answer.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from bench import quiet_app

MERCHANT = "demo"
APPID = "wxdemo0000000001"
CASHIER = ("cashier", "LOCAL-DEV-ONLY-cashier")
ADMIN = ("admin", "LOCAL-DEV-ONLY-admin")
LIMITED_STOCK_PER_100_OPS = 3
PER_MEMBER_LIMIT = 2
# Answers the contract tells a client to retry with the same Idempotency-Key (docs/contract.md).
RETRYABLE = {(503, "DATABASE_UNAVAILABLE"), (503, "WECHAT_UNAVAILABLE"), (409, "CONCURRENT_UPDATE")}
CHAOS_DYNAMODB_RATE = 0.03  # of DynamoDB calls
CHAOS_WECHAT_RATE = 0.05  # of WeChat and WeChat Pay API calls
CLIENT_ATTEMPTS = 3  # the typed client's default (client/src/kabao.ts)
RUN_AHEAD = timedelta(minutes=6)  # the jobs' now during the run: past reconciliation's first look at an order
SETTLE_ROUNDS = 8
JOBS_RUN = {"topup", "issue_job", "coupon_reminder", "points_expiry", "points_warning", "dormant", "birthday",
            "monthly_pack", "tier_review"}


@dataclass
class Member:
    token: str
    member_id: str
    cards: list[str] = field(default_factory=list)  # punch cards bought
    openid: str = ""  # what a later login sends (bench/load.py logs members in again)


@dataclass
class Report:
    operations: int = 0
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # route -> "200" or "409 SOLD_OUT" -> count
    statuses: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    violations: list[str] = field(default_factory=list)
    journey_before: float = 0.0
    journey_after: float = 0.0
    chaos: ChaosReport | None = None

    def print(self) -> None:
        print(f"{self.operations} operations in {self.seconds:.1f} s: {self.operations / self.seconds:.1f} operations/s")
        self.print_routes()
        print(f"member journey (8 calls): {self.journey_before * 1000:.0f} ms before, "
              f"{self.journey_after * 1000:.0f} ms after ({self.journey_after / self.journey_before:.2f}x)")
        if self.chaos:
            self.chaos.print()
        print(f"violations: {len(self.violations)}")
        for line in self.violations[:50]:
            print(f"  {line}")

    def print_routes(self) -> None:
        print(f"{'route':40} {'calls':>6} {'p50 ms':>8} {'p99 ms':>8}  answers")
        for route in sorted(self.latencies):
            ms = sorted(x * 1000 for x in self.latencies[route])
            p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
            codes = " ".join(f"{v}x{k}" for k, v in sorted(self.statuses[route].items()))
            print(f"{route:40} {len(ms):6} {statistics.median(ms):8.1f} {p99:8.1f}  {codes}")


@dataclass
class ChaosReport:
    """What was injected and what held (see the module docstring)."""

    dynamodb: dict[str, int] = field(default_factory=dict)  # fault kind -> attempts it failed
    wechat: dict[str, int] = field(default_factory=dict)  # "fail|late|lost <api>" -> calls
    notifies: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # how payments were told
    jobs: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    retried: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # answer a client retried -> count
    replayed: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # outcome of the last resend
    settle_rounds: int = 0
    invariants: list[str] = field(default_factory=list)  # checked, each with its count

    def print(self) -> None:
        print(f"faults injected, DynamoDB ({sum(self.dynamodb.values())} attempts):")
        for kind, n in sorted(self.dynamodb.items(), key=lambda kv: -kv[1]):
            print(f"  {n:6}  {kind}")
        print(f"faults injected, WeChat and WeChat Pay ({sum(self.wechat.values())} calls):")
        for kind, n in sorted(self.wechat.items(), key=lambda kv: -kv[1]):
            print(f"  {n:6}  {kind}")
        print("payment notifies: " + ", ".join(f"{n} {k}" for k, n in sorted(self.notifies.items())))
        print("scheduled jobs during the run (runs / killed mid-run / raised):")
        for job, c in sorted(self.jobs.items()):
            print(f"  {job:22} {c['runs']:4} / {c['killed']:4} / {c['raised']:4}")
        print("client retries with the same key: " + ", ".join(f"{n}x {k}" for k, n in sorted(self.retried.items())))
        print("operations that met a fault, sent again after: "
              + ", ".join(f"{n} {k}" for k, n in sorted(self.replayed.items())))
        print(f"settled after the run in {self.settle_rounds} rounds of the jobs; invariants held:")
        for line in self.invariants:
            print(f"  {line}")


@dataclass
class Op:
    """A keyed operation that met a retryable answer: sent again once the faults stop."""

    kind: str
    member: Member
    method: str
    route: str
    path: str
    body: Any
    token: str
    key: str
    status: int
    data: Any


class Client:
    """One HTTP session; every call is timed under its route template and checked for 5xx."""

    def __init__(self, api: str, sandbox: str, report: Report, lock: threading.Lock, chaos: bool = False) -> None:
        self.api, self.sandbox, self.report, self._lock, self.chaos = api, sandbox, report, lock, chaos
        self.http = requests.Session()

    def call(self, method: str, route: str, path: str, body: Any = None, token: str | None = None,
             key: str | None = None, sandbox: bool = False) -> tuple[int, Any]:
        headers = {}
        if token:
            headers["authorization"] = f"Bearer {token}"
        if key:
            headers["idempotency-key"] = key
        started = time.perf_counter()
        response = self.http.request(method, (self.sandbox if sandbox else self.api) + path, json=body,
                                     headers=headers, timeout=60)
        elapsed = time.perf_counter() - started
        data = response.json() if response.content else None
        with self._lock:
            self.report.latencies[route].append(elapsed)
            error = data.get("error", {}).get("code") if isinstance(data, dict) and response.status_code >= 400 else None
            self.report.statuses[route][f"{response.status_code} {error}" if error else str(response.status_code)] += 1
            legitimate = self.chaos and (response.status_code, error) in RETRYABLE
            if response.status_code >= 500 and not legitimate:
                self.report.violations.append(f"{method} {path} -> {response.status_code} {str(data)[:200]}")
        return response.status_code, data

    def ok(self, method: str, route: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, data = self.call(method, route, path, body, **kw)
        for _ in range(CLIENT_ATTEMPTS - 1 if self.chaos else 0):  # a read the database did not answer: again
            if (status, _code(data)) not in RETRYABLE:
                break
            time.sleep(0.05)
            status, data = self.call(method, route, path, body, **kw)
        if status >= 300:
            raise RuntimeError(f"{method} {path} -> {status} {data}")
        return data


def _code(data: Any) -> str | None:
    return data.get("error", {}).get("code") if isinstance(data, dict) and "error" in data else None


def _identity(data: Any) -> dict[str, Any]:
    """What a repeated operation must answer again: the ids of what it made."""
    ids = ("order_id", "coupon_id", "card_id", "coupon_ids", "member_id")
    return {k: data[k] for k in ids if isinstance(data, dict) and k in data}


class Soak:
    def __init__(self, api: str, sandbox: str, members: int, seed: int, chaos: bool = False) -> None:
        self.report = Report()
        self._lock = threading.Lock()
        self._local = threading.local()
        self.api, self.sandbox = api, sandbox
        self.random = random.Random(seed)
        self.chaos = chaos
        self.met_faults: list[Op] = []
        setup = self.client()
        self.cashier = setup.ok("POST", "POST /v1/staff/login", "/v1/staff/login",
                                {"merchant_id": MERCHANT, "username": CASHIER[0], "password": CASHIER[1]})["token"]
        self.admin = setup.ok("POST", "POST /v1/staff/login", "/v1/staff/login",
                              {"merchant_id": MERCHANT, "username": ADMIN[0], "password": ADMIN[1]})["token"]
        self.plans = [p["plan_id"] for p in setup.ok("GET", "GET /v1/topup/plans", "/v1/topup/plans",
                                                     token=self._new_member(setup).token)["plans"]]
        with ThreadPoolExecutor(16) as pool:
            self.members = list(pool.map(lambda _: self._new_member(self.client()), range(members)))
        any_token = self.members[0].token
        self.rewards = [r["reward_id"] for r in
                        setup.ok("GET", "GET /v1/points/rewards", "/v1/points/rewards", token=any_token)["rewards"]]
        self.punch_plans = [p["plan_id"] for p in setup.ok("GET", "GET /v1/punch-cards/plans", "/v1/punch-cards/plans",
                                                           token=any_token)["plans"]]
        # sale id -> receipt; top-up order id -> member; limited coupons claimed (key -> coupon id)
        self.sales: dict[str, dict[str, Any]] = {}
        self.topups: dict[str, Member] = {}
        self.claimed: dict[str, str] = {}
        self.limited: dict[str, Any] = {}
        self.refunded_topups: set[str] = set()  # top-ups whose refund was asked for
        self.seen_pending: set[str] = set()  # top-ups the member's page saw unpaid after paying
        self.holders: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # template -> member -> n
        self.issue_job: dict[str, Any] = {}
        self.settled_at = datetime.now(UTC)

    def client(self) -> Client:
        if not hasattr(self._local, "client"):
            self._local.client = Client(self.api, self.sandbox, self.report, self._lock, self.chaos)
        return self._local.client

    def keyed(self, c: Client, kind: str, m: Member, method: str, route: str, path: str, body: Any = None,
              token: str | None = None, key: str | None = None) -> tuple[int, Any]:
        """A value-moving call; under chaos, retried with its key as the typed client does, and remembered
        if it met a fault, to be asked again once the faults stop."""
        key = key or uuid.uuid4().hex
        token = token or m.token
        status, data = c.call(method, route, path, body, token=token, key=key)
        met = False
        for _ in range(CLIENT_ATTEMPTS - 1 if self.chaos else 0):
            if (status, _code(data)) not in RETRYABLE:
                break
            met = True
            with self._lock:
                self.report.chaos.retried[f"{status} {_code(data)}"] += 1  # type: ignore[union-attr]
            time.sleep(0.05)
            status, data = c.call(method, route, path, body, token=token, key=key)
        if met or (status, _code(data)) in RETRYABLE:
            with self._lock:
                self.met_faults.append(Op(kind, m, method, route, path, body, token, key, status, data))
        return status, data

    def _new_member(self, c: Client) -> Member:
        openid = f"soak-{uuid.uuid4().hex[:16]}"
        session = c.ok("POST", "POST /v1/auth/login", "/v1/auth/login", {"appid": APPID, "code": f"test:{openid}"})
        token = session["token"]
        c.ok("POST", "POST /v1/me/phone", "/v1/me/phone",
             {"code": f"phone:139{uuid.uuid4().int % 10**8:08d}"}, token=token)
        c.ok("POST", "POST /v1/me/card", "/v1/me/card", {"agreed_terms_version": session["merchant"]["terms_version"]},
             token=token)
        return Member(token, session["member"]["member_id"], openid=openid)

    def create_limited_template(self, stock: int) -> None:
        body = {"name": "soak 满30减5", "kind": "FULL_REDUCTION", "threshold": 3000, "amount": 500,
                "total_stock": stock, "per_member_limit": PER_MEMBER_LIMIT, "days_after_claim": 30}
        self.limited = self.client().ok("POST", "POST /v1/admin/coupon-templates", "/v1/admin/coupon-templates",
                                        body, token=self.admin, key=uuid.uuid4().hex)

    # --- operations ------------------------------------------------------------------------

    def sign_in(self, c: Client, m: Member, rnd: random.Random) -> None:
        for _ in range(CLIENT_ATTEMPTS if self.chaos else 1):  # its key is the day: sent again as it is
            status, data = c.call("POST", "POST /v1/me/sign-in", "/v1/me/sign-in", token=m.token)
            if (status, _code(data)) not in RETRYABLE:
                return

    def top_up(self, c: Client, m: Member, rnd: random.Random) -> None:
        body = {"plan_id": rnd.choice(self.plans)} if rnd.random() < 0.7 else {"amount": rnd.randrange(100, 20000)}
        status, order = self.keyed(c, "top_up", m, "POST", "POST /v1/topup/orders", "/v1/topup/orders", body)
        if status != 200:
            return
        with self._lock:
            self.topups[order["order_id"]] = m
        pay: dict[str, Any] = {"times": 3, "concurrent": True}
        if self.chaos:  # WeChat Pay's notifies: on time and duplicated, late and out of order, or lost
            way = rnd.choices(["duplicated", "late", "lost"], [55, 25, 20])[0]
            pay = {"duplicated": pay, "late": {"times": 2, "after": 3.0}, "lost": {"notify": False}}[way]
            with self._lock:
                self.report.chaos.notifies[way] += 1  # type: ignore[union-attr]
        c.call("POST", "POST /_sandbox/pay/{no}", f"/_sandbox/pay/{order['order_id']}", pay, sandbox=True)
        if self.chaos:  # the member's page polls once: it may see PENDING, reconciliation credits it later
            status, seen = c.call("GET", "GET /v1/topup/orders/{id}", f"/v1/topup/orders/{order['order_id']}",
                                  token=m.token)
            if status == 200 and seen["status"] == "PENDING":
                with self._lock:
                    self.seen_pending.add(order["order_id"])

    def checkout(self, c: Client, m: Member, rnd: random.Random) -> None:
        code = c.ok("GET", "GET /v1/me/code", "/v1/me/code", token=m.token)["code"]
        amount = rnd.randrange(500, 15000)
        body: dict[str, Any] = {"member_code": code, "amount": amount}
        if rnd.random() < 0.5:
            body["stored_value"] = rnd.randrange(0, amount)
        if rnd.random() < 0.3:
            body["points"] = rnd.choice([100, 300, 1000])
        if rnd.random() < 0.5:
            usable = c.ok("GET", "GET /v1/me/coupons", "/v1/me/coupons?status=available", token=m.token)["coupons"]
            if usable:
                body["coupon_id"] = rnd.choice(usable)["coupon_id"]
        key = uuid.uuid4().hex

        def send(client: Client) -> tuple[int, Any]:
            return self.keyed(client, "checkout", m, "POST", "POST /v1/staff/checkout", "/v1/staff/checkout", body,
                              token=self.cashier, key=key)

        if rnd.random() < 0.15:  # the till retries at once: both answers must be the one sale
            retry = Client(self.api, self.sandbox, self.report, self._lock, self.chaos)
            with ThreadPoolExecutor(2) as pool:
                answers = list(pool.map(send, (c, retry)))
            retry.http.close()
        else:
            answers = [send(c)]
        sales = {a[1]["order_id"]: a[1] for a in answers if a[0] == 200}
        if len(sales) > 1:
            self.report.violations.append(f"one idempotency key, two sales: {sorted(sales)}")
        for receipt in sales.values():
            with self._lock:
                self.sales[receipt["order_id"]] = receipt

    def refund_sale(self, c: Client, m: Member, rnd: random.Random) -> None:
        with self._lock:
            if not self.sales:
                return
            order_id = rnd.choice(list(self.sales))
        self.keyed(c, "refund_sale", m, "POST", "POST /v1/staff/orders/{id}/refund",
                   f"/v1/staff/orders/{order_id}/refund", token=self.cashier)

    def refund_topup(self, c: Client, m: Member, rnd: random.Random) -> None:
        with self._lock:
            if not self.topups:
                return
            order_id = rnd.choice(list(self.topups))
            self.refunded_topups.add(order_id)
        status, _ = self.keyed(c, "refund_topup", m, "POST", "POST /v1/admin/topup/orders/{id}/refund",
                               f"/v1/admin/topup/orders/{order_id}/refund", token=self.admin)
        if status != 200:
            return
        settle: dict[str, Any] | None = {"status": "SUCCESS", "times": 2, "concurrent": True}
        if self.chaos:  # WeChat settles at once, or later with notifies out of order, or tells only a query
            settle = rnd.choices([settle, {"status": "SUCCESS", "times": 2, "after": 3.0}, None], [60, 20, 20])[0]
        held = c.ok("GET", "GET /_sandbox/pay/orders/{no}", f"/_sandbox/pay/orders/{order_id}", sandbox=True)
        for refund in held["refunds"]:
            if refund["status"] == "PROCESSING" and settle is not None:
                c.call("POST", "POST /_sandbox/refunds/{no}", f"/_sandbox/refunds/{refund['out_refund_no']}",
                       settle, sandbox=True)

    def claim(self, c: Client, m: Member, rnd: random.Random) -> None:
        key = uuid.uuid4().hex
        status, coupon = self.keyed(c, "claim", m, "POST", "POST /v1/coupons/offers/{id}/claim",
                                    f"/v1/coupons/offers/{self.limited['template_id']}/claim", key=key)
        if status == 200:
            with self._lock:
                self.claimed[key] = coupon["coupon_id"]

    def redeem_reward(self, c: Client, m: Member, rnd: random.Random) -> None:
        if self.rewards:
            self.keyed(c, "redeem_reward", m, "POST", "POST /v1/points/rewards/{id}/redeem",
                       f"/v1/points/rewards/{rnd.choice(self.rewards)}/redeem")

    def punch(self, c: Client, m: Member, rnd: random.Random) -> None:
        if m.cards and rnd.random() < 0.7:
            code = c.ok("GET", "GET /v1/me/code", "/v1/me/code", token=m.token)["code"]
            self.keyed(c, "punch_use", m, "POST", "POST /v1/staff/punch-cards/use", "/v1/staff/punch-cards/use",
                       {"member_code": code, "card_id": rnd.choice(m.cards)}, token=self.cashier)
        elif self.punch_plans:
            status, card = self.keyed(c, "punch_buy", m, "POST", "POST /v1/punch-cards/plans/{id}/buy",
                                      f"/v1/punch-cards/plans/{rnd.choice(self.punch_plans)}/buy")
            if status == 200:
                m.cards.append(card["card_id"])

    def read_card(self, c: Client, m: Member, rnd: random.Random) -> None:
        c.call("GET", "GET /v1/me", "/v1/me", token=m.token)

    MIX: tuple[tuple[str, int], ...] = (
        ("sign_in", 8), ("top_up", 14), ("checkout", 26), ("refund_sale", 5), ("refund_topup", 3), ("claim", 14),
        ("redeem_reward", 5), ("punch", 10), ("read_card", 15),
    )

    def run(self, operations: int, clients: int) -> None:
        names = [n for n, _ in self.MIX]
        weights = [w for _, w in self.MIX]
        counter = iter(range(operations))
        counter_lock = threading.Lock()

        def worker(index: int) -> None:
            rnd = random.Random(self.random.random() + index)
            c = self.client()
            while True:
                with counter_lock:
                    if next(counter, None) is None:
                        return
                op: Callable[[Client, Member, random.Random], None] = getattr(self, rnd.choices(names, weights)[0])
                try:
                    op(c, rnd.choice(self.members), rnd)
                except (RuntimeError, requests.RequestException) as exc:
                    with self._lock:
                        self.report.violations.append(f"{op.__name__}: {exc}"[:300])

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(worker, range(clients)))
        self.report.seconds = time.perf_counter() - started
        self.report.operations = operations

    # --- chaos ------------------------------------------------------------------------------------

    def start_chaos(self, seed: int) -> None:
        """DynamoDB's and WeChat's faults on, an issue job to every member, and the jobs running alongside."""
        from infra.local import faults

        self.report.chaos = ChaosReport()
        c = self.client()
        template = c.ok("POST", "POST /v1/admin/coupon-templates", "/v1/admin/coupon-templates",
                        {"name": "soak 回馈券", "kind": "FULL_REDUCTION", "threshold": 2000, "amount": 300,
                         "total_stock": len(self.members), "per_member_limit": 1, "days_after_claim": 30},
                        token=self.admin, key=uuid.uuid4().hex)
        everyone = [m.member_id for m in self.members]
        self.issue_job = c.ok("POST", "POST /v1/admin/issue-jobs", "/v1/admin/issue-jobs",
                              {"template_id": template["template_id"], "member_ids": everyone},
                              token=self.admin, key=uuid.uuid4().hex)
        self.dynamodb_faults = faults.install(CHAOS_DYNAMODB_RATE, seed=seed)
        c.ok("POST", "-", "/_sandbox/faults", {"rate": CHAOS_WECHAT_RATE, "late_seconds": 1.0, "seed": seed},
             sandbox=True)
        self._stop_jobs = threading.Event()
        self._jobs_thread = threading.Thread(target=self._run_jobs, args=(seed,), daemon=True)
        self._jobs_thread.start()

    def stop_chaos(self) -> None:
        assert self.report.chaos is not None
        self._stop_jobs.set()
        self._jobs_thread.join()
        self.dynamodb_faults.uninstall()
        c = self.client()
        self.report.chaos.wechat = c.ok("GET", "-", "/_sandbox/faults", sandbox=True)["counts"]
        c.ok("POST", "-", "/_sandbox/faults", {"rate": 0}, sandbox=True)
        self.report.chaos.dynamodb = dict(self.dynamodb_faults.counts)

    @staticmethod
    def _jobs() -> list[tuple[str, Callable[[datetime], Any]]]:
        """The scheduled jobs the soak's operations give work to, called as their functions call them."""
        from mini_program_api.coupons import issue_jobs
        from mini_program_api.members import lifecycle
        from mini_program_api.topup import reconciliation

        cycle = (lifecycle.remind_coupons, lifecycle.warn_points, lifecycle.expire_points, lifecycle.birthday_gifts,
                 lifecycle.wake_dormant, lifecycle.monthly_packs, lifecycle.review_tiers)
        return [("reconcile_topups", lambda now: reconciliation.reconcile(now=now)),
                ("issue_jobs_run", lambda now: issue_jobs.run(now=now, page_size=10)),
                *[(job.__name__, lambda now, job=job: job(now=now)) for job in cycle]]

    def _run_jobs(self, seed: int) -> None:
        """Jobs one after another while the operations run, every other one killed at a random DynamoDB call.
        They run a few minutes ahead, so reconciliation finds the orders the notifies may have missed."""
        from infra.local.faults import Killed
        from mini_program_api.platform import clock

        assert self.report.chaos is not None
        rnd = random.Random(seed)
        jobs = self._jobs()
        weights = [6, 3] + [1] * (len(jobs) - 2)
        runs = 0
        while not self._stop_jobs.wait(0.1):
            name, job = jobs[0] if not runs else rnd.choices(jobs, weights)[0]
            counts = self.report.chaos.jobs[name]
            counts["runs"] += 1
            runs += 1
            self.dynamodb_faults.kill_after(rnd.randint(1, 12) if runs % 2 else None)  # every other run killed
            try:
                job(clock.now() + RUN_AHEAD)
            except Killed:
                counts["killed"] += 1
            except Exception:  # noqa: BLE001 - a run that fails is run again, as a scheduled Lambda is
                counts["raised"] += 1
            finally:
                self.dynamodb_faults.kill_after(None)

    def replay(self) -> None:
        """Every operation that met a fault, sent once more with its key, faults off: one answered 200
        answers the same again; one that failed is either refused now or completed by this retry."""
        assert self.report.chaos is not None
        c = Client(self.api, self.sandbox, self.report, self._lock)
        for op in self.met_faults:
            status, data = c.call(op.method, op.route, op.path, op.body, token=op.token, key=op.key)
            if op.status == 200:
                outcome = "answered 200, the same again"
                if status != 200 or _identity(data) != _identity(op.data):
                    outcome = "answered 200, then another answer"
                    self.report.violations.append(f"{op.kind} {op.key}: answered {_identity(op.data)}, "
                                                  f"then {status} {str(data)[:200]}")
            elif status == 200:
                outcome = "failed, completed by its retry"
                self._record(op, data)
            else:
                outcome = f"failed, then {status} {_code(data)}"
            self.report.chaos.replayed[outcome] += 1

    def _record(self, op: Op, data: dict[str, Any]) -> None:
        if op.kind == "checkout":
            self.sales[data["order_id"]] = data
        elif op.kind == "top_up":
            self.topups[data["order_id"]] = op.member
        elif op.kind == "claim":
            self.claimed[op.key] = data["coupon_id"]
        elif op.kind == "punch_buy":
            op.member.cards.append(data["card_id"])
        elif op.kind == "refund_topup":
            self.refunded_topups.add(op.path.split("/")[-2])

    def settle(self) -> None:
        """After the run, as time passes in production: the notifies still on their way arrive, WeChat Pay
        settles every refund, and the jobs run (faults off), an hour apart, until no top-up is owed."""
        from mini_program_api.db.topups import TopupOrder
        from mini_program_api.jobs import due
        from mini_program_api.platform import clock
        from mini_program_api.topup import orders

        assert self.report.chaos is not None
        c = Client(self.api, self.sandbox, Report(), threading.Lock())
        waited = time.monotonic() + 60
        while c.ok("GET", "-", "/_sandbox/pay/deliveries", sandbox=True)["pending"] and time.monotonic() < waited:
            time.sleep(0.2)
        start = clock.now()
        for round_ in range(1, SETTLE_ROUNDS + 1):
            self.report.chaos.settle_rounds = round_
            for order_id in sorted(self.refunded_topups):
                held = c.ok("GET", "-", f"/_sandbox/pay/orders/{order_id}", sandbox=True)
                for refund in held["refunds"]:
                    if refund["status"] == "PROCESSING":
                        c.ok("POST", "-", f"/_sandbox/refunds/{refund['out_refund_no']}", {"status": "SUCCESS"},
                             sandbox=True)
            self.settled_at = start + timedelta(days=1, hours=round_)
            for _, job in self._jobs():
                job(self.settled_at)
            if not list(due.owed(TopupOrder, orders.JOB, self.settled_at + timedelta(days=2), 1)):
                return

    def check_chaos(self) -> None:
        """The invariants faults could break and concurrency alone could not (see the module docstring)."""
        assert self.report.chaos is not None
        c = Client(self.api, self.sandbox, Report(), threading.Lock())
        v, held = self.report.violations, self.report.chaos.invariants
        before = len(v)
        listed_sales, listed_topups, open_orders = 0, 0, []
        for m in self.members:
            for sale in _paged(c, "/v1/me/orders", m.token, "orders"):
                listed_sales += 1
                if sale["order_id"] not in self.sales:
                    v.append(f"{m.member_id}: sale {sale['order_id']} that no client was answered")
            for topup in _paged(c, "/v1/me/topups", m.token, "topups"):
                listed_topups += 1
                if topup["order_id"] not in self.topups:
                    v.append(f"{m.member_id}: top-up order {topup['order_id']} that no client was answered")
                if topup["status"] in ("PENDING", "REFUNDING"):
                    open_orders.append(f"{m.member_id}: top-up order {topup['order_id']} still {topup['status']}")
        held.append(_held(v, before, f"every sale and top-up order listed is one a client was answered "
                                     f"({listed_sales} sales, {listed_topups} top-up orders)"))
        before = len(v)
        v.extend(open_orders)
        credited = 0
        for order_id in sorted(o for o in self.seen_pending if o in self.topups):
            order = c.ok("GET", "-", f"/v1/topup/orders/{order_id}", token=self.topups[order_id].token)
            held_at_wechat = c.ok("GET", "-", f"/_sandbox/pay/orders/{order_id}", sandbox=True)
            if held_at_wechat["trade_state"] in ("SUCCESS", "REFUND"):
                if order["status"] == "PENDING":
                    v.append(f"top-up {order_id} paid at WeChat Pay, seen PENDING, still PENDING after the jobs")
                credited += order["status"] != "PENDING"
        held.append(_held(v, before, f"no top-up PENDING or REFUNDING after the jobs; {credited} the member saw "
                                     f"PENDING were credited later (by a late notify or reconciliation)"))
        before = len(v)
        job = c.ok("GET", "-", f"/v1/admin/issue-jobs/{self.issue_job['job_id']}", token=self.admin)
        holders = self.holders.get(self.issue_job["template_id"], {})
        if job["status"] != "DONE" or job["issued"] != sum(holders.values()) or any(n > 1 for n in holders.values()):
            v.append(f"issue job {job}: members hold {sum(holders.values())}, "
                     f"{sum(n > 1 for n in holders.values())} hold more than one")
        failed = [r for r in _paged(c, f"/v1/admin/issue-jobs/{self.issue_job['job_id']}/results", self.admin,
                                    "results") if r["status"] == "FAILED"]
        for r in failed:
            # The job's stock is one per member and every member has a card: a member recorded FAILED lost a
            # coupon to a fault (a database that did not answer defers the job instead: coupons/issue_jobs.py).
            v.append(f"issue job recorded member {r['member_id']} FAILED: {r.get('error')}")
        held.append(_held(v, before, f"the issue job killed mid-run is DONE, its {job['issued']} coupons held once "
                                     f"each ({job['failed']} members it could not give one)"))
        before = len(v)
        stuck, holds = _stuck(self.settled_at)
        for line in stuck + holds:
            v.append(line)
        held.append(_held(v, before, "no job's item still due or failing, no prepaid-cap hold without an unpaid order"))

    def journey(self) -> float:
        """One new member's first minutes: login, phone, card, sign-in, card view, ledger, a paid top-up."""
        c = Client(self.api, self.sandbox, Report(), threading.Lock())  # not counted in the soak's figures
        started = time.perf_counter()
        m = self._new_member(c)
        c.ok("POST", "-", "/v1/me/sign-in", token=m.token)
        c.ok("GET", "-", "/v1/me", token=m.token)
        c.ok("GET", "-", "/v1/me/ledger?account=points", token=m.token)
        order = c.ok("POST", "-", "/v1/topup/orders", {"plan_id": self.plans[0]}, token=m.token, key=uuid.uuid4().hex)
        c.ok("POST", "-", f"/_sandbox/pay/{order['order_id']}", sandbox=True)
        return time.perf_counter() - started

    def journeys(self, n: int = 5) -> float:
        return statistics.median(self.journey() for _ in range(n))

    # --- checks ---------------------------------------------------------------------------------

    def check(self) -> None:
        c = Client(self.api, self.sandbox, Report(), threading.Lock())
        v = self.report.violations
        entries_by_order: dict[str, list[dict[str, Any]]] = defaultdict(list)
        held_limited: dict[str, int] = defaultdict(int)
        for m in self.members:
            me = c.ok("GET", "-", "/v1/me", token=m.token)
            for account in ("points", "principal", "bonus", "growth"):
                if me[account] < 0:
                    v.append(f"{m.member_id}: {account} is negative ({me[account]})")
            sums: dict[str, int] = defaultdict(int)
            for group in ("points", "balance", "growth"):
                for entry in _paged(c, f"/v1/me/ledger?account={group}&limit=100", m.token, "entries"):
                    sums[entry["account"]] += entry["amount"]
                    if "order_id" in entry["memo"]:
                        entries_by_order[entry["memo"]["order_id"]].append(entry)
            for account in ("points", "principal", "bonus", "growth"):
                if sums[account] != me[account]:
                    v.append(f"{m.member_id}: {account} {me[account]} != sum of its ledger {sums[account]}")
            for status in ("available", "used", "expired"):
                for coupon in _paged(c, f"/v1/me/coupons?status={status}", m.token, "coupons"):
                    self.holders[coupon["template_id"]][m.member_id] += 1
                    if coupon["template_id"] == self.limited["template_id"]:
                        held_limited[m.member_id] += 1
        self._check_topups(c, entries_by_order)
        self._check_sales(c, entries_by_order)
        claimed = sum(held_limited.values())
        if claimed > int(self.limited["total_stock"]) or claimed != len(set(self.claimed.values())):
            v.append(f"limited coupons: {claimed} held, {len(set(self.claimed.values()))} claims answered 200, "
                     f"stock {self.limited['total_stock']}")
        over = {k: n for k, n in held_limited.items() if n > PER_MEMBER_LIMIT}
        if over:
            v.append(f"per-member claim limit exceeded: {over}")

    def _check_topups(self, c: Client, entries_by_order: dict[str, list[dict[str, Any]]]) -> None:
        for order_id, m in self.topups.items():
            held = c.ok("GET", "-", f"/_sandbox/pay/orders/{order_id}", sandbox=True)
            order = c.ok("GET", "-", f"/v1/topup/orders/{order_id}", token=m.token)
            credits = [e for e in entries_by_order[order_id] if e["kind"] == "TOPUP" and e["account"] == "principal"]
            paid = held["trade_state"] in {"SUCCESS", "REFUND"}
            if paid and (len(credits) != 1 or credits[0]["amount"] != held["total"]):
                self.report.violations.append(f"top-up {order_id} paid {held['total']} at WeChat, credited {credits}")
            if not paid and (credits or order["status"] not in {"PENDING", "CLOSED"}):
                self.report.violations.append(f"top-up {order_id} unpaid at WeChat but {order['status']}, {credits}")

    def _check_sales(self, c: Client, entries_by_order: dict[str, list[dict[str, Any]]]) -> None:
        for order_id, first in self.sales.items():
            receipt = c.ok("GET", "-", f"/v1/staff/orders/{order_id}", token=self.cashier)
            if any(receipt[k] != first[k] for k in ("member_id", "amount", "cash_due", "bonus_used", "principal_used")):
                self.report.violations.append(f"sale {order_id}: receipt changed from {first} to {receipt}")
            sale = defaultdict(int)
            back = defaultdict(int)
            for e in entries_by_order[order_id]:
                (back if e["kind"] == "CHECKOUT_REFUND" else sale)[e["account"]] += e["amount"]
            expected = {"principal": -receipt["principal_used"], "bonus": -receipt["bonus_used"],
                        "points": receipt["points_earned"] - receipt["points_used"], "growth": receipt["growth_earned"]}
            if {k: sale[k] for k in expected} != expected:
                self.report.violations.append(f"sale {order_id}: receipt {expected} but ledger {dict(sale)}")
            paid = receipt["amount"] - receipt["tier_discount"] - receipt["coupon_discount"] - receipt["points_value"]
            if paid != receipt["stored_value_used"] + receipt["cash_due"]:
                self.report.violations.append(f"sale {order_id}: does not add up: {receipt}")
            if receipt["status"] == "REFUNDED":
                expected_back = {"points": receipt["points_used"] - receipt["points_clawed_back"],
                                 "growth": -receipt["growth_clawed_back"]}
                if {k: back[k] for k in expected_back} != expected_back or \
                        not 0 <= back["principal"] + back["bonus"] <= receipt["stored_value_used"]:
                    self.report.violations.append(f"refund of {order_id}: receipt {receipt} but ledger {dict(back)}")
            elif back:
                self.report.violations.append(f"sale {order_id} not refunded, but refund entries {dict(back)}")


def _held(violations: list[str], before: int, what: str) -> str:
    found = len(violations) - before
    return f"{'held' if not found else f'BROKEN ({found})'}: {what}"


def _stuck(now: datetime) -> tuple[list[str], list[str]]:
    """Items still owed to a job the soak ran (due by `now`, or failing and deferred), and members whose
    prepaid-cap hold (`pending_topup`) outlived their unpaid orders: read from the table itself."""
    import boto3

    from mini_program_api.jobs import due
    from mini_program_api.platform.config import settings

    client = boto3.client("dynamodb", endpoint_url=settings().dynamodb_endpoint)
    pages = client.get_paginator("scan").paginate(
        TableName=settings().table_name, ConsistentRead=True,
        FilterExpression="attribute_exists(due_sk) OR pending_topup > :zero",
        ExpressionAttributeValues={":zero": {"N": "0"}},
        ProjectionExpression="pk, sk, due_pk, due_sk, due_error, pending_topup")
    stuck, holds = [], []
    for page in pages:
        for item in page["Items"]:
            if "due_sk" in item and (item["due_sk"]["S"] <= due.stamp(now) or "due_error" in item):
                job = item["due_pk"]["S"].split("#")[1]
                if job in JOBS_RUN:
                    stuck.append(f"{item['pk']['S']} {item['sk']['S']}: still owed to {job} "
                                 f"({item.get('due_error', {}).get('S', 'due')})")
            if int(item.get("pending_topup", {}).get("N", "0")) > 0:  # no order is unpaid any more
                holds.append(f"{item['pk']['S']}: a prepaid-cap hold of {item['pending_topup']['N']} left")
    return stuck, holds


def _paged(c: Client, path: str, token: str, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        joiner = "&" if "?" in path else "?"
        page = c.ok("GET", "-", path + (f"{joiner}cursor={cursor}" if cursor else ""), token=token)
        items.extend(page[key])
        cursor = page.get("cursor") or page.get("next_cursor")
        if not cursor:
            return items


def soak(api: str, sandbox: str, operations: int, clients: int, members: int, seed: int = 7,
         chaos: bool = False, journeys: int = 5) -> Report:
    """The soak; `chaos` needs the stack in this process (faults are hooked into its DynamoDB client)."""
    run = Soak(api, sandbox, members, seed, chaos)
    run.create_limited_template(max(5, operations * LIMITED_STOCK_PER_100_OPS // 100))
    run.report.journey_before = run.journeys(journeys)
    if chaos:
        run.start_chaos(seed)
        try:
            run.run(operations, clients)
        finally:
            run.stop_chaos()
    else:
        run.run(operations, clients)
    run.report.journey_after = run.journeys(journeys)
    if chaos:
        run.replay()
        run.settle()
    run.check()
    if chaos:
        run.check_chaos()
    return run.report


def main(argv: list[str] | None = None) -> int:
    quiet_app()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--api", help="a running `make dev` API (default: start a local stack here)")
    parser.add_argument("--sandbox", help="its WeChat sandbox")
    parser.add_argument("--chaos", action="store_true", help="with faults (own stack only; make soak CHAOS=1)")
    args = parser.parse_args(argv)
    if args.chaos and args.api:
        parser.error("--chaos hooks faults into the stack's DynamoDB client: it needs its own stack, not --api")
    if args.chaos:
        from infra.local import faults

        os.environ[faults.ENV] = str(CHAOS_DYNAMODB_RATE)
    if args.api:
        api, sandbox = args.api.rstrip("/"), args.sandbox.rstrip("/")
    else:
        from infra.local import stack as local_stack
        from infra.local.seed import seed

        stack = local_stack.start(stage="local", table="kabao-soak")
        seed(stack.sandbox_server.url)
        api, sandbox = stack.api_url, stack.sandbox_server.url
    report = soak(api, sandbox, args.ops, args.clients, args.members, chaos=args.chaos)
    report.print()
    return 1 if report.violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
