"""About ninety days of believable history for the demo merchant, made through the product's own services.

`make dev` starts this in its own process once the demo merchant and its logins exist (infra/local/dev.py),
so the printed logins work at once while the dashboard fills; `make dev KABAO_DEMO_DATA=0` (or the variable
in the environment) turns it off. By hand, against a running `make dev`: `python -m infra.local.demo_data`
(`--days`, `--members` for less). Run again on a stack that has the demo members already, it refuses, saying so.

How history is made: the product takes "now" from platform/clock.py, and this process moves its own clock
(never the API server's; one per worker thread) from `days` ago to now, making each day's activity at its hour
through the domain services: logins and phone numbers through the WeChat sandbox, cards, sign-ins, top-ups,
coupon claims, sales at two stores with coupons, points and stored value, gifts handed over, points rewards,
refunds; and the scheduled jobs on the same clock (points expiry and tier reviews nightly, the morning jobs
weekly; the liability check and the RFM scoring at the end). Every report counter is written in its event's
transaction, so each event lands on the day it was made. Nothing is written to the table except by the
product's own code. A few founding members joined a year before the window, so their points expire and their
tiers are reviewed inside it.

Top-ups are paid at the sandbox without its notify (the sandbox signs notifies with its wall clock, which a
moved clock refuses as stale) and credited by `orders.credit`, the path notify and reconciliation share, with
WeChat Pay's own record of the payment from its query API.

Deterministic: seeded randoms (the walk's, and one per member for their own choices, whichever thread runs
them) decide who comes when and buys what; ids aside, which the product draws.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from infra.local.seed import DEMO_APPID

log = logging.getLogger("kabao.demo_data")

MERCHANT = "demo"
FLAG = "KABAO_DEMO_DATA"
DAYS, MEMBERS, SEED = 90, 200, 24
# Members act in parallel (each one's events in order, on its thread's clock): DynamoDB Local answers
# several callers at once, and the walk spends most of its time waiting for it.
WORKERS = 6
TZ = ZoneInfo("Asia/Shanghai")
# The two stores' cashiers (infra/local/seed.py); a sale is counted per store and staff.
CASHIERS = {"s1": "cashier", "s2": "cashier2"}
# 人民广场 is offices (weekdays), 南京西路 shopping (weekends).
STORE_DAY_FACTOR = {"s1": (1.25, 0.6), "s2": (0.8, 1.5)}
MENU = (1600, 1800, 2200, 2600, 2800, 2800, 3000, 3200, 3600, 3800, 4200)  # fen: croissant .. sandwich
# When people come (hour of day, weight): breakfast, the lunch peak, afternoon coffee.
HOURS = ((7, 3), (8, 10), (9, 8), (10, 6), (11, 9), (12, 16), (13, 12), (14, 7), (15, 8), (16, 6), (17, 5),
         (18, 4), (19, 3), (20, 2), (21, 1))  # fmt: skip
SCENES = (("1047", 5), ("1011", 3), ("1001", 2), (None, 2))  # scanned the mini program code, a QR, discover, none
NAMES = "王芳 李娜 张伟 刘洋 陈静 杨帆 赵敏 黄磊 周婷 吴昊 徐丽 孙鹏 马超 朱琳 胡军 郭晶 何平 林雪 高翔 罗琦".split()
TIERS = (
    ("normal", "普通会员", 0, 100, 100),
    ("silver", "银卡会员", 1000, 95, 120),
    ("gold", "金卡会员", 5000, 90, 150),
)


def wanted(env: Mapping[str, str]) -> bool:
    """Whether `make dev` seeds the demo history (`KABAO_DEMO_DATA=0` turns it off)."""
    return env.get(FLAG, "1").strip().lower() not in ("0", "false", "no", "off")


def start(env: Mapping[str, str]) -> Any:
    """Seed in the background, in a process of its own (its own clock), dying with `make dev`: not one of
    dev.py's services, whose end stops the stack, since this one ends when the history is made."""
    import subprocess

    from infra.local.dynamodb import _die_with_parent

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.local.demo_data", "--background"],
        cwd=root,
        env=dict(env),
        preexec_fn=_die_with_parent,
    )
    threading.Thread(target=proc.wait, name="demo-data-reaper", daemon=True).start()  # no zombie once done
    return proc


