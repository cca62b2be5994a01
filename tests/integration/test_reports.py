"""Reports equal their recomputation from the ledger and the orders, after randomized concurrent traffic.

The workload goes through the real endpoints (concurrent sales and refunds over loopback HTTP, notifies
delivered twice, retries with one key), over two merchant days; every recomputation below reads only
ledger entries, orders and coupons, never the counters.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from mini_program_api.db.coupons import Coupon
from mini_program_api.db.ledger import LedgerEntry
from mini_program_api.db.models import Member, member_pk
from mini_program_api.db.orders import CheckoutOrder, checkout_pk
from mini_program_api.merchants import configuration
from mini_program_api.money import ledger
from mini_program_api.platform import clock as product_clock
from mini_program_api.reports import liability, read
from tests import timeline
from tests.ledger_checks import checked_balances

TZ = "Asia/Shanghai"
TIERS = [configuration.TierSpec("normal", "普通", 0), configuration.TierSpec("silver", "银卡", 300, 95, 150)]


def _http(
    api_url: str, method: str, path: str, body: Any = None, token: str | None = None, key: str | None = None
) -> tuple[int, Any]:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if key:
        headers["idempotency-key"] = key
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(api_url + path, data=data, method=method, headers=headers)
    for _ in range(20):
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
        except (ConnectionError, urllib.error.URLError):
            threading.Event().wait(0.05)
    raise AssertionError("the server never took the request")


def _local_day(at: datetime) -> str:
    return product_clock.local_date(TZ, at).isoformat()


class Shop:
    """The test's own record of what it did: who exists, which orders were made, who saw which offers."""

    def __init__(self, api: Any, api_url: str, merchant: Any, sandbox: Any) -> None:
        self.api, self.url, self.merchant, self.sandbox = api, api_url, merchant, sandbox
        self.log_staff_in()
        self.members: list[dict[str, Any]] = []
        self.orders: set[str] = set()
        self.listings: list[tuple[str, str, list[str]]] = []  # (day, member id, templates shown)
        self.templates: list[str] = []

    def log_staff_in(self) -> None:
        """Sessions for the admin and a cashier at each store, valid for two hours from the clock's now."""
        self.admin = self.api.admin_token(self.merchant)
        self.staff = {"s1": self.api.staff_token(self.merchant, "s1"), "s2": self.api.staff_token(self.merchant, "s2")}

    def template(self, **over: Any) -> str:
        body = {
            "name": "满20减5",
            "kind": "FULL_REDUCTION",
            "threshold": 2000,
            "amount": 500,
            "total_stock": 50,
            "per_member_limit": 3,
            "days_after_claim": 30,
            **over,
        }
        status, made = self.api.post("/v1/admin/coupon-templates", body, token=self.admin)
        assert status == 201, made
        self.templates.append(made["template_id"])
        return str(made["template_id"])

    def member(self, scene: str | None) -> dict[str, Any]:
        openid = f"o-{uuid.uuid4().hex[:16]}"
        status, session = self.api.post(
            "/v1/auth/login",
            {"appid": self.merchant.appid, "scene": scene, "code": f"test:{openid}:{uuid.uuid4().hex[:8]}"}
            if scene
            else {"appid": self.merchant.appid, "code": f"test:{openid}:{uuid.uuid4().hex[:8]}"},
        )
        assert status == 200, session
        token = session["token"]
        status, body = self.api.post(
            "/v1/me/phone", {"code": f"phone:139{uuid.uuid4().int % 10**8:08d}:x"}, token=token
        )
        assert status == 200, body
        status, body = self.api.post("/v1/me/card", {"agreed_terms_version": self.merchant.terms_version}, token=token)
        assert status == 200, body
        member = {"id": session["member"]["member_id"], "token": token}
        self.members.append(member)
        return member

    def fresh(self, member: dict[str, Any]) -> str:
        member["token"] = self.api.token(self.merchant, member["id"])
        return str(member["token"])

    def topup(self, member: dict[str, Any], plan: str) -> str:
        status, order = self.api.post(
            "/v1/topup/orders",
            {"plan_id": plan},
            token=self.fresh(member),
            headers={"idempotency-key": uuid.uuid4().hex},
        )
        assert status == 200, order
        delivered = json.loads(self.sandbox.pay.pay(order["order_id"], times=2).get_data())["deliveries"]
        assert delivered == [204, 204]
        return str(order["order_id"])

    def offers(self, member: dict[str, Any]) -> list[str]:
        status, body = self.api.get("/v1/coupons/offers", token=self.fresh(member))
        assert status == 200, body
        shown = [o["template_id"] for o in body["offers"]]
        self.listings.append((_local_day(product_clock.now()), member["id"], shown))
        return shown

    def claim(self, member: dict[str, Any], template_id: str) -> str | None:
        key = uuid.uuid4().hex
        outcomes = [
            self.api.post(
                f"/v1/coupons/offers/{template_id}/claim", token=self.fresh(member), headers={"idempotency-key": key}
            )
            for _ in range(2)
        ]  # a retry
        status, body = outcomes[0]
        assert outcomes[1] == outcomes[0]
        return str(body["coupon_id"]) if status == 200 else None

    def sale_body(self, member: dict[str, Any], rng: random.Random, coupon_id: str | None) -> dict[str, Any]:
        fresh = Member.get(member_pk(self.merchant.merchant_id, member["id"]), "PROFILE", consistent_read=True)
        amount = rng.randrange(2500, 60000)
        stored = min(int(fresh.principal) + int(fresh.bonus), rng.choice([0, 1000, 20000, 20000]), amount // 2)
        points = min(int(fresh.points), rng.choice([0, 100])) // 100 * 100
        body = {
            "member_code": self.api.member_code(self.fresh(member)),
            "amount": amount,
            "stored_value": stored,
            "points": points,
        }
        if coupon_id:
            body["coupon_id"] = coupon_id
        return body


def _ledger_recount(shop: Shop) -> dict[tuple[str, str], dict[str, int]]:
    """LEDGER counter rows recomputed from every member's ledger entries."""
    rows: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    ops: set[tuple[str, str, str, str]] = set()
    for member in shop.members:
        for entry in LedgerEntry.query(
            member_pk(shop.merchant.merchant_id, member["id"]), LedgerEntry.sk.startswith("TXN#"), consistent_read=True
        ):
            day, amount = _local_day(entry.created_at), int(entry.amount)
            rows[(day, "LEDGER")][f"{'p' if amount > 0 else 'n'}_{entry.account}_{entry.kind}"] += abs(amount)
            ops.add((day, member["id"], entry.op_key, entry.kind))
    for day, _, _, kind in ops:
        rows[(day, "LEDGER")][f"ops_{kind}"] += 1
    return rows


def _sales_recount(shop: Shop) -> dict[tuple[str, str, str], dict[str, int]]:
    rows: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for order_id in shop.orders:
        o = CheckoutOrder.get(checkout_pk(shop.merchant.merchant_id, order_id), "ORDER", consistent_read=True)
        sold = rows[(_local_day(o.created_at), str(o.store_id), str(o.staff_id))]
        for name, value in (
            ("orders", 1),
            ("gross", o.amount),
            ("tier_discount", o.tier_discount),
            ("coupon_discount", o.coupon_discount),
            ("points_value", o.points_value),
            ("bonus_used", o.bonus_used),
            ("principal_used", o.principal_used),
            ("cash", o.cash_due),
        ):
            sold[name] += int(value)
        if o.status == "REFUNDED":
            back = rows[(_local_day(o.refunded_at), str(o.store_id), str(o.staff_id))]
            for name, value in (
                ("refunds", 1),
                ("refund_gross", o.amount),
                ("refund_cash", o.cash_due),
                ("refund_bonus", o.bonus_used),
                ("refund_principal", o.principal_used),
            ):
                back[name] += int(value)
    return rows


def _funnel_recount(shop: Shop) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"views": 0, "people": set(), "claims": 0, "claimers": set(), "redemptions": 0, "discount": 0}
    )
    for day, member_id, shown in shop.listings:
        for tid in shown:
            out[(day, tid)]["views"] += 1
            out[(day, tid)]["people"].add(member_id)
    template_of: dict[str, str] = {}
    for member in shop.members:
        for coupon in Coupon.query(
            member_pk(shop.merchant.merchant_id, member["id"]), Coupon.sk.startswith("COUPON#"), consistent_read=True
        ):
            template_of[str(coupon.coupon_id)] = str(coupon.template_id)
            row = out[(_local_day(coupon.claimed_at), str(coupon.template_id))]
            row["claims"] += 1
            row["claimers"].add(member["id"])
    for order_id in shop.orders:
        o = CheckoutOrder.get(checkout_pk(shop.merchant.merchant_id, order_id), "ORDER", consistent_read=True)
        if o.coupon_id:
            row = out[(_local_day(o.created_at), template_of[str(o.coupon_id)])]
            row["redemptions"] += 1
            row["discount"] += int(o.coupon_discount)
            if o.coupon_restored:
                back = out[(_local_day(o.refunded_at), template_of[str(o.coupon_id)])]
                back["redemptions"] -= 1
                back["discount"] -= int(o.coupon_discount)
    return out


