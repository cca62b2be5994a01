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
"""
from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from bench import quiet_app

MERCHANT = "demo"
APPID = "wxdemo0000000001"
CASHIER = ("cashier", "LOCAL-DEV-ONLY-cashier")
ADMIN = ("admin", "LOCAL-DEV-ONLY-admin")
LIMITED_STOCK_PER_100_OPS = 3
PER_MEMBER_LIMIT = 2


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

    def print(self) -> None:
        print(f"{self.operations} operations in {self.seconds:.1f} s: {self.operations / self.seconds:.1f} operations/s")
        self.print_routes()
        print(f"member journey (8 calls): {self.journey_before * 1000:.0f} ms before, "
              f"{self.journey_after * 1000:.0f} ms after ({self.journey_after / self.journey_before:.2f}x)")
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


class Client:
    """One HTTP session; every call is timed under its route template and checked for 5xx."""

    def __init__(self, api: str, sandbox: str, report: Report, lock: threading.Lock) -> None:
        self.api, self.sandbox, self.report, self._lock = api, sandbox, report, lock
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
            if response.status_code >= 500:
                self.report.violations.append(f"{method} {path} -> {response.status_code} {str(data)[:200]}")
        return response.status_code, data

    def ok(self, method: str, route: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, data = self.call(method, route, path, body, **kw)
        if status >= 300:
            raise RuntimeError(f"{method} {path} -> {status} {data}")
        return data


class Soak:
    def __init__(self, api: str, sandbox: str, members: int, seed: int) -> None:
        self.report = Report()
        self._lock = threading.Lock()
        self._local = threading.local()
        self.api, self.sandbox = api, sandbox
        self.random = random.Random(seed)
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

    def client(self) -> Client:
        if not hasattr(self._local, "client"):
            self._local.client = Client(self.api, self.sandbox, self.report, self._lock)
        return self._local.client

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
        c.call("POST", "POST /v1/me/sign-in", "/v1/me/sign-in", token=m.token)

    def top_up(self, c: Client, m: Member, rnd: random.Random) -> None:
        body = {"plan_id": rnd.choice(self.plans)} if rnd.random() < 0.7 else {"amount": rnd.randrange(100, 20000)}
        status, order = c.call("POST", "POST /v1/topup/orders", "/v1/topup/orders", body, token=m.token,
                               key=uuid.uuid4().hex)
        if status != 200:
            return
        with self._lock:
            self.topups[order["order_id"]] = m
        c.call("POST", "POST /_sandbox/pay/{no}", f"/_sandbox/pay/{order['order_id']}",
               {"times": 3, "concurrent": True}, sandbox=True)

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
        if rnd.random() < 0.15:  # the till retries at once: both answers must be the one sale
            retry = Client(self.api, self.sandbox, self.report, self._lock)
            with ThreadPoolExecutor(2) as pool:
                answers = list(pool.map(lambda client: client.call(
                    "POST", "POST /v1/staff/checkout", "/v1/staff/checkout", body, token=self.cashier, key=key),
                    (c, retry)))
            retry.http.close()
        else:
            answers = [c.call("POST", "POST /v1/staff/checkout", "/v1/staff/checkout", body, token=self.cashier, key=key)]
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
        c.call("POST", "POST /v1/staff/orders/{id}/refund", f"/v1/staff/orders/{order_id}/refund",
               token=self.cashier, key=uuid.uuid4().hex)

    def refund_topup(self, c: Client, m: Member, rnd: random.Random) -> None:
        with self._lock:
            if not self.topups:
                return
            order_id = rnd.choice(list(self.topups))
        status, _ = c.call("POST", "POST /v1/admin/topup/orders/{id}/refund", f"/v1/admin/topup/orders/{order_id}/refund",
                           token=self.admin, key=uuid.uuid4().hex)
        if status != 200:
            return
        held = c.ok("GET", "GET /_sandbox/pay/orders/{no}", f"/_sandbox/pay/orders/{order_id}", sandbox=True)
        for refund in held["refunds"]:
            if refund["status"] == "PROCESSING":
                c.call("POST", "POST /_sandbox/refunds/{no}", f"/_sandbox/refunds/{refund['out_refund_no']}",
                       {"status": "SUCCESS", "times": 2, "concurrent": True}, sandbox=True)

    def claim(self, c: Client, m: Member, rnd: random.Random) -> None:
        key = uuid.uuid4().hex
        status, coupon = c.call("POST", "POST /v1/coupons/offers/{id}/claim",
                                f"/v1/coupons/offers/{self.limited['template_id']}/claim", token=m.token, key=key)
        if status == 200:
            with self._lock:
                self.claimed[key] = coupon["coupon_id"]

    def redeem_reward(self, c: Client, m: Member, rnd: random.Random) -> None:
        if self.rewards:
            c.call("POST", "POST /v1/points/rewards/{id}/redeem", f"/v1/points/rewards/{rnd.choice(self.rewards)}/redeem",
                   token=m.token, key=uuid.uuid4().hex)

    def punch(self, c: Client, m: Member, rnd: random.Random) -> None:
        if m.cards and rnd.random() < 0.7:
            code = c.ok("GET", "GET /v1/me/code", "/v1/me/code", token=m.token)["code"]
            c.call("POST", "POST /v1/staff/punch-cards/use", "/v1/staff/punch-cards/use",
                   {"member_code": code, "card_id": rnd.choice(m.cards)}, token=self.cashier, key=uuid.uuid4().hex)
        elif self.punch_plans:
            status, card = c.call("POST", "POST /v1/punch-cards/plans/{id}/buy",
                                  f"/v1/punch-cards/plans/{rnd.choice(self.punch_plans)}/buy",
                                  token=m.token, key=uuid.uuid4().hex)
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


def soak(api: str, sandbox: str, operations: int, clients: int, members: int, seed: int = 7) -> Report:
    run = Soak(api, sandbox, members, seed)
    run.create_limited_template(max(5, operations * LIMITED_STOCK_PER_100_OPS // 100))
    run.report.journey_before = run.journeys()
    run.run(operations, clients)
    run.report.journey_after = run.journeys()
    run.check()
    return run.report


def main(argv: list[str] | None = None) -> int:
    quiet_app()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--api", help="a running `make dev` API (default: start a local stack here)")
    parser.add_argument("--sandbox", help="its WeChat sandbox")
    args = parser.parse_args(argv)
    if args.api:
        api, sandbox = args.api.rstrip("/"), args.sandbox.rstrip("/")
    else:
        from infra.local import stack as local_stack
        from infra.local.seed import seed

        stack = local_stack.start(stage="local", table="kabao-soak")
        seed(stack.sandbox_server.url)
        api, sandbox = stack.api_url, stack.sandbox_server.url
    report = soak(api, sandbox, args.ops, args.clients, args.members)
    report.print()
    return 1 if report.violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