@dataclass(frozen=True)
class Volume:
    days: int = DAYS
    members: int = MEMBERS
    seed: int = SEED
    busy: float = 1.0  # visits per member x this: a small, short history still shows every kind of day


@dataclass
class Person:
    """One demo member's habits (decided up front) and what the walk learnt about them."""

    n: int
    joins: datetime
    scene: str | None
    visits_per_week: float
    home: str
    items: tuple[int, int]  # items per visit, low..high
    signs_in: float  # chance of a sign-in on a day they think of the app
    tops_up: bool
    opens_card: bool
    quits: date | None  # stops coming (dormant) from this day
    reaches: datetime | None = None  # a founder's big order, a year before the window
    member_id: str | None = None
    rng: random.Random = field(default_factory=random.Random)  # their own choices, whichever thread runs them
    coupons: list[tuple[str, str, int, datetime]] = field(default_factory=list)  # id, kind, threshold, valid until
    claimed: set[str] = field(default_factory=set)  # templates

    @property
    def founder(self) -> bool:
        return self.reaches is not None

    @property
    def openid(self) -> str:
        return f"demo-{self.n:04d}"


@dataclass
class Summary:
    members: int = 0
    cards: int = 0
    sales: int = 0
    refunds: int = 0
    topups: int = 0
    topup_refunds: int = 0
    sign_ins: int = 0
    claims: int = 0
    gifts: int = 0
    rewards: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class AlreadySeeded(RuntimeError):
    """The demo members exist on this stack already: seeding twice would double the history."""


Event = tuple[datetime, int, Callable[[], None]]