def _report(shop: Shop, name: str, start: str, end: str, **extra: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in {"from": start, "to": end, **extra}.items())
    status, body = shop.api.get(f"/v1/admin/reports/{name}?{query}", token=shop.admin)
    assert status == 200, body
    assert (body["from"], body["to"]) == (start, end)
    return list(body["rows"])


def _workload(shop: Shop, rng: random.Random, first: bool) -> None:
    """One merchant day of traffic; concurrency where it matters: sales, refunds, claims."""
    shop.log_staff_in()
    if first:
        for scene in ("1047", "1047", None, "1011", None, "1011"):
            shop.member(scene)
    for member in shop.members:
        shop.api.post("/v1/me/sign-in", token=shop.fresh(member))
        shop.api.post("/v1/me/sign-in", token=shop.fresh(member))  # once a day, whatever the taps
    for member in rng.sample(shop.members, 3):
        shop.topup(member, rng.choice(["p300", "p500"]))
    coupons: dict[str, str] = {}
    for member in shop.members:
        shown = shop.offers(member)
        if rng.random() < 0.5:
            shop.offers(member)
        if shown and rng.random() < 0.8:
            coupon_id = shop.claim(member, rng.choice(shown))
            if coupon_id:
                coupons[member["id"]] = coupon_id
    bodies = []
    for member in shop.members:
        store = rng.choice(["s1", "s2"])
        coupon = coupons.pop(member["id"], None) if rng.random() < 0.7 else None
        key = uuid.uuid4().hex
        bodies.append((store, shop.sale_body(member, rng, coupon), key))
        if rng.random() < 0.3:
            bodies.append((store, bodies[-1][1], key))  # the till retries the same sale at once
    twice = rng.choice(shop.members)  # two different sales of one member at once: each counts, in order
    bodies.append(("s1", {**shop.sale_body(twice, rng, None), "stored_value": 0, "points": 0}, uuid.uuid4().hex))
    with ThreadPoolExecutor(6) as pool:
        sold = list(
            pool.map(lambda b: _http(shop.url, "POST", "/v1/staff/checkout", b[1], shop.staff[b[0]], b[2]), bodies)
        )
    for status, receipt in sold:
        assert status in (200, 409), receipt  # 409: the twin of a retried sale was still running
        if status == 200:
            shop.orders.add(receipt["order_id"])
    if not first:  # a top-up refunded (its value leaves at once; WeChat confirms later)
        order_id = shop.topup(shop.members[0], "p300")
        status, body = shop.api.post(f"/v1/admin/topup/orders/{order_id}/refund", token=shop.admin)
        assert status == 200, body
    refunds = rng.sample(sorted(shop.orders), min(3, len(shop.orders)))
    with ThreadPoolExecutor(4) as pool:  # each refund twice at once: one refund
        done = list(
            pool.map(
                lambda o: _http(shop.url, "POST", f"/v1/staff/orders/{o}/refund", None, shop.admin), refunds + refunds
            )
        )
    assert all(status in (200, 409) for status, _ in done), done


@pytest.fixture
def shop(api: Any, api_url: str, merchant: Any, sandbox: Any) -> Shop:
    configuration.set_tiers(merchant.merchant_id, TIERS)
    made = Shop(api, api_url, merchant, sandbox)
    made.template()
    made.template(name="九折", kind="DISCOUNT", rate=90, threshold=0, amount=0, max_discount=1000)
    return made


class _SandboxTime:
    """The sandbox signs notifies with its wall clock; the backend checks them against the test's clock."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def time() -> float:
        return product_clock.now().timestamp()


def test_every_report_equals_its_recomputation_after_concurrent_traffic(
    shop: Shop, clock: Any, monkeypatch: Any
) -> None:
    from infra.local import wechatpay_sandbox

    monkeypatch.setattr(wechatpay_sandbox, "time", _SandboxTime())
    rng = random.Random(14)
    clock.set(timeline.local(clock.today + timedelta(days=1), 11))  # the workload ends before midnight
    _workload(shop, rng, first=True)
    day1 = _local_day(product_clock.now())
    clock.advance(days=1)
    _workload(shop, rng, first=False)
    day2 = _local_day(product_clock.now())
    mid = shop.merchant.merchant_id

    # The counters' raw rows equal the ledger's and orders' recomputation, measure by measure.
    counted = read.rows(mid, day1, day2)
    assert {k: dict(v) for k, v in counted.items() if k[1] == "LEDGER"} == {
        k: dict(v) for k, v in _ledger_recount(shop).items()
    }

    sales = {
        (r["day"], r["store_id"], r["staff_id"]): {k: v for k, v in r.items() if isinstance(v, int) and v}
        for r in _report(shop, "sales", day1, day2)
    }
    assert sales == {k: {n: v for n, v in m.items() if v} for k, m in _sales_recount(shop).items()}
    assert {r["store_id"] for r in _report(shop, "sales", day1, day2, store_id="s2")} <= {"s2"}

    funnel = {(r["day"], r["template_id"]): r for r in _report(shop, "funnel", day1, day2)}
    expected = _funnel_recount(shop)
    assert set(funnel) == set(expected)
    for key, want in expected.items():
        got = funnel[key]
        assert (got["views"], got["people"], got["claims"], got["claimers"], got["redemptions"], got["discount"]) == (
            want["views"],
            len(want["people"]),
            want["claims"],
            len(want["claimers"]),
            want["redemptions"],
            want["discount"],
        ), key

    # Outstanding at each day's end: the members' balances now (day 2), and day 2's movements taken back (day 1).
    now = {a: 0 for a in ("points", "principal", "bonus")}
    for member in shop.members:
        balances = checked_balances(mid, member["id"])
        for account in now:
            now[account] += balances[account]
    ledger_rows = _ledger_recount(shop)

    def moved(account: str, day: str) -> int:
        m = ledger_rows.get((day, "LEDGER"), {})
        return sum(v for k, v in m.items() if k.startswith(f"p_{account}_")) - sum(
            v for k, v in m.items() if k.startswith(f"n_{account}_")
        )

    stored = {r["day"]: r for r in _report(shop, "stored-value", day1, day2)}
    assert (stored[day2]["outstanding_principal"], stored[day2]["outstanding_bonus"]) == (
        now["principal"],
        now["bonus"],
    )
    assert (stored[day1]["outstanding_principal"], stored[day1]["outstanding_bonus"]) == (
        now["principal"] - moved("principal", day2),
        now["bonus"] - moved("bonus", day2),
    )
    assert stored[day1]["topup_principal"] == ledger_rows[(day1, "LEDGER")].get("p_principal_TOPUP", 0) > 0
    points = {r["day"]: r for r in _report(shop, "points", day1, day2)}
    assert points[day2]["outstanding"] == now["points"]
    assert points[day1]["outstanding"] == now["points"] - moved("points", day2)
    assert points[day1]["issued"] + points[day1]["returned"] == sum(
        v for k, v in ledger_rows[(day1, "LEDGER")].items() if k.startswith("p_points_")
    )
    for day in (day1, day2):  # what a day moved explains its closing balance
        row, before = (
            points[day],
            points[day1]["outstanding"] - moved("points", day1) if day == day1 else points[day1]["outstanding"],
        )
        assert (
            before + row["issued"] - row["spent"] - row["expired"] - row["reversed"] + row["returned"]
            == row["outstanding"]
        )
        sv = stored[day]
        assert sv["principal_out"] >= sv["spent_principal"] and sv["bonus_out"] >= sv["spent_bonus"]
    assert stored[day2]["topup_refund_principal"] == 30000 and stored[day2]["topup_refund_bonus"] == 5000
    assert sum(r["spent_principal"] for r in stored.values()) > 0

    members = _report(shop, "members", day1, day2)
    by_scene = {(r["day"], r["scene"]): (r["new_members"], r["cards_opened"], r["sign_ins"]) for r in members}
    assert by_scene == {
        (day1, "*"): (6, 6, 6),
        (day1, "1047"): (2, 2, None),
        (day1, "1011"): (2, 2, None),
        (day1, "-"): (2, 2, None),
        (day2, "*"): (0, 0, 6),
    }

    # Repurchase, from the orders alone: every member bought on both days (one sale each day).
    status, body = shop.api.get(f"/v1/admin/reports/repurchase?from={day1}&to={day2}", token=shop.admin)
    assert status == 200, body
    bought: dict[str, list[str]] = defaultdict(list)
    for order_id in shop.orders:
        o = CheckoutOrder.get(checkout_pk(mid, order_id), "ORDER", consistent_read=True)
        bought[str(o.member_id)].append(_local_day(o.created_at))
    gaps = sorted(
        (date.fromisoformat(b) - date.fromisoformat(a)).days
        for days in bought.values()
        for a, b in zip(sorted(days), sorted(days)[1:])
    )
    repeat = sum(len(days) >= 2 for days in bought.values())
    assert body["rows"] == [
        {
            "buyers": len(bought),
            "repeat_buyers": repeat,
            "repeat_share": round(repeat / len(bought), 4),
            "median_days_between": gaps[(len(gaps) - 1) // 2],
        }
    ]

    # The liability check agrees with the counters, and names the members and tiers it walked.
    check = liability.run(mid, page=2)  # small pages: the walk resumes across them
    assert check.status == liability.MATCH
    assert {k: int(v) for k, v in check.expected.as_dict().items()} == now
    status, body = shop.api.get("/v1/admin/reports/liability-check", token=shop.admin)
    assert status == 200 and body["status"] == "MATCH" and body["members"] == 6, body


def _sale(api: Any, merchant: Any, member_id: str, amount: int, points: int) -> dict[str, Any]:
    code = api.member_code(api.token(merchant, member_id))
    status, receipt = api.post(
        "/v1/staff/checkout",
        {"member_code": code, "amount": amount, "points": points},
        token=api.staff_token(merchant, "s1"),
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 200, receipt
    return dict(receipt)


def test_a_refund_reports_the_points_it_took_back_and_gave_back_apart(api: Any, merchant: Any, clock: Any) -> None:
    from tests.integration.test_lifecycle import invoke

    mid = merchant.merchant_id
    configuration.set_tiers(mid, [configuration.TierSpec("normal", "普通", 0)])
    configuration.update_settings(mid, points_expiry="ROLLING", points_expiry_days=30)
    clock.set(timeline.local(clock.today + timedelta(days=1), 10))
    first = _local_day(product_clock.now())
    a, b, c = (api.member_with_card(merchant)["member"]["member_id"] for _ in range(3))
    assert api.post("/v1/me/sign-in", token=api.token(merchant, c))[0] == 200  # 10 points, expired on the last day
    clock.advance(days=31)
    day = _local_day(product_clock.now())
    for who in (a, b):
        assert api.post("/v1/me/sign-in", token=api.token(merchant, who))[0] == 200  # 10 points each
    # a: the sale uses 10 points and earns 199; its refund takes the 199 back and gives the 10 back.
    sale = _sale(api, merchant, a, 20000, points=10)
    assert (sale["points_used"], sale["points_earned"]) == (10, 199)
    status, refunded = api.post(f"/v1/staff/orders/{sale['order_id']}/refund", token=api.admin_token(merchant))
    assert status == 200 and refunded["points_clawed_back"] == 199, refunded
    # b: spends 100 of the 199 first (earning 9): the refund takes back 118, what is left once the 10 are back.
    sale = _sale(api, merchant, b, 20000, points=10)
    assert _sale(api, merchant, b, 1000, points=100)["points_earned"] == 9
    status, refunded = api.post(f"/v1/staff/orders/{sale['order_id']}/refund", token=api.admin_token(merchant))
    assert status == 200 and refunded["points_clawed_back"] == 118, refunded
    assert invoke("points_expiry")["points_expired"] == 10  # c's
    balances = {who: checked_balances(mid, who)["points"] for who in (a, b, c)}
    assert balances == {a: 10, b: 0, c: 0}

    status, body = api.get(f"/v1/admin/reports/points?from={first}&to={day}", token=api.admin_token(merchant))
    assert status == 200, body
    rows = {r["day"]: r for r in body["rows"]}
    assert {k: rows[day][k] for k in ("issued", "spent", "expired", "reversed", "returned", "outstanding")} == {
        "issued": 10 + 10 + 199 + 199 + 9,
        "spent": 10 + 10 + 100,
        "expired": 10,
        "reversed": 199 + 118,
        "returned": 10 + 10,
        "outstanding": sum(balances.values()),
    }
    assert (rows[day]["by_kind"]["+CHECKOUT_REFUND"], rows[day]["by_kind"]["-CHECKOUT_REFUND"]) == (20, 317)
    before = 0
    for row in body["rows"]:  # every day's movements explain its closing balance
        assert (
            before + row["issued"] - row["spent"] - row["expired"] - row["reversed"] + row["returned"]
            == row["outstanding"]
        ), row
        before = row["outstanding"]
    # The refund is one operation with two entries, and the counters equal the ledger's recomputation.
    entries = {
        e.sk: int(e.amount)
        for e in LedgerEntry.query(member_pk(mid, a), LedgerEntry.sk.startswith("TXN#refund:"), consistent_read=True)
        if e.account == "points"
    }
    assert sorted(entries.values()) == [-199, 10]
    recount: dict[str, int] = defaultdict(int)
    for who in (a, b, c):
        for e in LedgerEntry.query(member_pk(mid, who), LedgerEntry.sk.startswith("TXN#"), consistent_read=True):
            if _local_day(e.created_at) == day:
                recount[f"{'p' if int(e.amount) > 0 else 'n'}_{e.account}_{e.kind}"] += abs(int(e.amount))
    counted = read.rows(mid, day, day)[(day, "LEDGER")]
    assert {k: v for k, v in counted.items() if not k.startswith("ops_")} == dict(recount)


def test_liability_check_resumes_and_catches_a_planted_mismatch(api: Any, merchant: Any, caplog: Any) -> None:
    ids = []
    for _ in range(5):
        member = api.member_with_card(merchant)["member"]["member_id"]
        ids.append(member)
        ledger.post(
            merchant.merchant_id,
            member,
            ledger.Operation(
                f"test-credit-{uuid.uuid4().hex[:8]}",
                "TEST_CREDIT",
                ledger.postings({ledger.Account.PRINCIPAL: 1000, ledger.Account.BONUS: 100}),
            ),
        )
    started = liability.run(merchant.merchant_id, deadline=0.0)  # out of time at once: nothing walked yet
    assert started.status == liability.RUNNING
    assert liability.run(merchant.merchant_id, page=2).status == liability.MATCH
    # A balance changed behind the ledger's back (no entry, no counter): the next walk must say so, loudly.
    Member(member_pk(merchant.merchant_id, ids[0]), "PROFILE").update(actions=[Member.principal.add(1)])
    with caplog.at_level(logging.ERROR):
        check = liability.run(merchant.merchant_id, page=2)
    assert check.status == liability.MISMATCH
    assert int(check.sums.as_dict()["principal"]) == int(check.expected.as_dict()["principal"]) + 1 == 5001
    assert "LIABILITY MISMATCH" in caplog.text


def test_nightly_check_isolates_a_merchant_whose_check_fails(api: Any, make_merchant: Any) -> None:
    from mini_program_api.db.models import Merchant

    good = [make_merchant(), make_merchant()]
    for merchant in good:
        api.member_with_card(merchant)
    # A roster entry whose merchant has no profile: its check fails for real, the others go on.
    Merchant._get_connection().put_item(
        "MCH#m-0ghost", "LEFTOVER", attributes={"roster_pk": "MERCHANTS", "roster_sk": "m-0ghost"}
    )
    statuses = liability.run_all().statuses
    assert statuses["m-0ghost"] == "FAILED"
    assert {statuses[m.merchant_id] for m in good} == {liability.MATCH}


def test_report_ranges_and_formats(api: Any, merchant: Any, make_merchant: Any) -> None:
    admin = api.admin_token(merchant)
    today = product_clock.local_date(merchant.timezone)
    for query, code in (
        ("from=2026-02-30", "INVALID_DATE_RANGE"),
        ("from=2026-11-20&to=2026-11-01", "INVALID_DATE_RANGE"),
        ("from=2024-01-01&to=2025-12-31", "INVALID_DATE_RANGE"),
        ("format=xml", "VALIDATION_ERROR"),
        (f"from={today + timedelta(days=5)}", "INVALID_DATE_RANGE"),
        ("bogus=1", "VALIDATION_ERROR"),
        ("start=2026-11-01", "VALIDATION_ERROR"),
    ):
        status, body = api.get(f"/v1/admin/reports/sales?{query}", token=admin)
        assert (status, body["error"]["code"]) == (400, code), query
    member = api.member_with_card(merchant)
    status, _ = api.get("/v1/admin/reports/sales", token=member["token"])
    assert status == 403
    status, _ = api.get("/v1/admin/reports/sales", token=api.staff_token(merchant, "s1"))
    assert status == 403
    other = api.admin_token(make_merchant())  # another merchant's admin sees only their own (empty) day
    status, body = api.get("/v1/admin/reports/members", token=other)
    assert status == 200 and [(r["scene"], r["new_members"]) for r in body["rows"]] == [("*", 0)]
    status, body = api.get("/v1/admin/reports/members", token=admin)
    assert status == 200 and body["rows"] == [
        {"day": today.isoformat(), "scene": "*", "new_members": 1, "cards_opened": 1, "sign_ins": 0},
        {"day": today.isoformat(), "scene": "-", "new_members": 1, "cards_opened": 1, "sign_ins": None},
    ]
    response = api._client.http.get(
        "/v1/admin/reports/members", headers={"authorization": f"Bearer {admin}", "accept": "text/csv"}
    )
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert response.body.decode().splitlines() == [
        "day,scene,new_members,cards_opened,sign_ins",
        f"{today.isoformat()},*,1,1,0",
        f"{today.isoformat()},-,1,1,",
    ]
    response = api._client.http.get(
        "/v1/admin/reports/points", headers={"authorization": f"Bearer {admin}", "accept": "text/csv"}
    )
    assert (
        response.body.decode().splitlines()[0]
        == "day,issued,spent,expired,reversed,returned,imported,outstanding,by_kind"
    )


def test_backfill_puts_existing_members_on_the_roster_and_seeds_totals(api: Any, merchant: Any) -> None:
    from mini_program_api.db.models import Merchant, merchant_pk
    from mini_program_api.reports import backfill, counters
    from mini_program_api.reports.models import ReportCounter

    mid = merchant.merchant_id
    ids = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(3)]
    for member_id in ids:
        ledger.post(
            mid,
            member_id,
            ledger.Operation(
                f"test-credit-{uuid.uuid4().hex[:8]}",
                "TEST_CREDIT",
                ledger.postings({ledger.Account.PRINCIPAL: 700, ledger.Account.POINTS: 30}),
            ),
        )
    # As the table was before reports: no roster keys, no running totals.
    for member_id in ids:
        Member(member_pk(mid, member_id), "PROFILE").update(
            actions=[Member.roster_pk.remove(), Member.roster_sk.remove()]
        )
    Merchant(merchant_pk(mid), "PROFILE").update(actions=[Merchant.roster_pk.remove(), Merchant.roster_sk.remove()])
    for n in range(counters.SHARDS):
        ReportCounter(counters.row_pk(mid, n), "TOTAL").delete()
    assert liability.run_all().statuses.get(mid) is None  # not on the roster: the nightly job cannot see it

    assert backfill.roster_keys() == 4  # three members and their merchant
    assert backfill.roster_keys() == 0
    assert backfill.seed_totals(mid) == {"points": 90, "principal": 2100, "bonus": 0}
    assert backfill.seed_totals(mid) is None  # seeded once
    assert liability.run_all().statuses[mid] == liability.MATCH