class History:
    """The walk: this process's clock, the demo's people, and the product calls that make each event."""

    def __init__(self, volume: Volume, say: Callable[[str], None]) -> None:
        from mini_program_api.platform.auth import Principal

        self.volume, self.say = volume, say
        self.rng = random.Random(volume.seed)
        self.summary = Summary()
        self.admin = Principal(MERCHANT, "admin", "admin")
        self.staff = {store: Principal(MERCHANT, name, "staff", store) for store, name in CASHIERS.items()}
        self.real_start = datetime.now(UTC)
        self.first_day = self.real_start.astimezone(TZ).date() - timedelta(days=volume.days - 1)
        self._clock = threading.local()
        self._lock = threading.Lock()
        self.keys = 0
        self.templates: dict[str, str] = {}
        self.today_sales: list[str] = []
        self.refunds_owed = 0
        self.people = self._people()
        self.pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="demo")

    # --- the clock ---------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """This thread's moment in the walk; the real now in a thread that is not walking (in the tests'
        process, the API server's)."""
        return getattr(self._clock, "now", None) or datetime.now(UTC)

    def at(self, when: datetime) -> None:
        """Move this thread's clock (never past the real now: nothing is stamped in the future)."""
        self._clock.now = min(when, datetime.now(UTC) - timedelta(seconds=1))

    def key(self) -> str:
        """A fresh Idempotency-Key, as a client makes one per operation."""
        with self._lock:
            self.keys += 1
            return f"demo-{self.volume.seed}-{self.keys:07d}"

    def count(self, what: str, code: str | None = None) -> None:
        with self._lock:
            if code is None:
                setattr(self.summary, what, getattr(self.summary, what) + 1)
            else:
                self.summary.refused[code] = self.summary.refused.get(code, 0) + 1

    # --- who the members are ------------------------------------------------------------------

    def _people(self) -> list[Person]:
        rng, v = self.rng, self.volume
        founders = max(2, v.members * 5 // 100)
        people = []
        for n in range(1, v.members + 1):
            founder, reaches = n <= founders, None
            if founder:  # a tier reached a year before the window is reviewed inside it, its points expire in it
                # (reviewed at 03:00 after the anniversary, a day later across a 29 February: by the window's
                # second-last day, whenever today's 03:00 is)
                reaches = self._local(self.first_day - timedelta(days=364 - rng.randrange(max(1, v.days - 4))), 15)
                joins = reaches - timedelta(days=rng.randint(3, 25), hours=rng.randint(1, 5))
            else:  # more join on weekends and in the first weeks (the launch)
                while True:
                    day = self.first_day + timedelta(days=int(v.days * rng.random() ** 1.3))
                    if day.weekday() >= 5 or rng.random() < 0.65:
                        break
                joins = self._local(day, self._hour(), rng.randrange(60))
                if joins >= self.real_start - timedelta(minutes=15):  # later today: they came earlier instead
                    joins = self.real_start - timedelta(minutes=rng.randint(15, 600))
            kind = rng.random()
            # Most come now and then, a quarter weekly, a few nearly every working day.
            low, high = (0.05, 0.3) if kind < 0.7 else (0.5, 1.2) if kind < 0.95 else (2, 4)
            visits = rng.uniform(low, high)
            people.append(
                Person(
                    n=n,
                    joins=joins,
                    scene=self._pick(SCENES),
                    visits_per_week=visits * (1.5 if founder else 1) * v.busy,
                    home=rng.choice(("s1", "s1", "s2")),
                    items=(1, 2) if kind < 0.7 else (1, 3) if kind < 0.95 else (2, 4),
                    signs_in=rng.choice((0, 0, 0, 0, 0.1, 0.3, 0.5)),
                    tops_up=founder or rng.random() < 0.3,
                    opens_card=founder or rng.random() < 0.92,
                    quits=joins.astimezone(TZ).date() + timedelta(days=rng.randint(7, 45))
                    if rng.random() < 0.2
                    else None,
                    reaches=reaches,
                    rng=random.Random(f"{v.seed}:{n}"),
                )
            )
        return people

    def _pick(self, weighted: tuple[tuple[Any, int], ...], rng: random.Random | None = None) -> Any:
        return (rng or self.rng).choices([w[0] for w in weighted], [w[1] for w in weighted])[0]

    def _hour(self) -> int:
        return int(self._pick(HOURS))

    @staticmethod
    def _local(day: date, hour: int, minute: int = 0) -> datetime:
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ).astimezone(UTC)

    # --- the walk -----------------------------------------------------------------------------

    def run(self) -> Summary:
        from mini_program_api.platform import clock

        started = time.monotonic()
        if self._seeded_already():
            raise AlreadySeeded(f"the demo members exist already (openid {self.people[0].openid}): nothing seeded")
        clock.set_clock(lambda: self.now)
        try:
            self._programme()
            self._prehistory()
            for i in range(self.volume.days):
                day = self.first_day + timedelta(days=i)
                self._day(day)
                if i % 10 == 9 or i == self.volume.days - 1:
                    s = self.summary
                    self.say(
                        f"demo data: {day} ({i + 1}/{self.volume.days} days): {s.members} members, {s.sales} sales, "
                        f"{s.topups} top-ups, {time.monotonic() - started:.0f} s"
                    )
        finally:
            clock.set_clock(None)
        self._nightly()
        self.pool.shutdown()
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def _seeded_already(self) -> bool:
        from mini_program_api.db.models import LOOKUP, Lookup, lookup_pk

        try:
            Lookup.get(lookup_pk(MERCHANT, "OPENID", self.people[0].openid), LOOKUP, consistent_read=True)
        except Lookup.DoesNotExist:
            return False
        return True

    def _programme(self) -> None:
        """The demo's programme, set by its admin before the founders joined: tier perks, a year's points,
        annual tier reviews."""
        from mini_program_api.db.coupon_templates import CouponTemplate, template_pk
        from mini_program_api.merchants import changes, configuration

        self.at(min(p.joins for p in self.people) - timedelta(days=1))
        changes.set_tiers(self.admin, [configuration.TierSpec(*t) for t in TIERS])
        changes.update_settings(
            self.admin, {"points_expiry": "ROLLING", "points_expiry_days": 365, "tier_review": True}
        )
        self.templates = {t.name: t.template_id for t in CouponTemplate.query(template_pk(MERCHANT))}
        self.full_reduction = self.templates["满50减10"]
        self.discount = self.templates["拿铁八五折"]
        self.gold_gift = self.templates["金卡会员免费美式"]
        self.reward = self.templates["300积分换可颂"]

    def _prehistory(self) -> None:
        """The founders' first weeks, a year before the window: joined, topped up, a few visits, then a big
        order (an office's afternoon teas) that lifted them to silver, or gold; half of them order so again."""
        events: list[Event] = []
        for p in self.people:
            if p.reaches is None:
                continue
            events += [
                (p.joins, p.n, partial(self._join, p)),
                (p.joins + timedelta(minutes=3), p.n, partial(self._topup, p, "p500")),
            ]
            for k in range(self.rng.randint(2, 4)):
                events.append((p.joins + (p.reaches - p.joins) * (k + 1) / 5, p.n, partial(self._sale, p, p.home)))
            big = self.rng.choice((120000, 180000, 260000)) if p.n % 3 else 520000
            events.append((p.reaches, p.n, partial(self._sale, p, p.home, big)))
            if p.n % 2 == 0:  # another such order half a year on: the review finds a year's growth and keeps the tier
                events.append((p.reaches + timedelta(days=180), p.n, partial(self._sale, p, p.home, big)))
        self._play(events)

    def _day(self, day: date) -> None:
        """One day: the scheduled jobs at their hours, who joins, signs in, comes to which store; a refund or two."""
        from mini_program_api.members import lifecycle

        rng, weekend = self.rng, day.weekday() >= 5
        events: list[Event] = [
            (self._local(day, 3), 0, partial(self._jobs, lifecycle.expire_points, lifecycle.review_tiers)),
        ]
        if day.weekday() == 0 or day == self.first_day:
            # The morning jobs (functions/lifecycle.py, 10:00 daily) only on Mondays: they send messages,
            # and the demo has no message templates, so they would only move their due markers, daily.
            morning = (lifecycle.remind_coupons, lifecycle.warn_points, lifecycle.birthday_gifts,
                       lifecycle.wake_dormant, lifecycle.monthly_packs)  # fmt: skip
            events.append((self._local(day, 10), 0, partial(self._jobs, *morning)))
        visitors: list[Person] = []
        for p in self.people:
            joined = p.joins.astimezone(TZ).date()
            if joined == day and not p.founder:
                events.append((p.joins, p.n, partial(self._join, p)))
                if p.opens_card and rng.random() < 0.5:  # the new member's offer
                    events.append((p.joins + timedelta(minutes=2), p.n, partial(self._claim, p, self.full_reduction)))
            if joined > day or (p.quits is not None and day >= p.quits) or not p.opens_card:
                continue
            if rng.random() < p.signs_in * (0.5 if weekend else 0.4):
                at = self._local(day, rng.choice((7, 8, 9, 12, 21)), rng.randrange(60))
                events.append((max(at, p.joins + timedelta(minutes=5)), p.n, partial(self._app, p)))
            rate = p.visits_per_week / 7 * STORE_DAY_FACTOR[p.home][weekend]
            if rng.random() < rate:
                store = p.home if rng.random() < 0.85 else ("s2" if p.home == "s1" else "s1")
                at = max(self._local(day, self._hour(), rng.randrange(60)), p.joins + timedelta(minutes=10))
                events.append((at, p.n, partial(self._visit, p, store)))
                visitors.append(p)
        index = (day - self.first_day).days
        if index in (self.volume.days // 3, 2 * self.volume.days // 3):  # the wrong amount rung up: refunded
            self.refunds_owed += 1
        events.append((self._local(day, 22), 0, self._refund_a_sale))  # (on a day without sales, the next day)
        if index == self.volume.days // 2:  # a top-up refunded two hours later: the member changed their mind
            quiet = [p for p in self.people if p.member_id and p.opens_card and p not in visitors]
            if quiet:
                p = rng.choice(quiet)
                events.append((self._local(day, 11), p.n, partial(self._topup, p, "p100", True)))
        self.today_sales.clear()
        self._play(events)

    def _play(self, events: list[Event]) -> None:
        """Everything in time order; the merchant's own events (member 0: jobs, a refund) in turn, and between
        them the members' events, each member's in order on one worker thread."""
        batch: list[Event] = []
        for event in sorted((e for e in events if e[0] <= self.real_start), key=lambda e: (e[0], e[1])):
            if event[1]:
                batch.append(event)
                continue
            self._members(batch)
            batch = []
            self._act(event)
        self._members(batch)

    def _members(self, batch: list[Event]) -> None:
        lanes: list[list[Event]] = [[] for _ in range(WORKERS)]
        for event in batch:
            lanes[event[1] % WORKERS].append(event)
        for done in [self.pool.submit(self._lane, lane) for lane in lanes if lane]:
            done.result()

    def _lane(self, lane: list[Event]) -> None:
        for event in lane:
            self._act(event)

    def _act(self, event: Event) -> None:
        from mini_program_api.platform.errors import KabaoError

        # Never backwards on a thread: a top-up refunded two hours later moves its member's time on.
        self.at(max(event[0], getattr(self._clock, "now", event[0])))
        try:
            event[2]()
        except KabaoError as exc:  # the product refused, as it would at a real till: counted, not fatal
            self.count("refused", exc.code)
            log.debug("refused: %s %s", exc.code, exc)

    def _jobs(self, *jobs: Callable[..., Any]) -> None:
        for job in jobs:
            job(now=self.now)

    # --- what people do -----------------------------------------------------------------------

    def _join(self, p: Person) -> None:
        from mini_program_api.members import cards
        from mini_program_api.members import login as member_login
        from mini_program_api.till import spending_password

        login = member_login.login(DEMO_APPID, f"test:{p.openid}:{self.key()}", scene=p.scene)
        p.member_id = login.member.member_id
        self.count("members")
        if not p.opens_card:
            return
        spending_password.bind_phone(MERCHANT, p.member_id, f"phone:139{p.n:08d}:{self.key()}")
        rng = p.rng
        birthday = date(1975 + rng.randrange(30), 1 + rng.randrange(12), 1 + rng.randrange(28))
        name = NAMES[p.n % len(NAMES)] if rng.random() < 0.7 else None
        terms = self._merchant().terms_version
        cards.open_card(MERCHANT, p.member_id, terms, name, birthday if rng.random() < 0.6 else None)
        self.count("cards")

    def _app(self, p: Person) -> None:
        """The member opens the mini program: signs in, and now and then claims an offer or a reward."""
        from mini_program_api.members import members, sign_in

        assert p.member_id
        sign_in.sign_in(MERCHANT, p.member_id)
        self.count("sign_ins")
        roll = p.rng.random()
        if roll < 0.12:
            self._claim(p, self.discount)
        elif roll < 0.2:
            member = members.get(MERCHANT, p.member_id)
            if member.tier_id == "gold":
                self._claim(p, self.gold_gift)
            elif int(member.points) >= 300:
                self._reward(p)

    def _claim(self, p: Person, template_id: str) -> None:
        from mini_program_api.coupons import claims

        assert p.member_id
        if template_id in p.claimed:
            return  # once each: the templates' per-member limits would refuse more
        p.claimed.add(template_id)
        coupon = claims.claim(MERCHANT, p.member_id, template_id, self.key())
        p.coupons.append((coupon.coupon_id, coupon.kind, int(coupon.threshold), coupon.valid_until))
        self.count("claims")

    def _reward(self, p: Person) -> None:
        from mini_program_api.coupons import claims

        assert p.member_id
        coupon = claims.redeem_reward(MERCHANT, p.member_id, self.reward, self.key())
        p.coupons.append((coupon.coupon_id, coupon.kind, 0, coupon.valid_until))
        self.count("rewards")

    @staticmethod
    def _code(member: Any) -> str:
        """The member shows their code (members/member_codes.py) and the cashier scans it."""
        from mini_program_api.members import member_codes

        return member_codes.issue(member)[0]

    def _visit(self, p: Person, store: str) -> None:
        """At the counter: a gift handed over if they hold one, a top-up when the card runs low, the sale."""
        from mini_program_api.coupons import redemption
        from mini_program_api.members import members

        assert p.member_id
        member = members.get(MERCHANT, p.member_id)
        gifts = [c for c in p.coupons if c[1] == "GIFT" and c[3] > self.now]
        if gifts:
            p.coupons.remove(gifts[0])
            redemption.redeem_gift(self.staff[store], self._code(member), gifts[0][0], self.key())
            self.count("gifts")
        if p.tops_up and int(member.principal) + int(member.bonus) < 3000 and p.rng.random() < 0.6:
            self._topup(p, self._pick((("p100", 6), ("p300", 3), ("p500", 1)), p.rng))
            self.at(self.now + timedelta(minutes=1))
            member = members.get(MERCHANT, p.member_id)
        self._sale(p, store, member=member)

    def _sale(self, p: Person, store: str, amount: int | None = None, member: Any = None) -> None:
        """A sale at `store`: a coupon that fits, some points, stored value while there is any, cash for the rest."""
        from mini_program_api.members import members
        from mini_program_api.till import checkout

        assert p.member_id
        rng = p.rng
        if amount is None:
            amount = sum(rng.choice(MENU) for _ in range(rng.randint(*p.items)))
            if rng.random() < 0.02:  # the office's coffee run
                amount += sum(rng.choice(MENU) for _ in range(rng.randint(6, 15)))
        member = member or members.get(MERCHANT, p.member_id)
        usable = [c for c in p.coupons if c[1] != "GIFT" and c[3] > self.now and amount * 0.9 >= c[2]]
        coupon = usable[0] if usable and rng.random() < 0.8 else None
        due = amount * 9 // 10 - (1000 if coupon else 0)  # a floor under tier and coupon discounts
        points = 0
        if int(member.points) >= 200 and rng.random() < 0.25:
            points = min(int(member.points) // 100 * 100, max(0, due // 2), 500)
        balance = int(member.principal) + int(member.bonus)
        stored = min(balance, max(0, due - points)) if balance else 0
        req = checkout.Request(amount, coupon[0] if coupon else None, points, stored)
        order = checkout.checkout(self.staff[store], self._code(member), req, self.key())
        if coupon:
            p.coupons.remove(coupon)
        self.today_sales.append(order.order_id)
        self.count("sales")

    def _refund_a_sale(self) -> None:
        from mini_program_api.till import checkout

        if self.refunds_owed and self.today_sales:
            checkout.refund(self.admin, self.rng.choice(sorted(self.today_sales)))
            self.refunds_owed -= 1
            self.count("refunds")

    def _topup(self, p: Person, plan: str, refund: bool = False) -> None:
        """The member pays a plan in WeChat; with `refund` the merchant refunds it two hours later."""
        from mini_program_api.topup import orders, reconciliation, refunds

        assert p.member_id
        order, _ = orders.create_order(MERCHANT, p.member_id, self.key(), plan, None)
        self._sandbox(f"/_sandbox/pay/{order.order_id}", {"notify": False})
        merchant = self._merchant()
        orders.credit(merchant, order, orders.pay_api(merchant).query(order.order_id) or {})
        self.count("topups")
        if refund:
            self.at(self.now + timedelta(hours=2))
            refunded = refunds.refund(self.admin, order.order_id)
            if refunded.status == orders.REFUNDING:  # WeChat pays it back; reconciliation hears of it
                self._sandbox(f"/_sandbox/refunds/{refunds.out_refund_no(refunded)}", {"status": "SUCCESS", "times": 0})
                self.at(self.now + orders.RECONCILE_AFTER)
                reconciliation.reconcile(now=self.now)
            self.count("topup_refunds")

    @staticmethod
    def _merchant() -> Any:
        from mini_program_api.merchants import merchants

        return merchants.get(MERCHANT)

    @staticmethod
    def _sandbox(path: str, body: dict[str, Any]) -> dict[str, Any]:
        from mini_program_api.platform.config import settings

        request = urllib.request.Request(
            settings().wechatpay_api_base + path,
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return dict(json.loads(response.read()))

    def _nightly(self) -> None:
        """Tonight's report jobs, on the real clock: the liability check and the RFM segments."""
        from mini_program_api.reports import liability, rfm

        liability.run(MERCHANT)
        for _ in range(20):
            if rfm.run(MERCHANT).phase == "DONE":
                break


def seed_history(volume: Volume = Volume(), say: Callable[[str], None] = print) -> Summary:
    """Make the demo merchant's history on the stack this process's environment points at."""
    summary = History(volume, say).run()
    refused = ", ".join(f"{k} {v}" for k, v in sorted(summary.refused.items())) or "none"
    say(
        f"demo data ready: {volume.days} days, {summary.members} members ({summary.cards} cards), "
        f"{summary.sales} sales, {summary.refunds} refunded, {summary.topups} top-ups "
        f"({summary.topup_refunds} refunded), {summary.sign_ins} sign-ins, {summary.claims} claims, "
        f"{summary.rewards} points rewards, {summary.gifts} gifts handed over; refused: {refused}; "
        f"{summary.seconds:.0f} s"
    )
    return summary


def _environment(args: argparse.Namespace) -> None:
    """Point the product at a running `make dev` stack, as dev.py does, unless it already is (dev.py's child). The
    stage's secrets are `ssm:` references: where the extension's stand-in answers, and its token, are read from the
    environment file `make dev` wrote (infra/local/jobs.py)."""
    if os.environ.get("DYNAMODB_ENDPOINT"):
        return
    from infra.local.jobs import env_file
    from infra.local.stack import EXTENSION_KEYS, environment

    root = Path(__file__).resolve().parents[2]
    config = json.loads((root / "chalice.json").read_text())["stages"]["local"]["environment_variables"]
    os.environ.update({**environment(args.dynamodb, args.sandbox, args.api), "KABAO_MERCHANT_ID": MERCHANT, **config})
    if env_file().exists():
        saved = json.loads(env_file().read_text())
        os.environ.update({key: saved[key] for key in EXTENSION_KEYS if key in saved})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--days", type=int, default=int(os.environ.get("KABAO_DEMO_DAYS", DAYS)))
    parser.add_argument("--members", type=int, default=int(os.environ.get("KABAO_DEMO_MEMBERS", MEMBERS)))
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--dynamodb", default="http://127.0.0.1:8001")
    parser.add_argument("--sandbox", default="http://127.0.0.1:8002")
    parser.add_argument("--background", action="store_true", help=argparse.SUPPRESS)  # started by dev.py
    args = parser.parse_args(argv)
    if not 1 <= args.days <= 366 or not 1 <= args.members <= 5000:
        parser.error("--days is 1..366 and --members 1..5000")
    logging.basicConfig(level=logging.WARNING)
    if args.background:
        os.nice(5)  # the API answers the newcomer first
    _environment(args)
    print(
        f"demo data: making {args.days} days of history for the demo merchant"
        + (" in the background (KABAO_DEMO_DATA=0 turns it off)" if args.background else ""),
        flush=True,
    )
    try:
        seed_history(Volume(args.days, args.members, args.seed))
    except AlreadySeeded as exc:
        print(f"demo data: {exc}", flush=True)
        return 0 if args.background else 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # an EMF line per event would bury the log
    sys.exit(main())
