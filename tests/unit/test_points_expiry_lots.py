"""The expiry rule over lots (members/lifecycle.py `expiring`) against a simulation that tracks every lot.

The simulation credits earned lots (the merchant's policy from their time) and dated imported lots (the end of their
date in Shanghai), spends from the earliest-expiring lot first, and at T counts what is left of the lots expiring by
then: exactly what strict earliest-expiring-first expires. The rule reads only the balance, the dated lots on the
member row and the entries after the cutoff. It must never expire more than the simulation; it must expire exactly
as much with earned lots alone (today's FIFO), when every dated lot ends by T, and always under the policy NONE
(only dated lots expire). Events are an hour apart within a day, before any lot expires; times are taken from now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from mini_program_api.members.due_dates import cutoff, import_expiry, lot_expiry
from mini_program_api.members.lifecycle import DatedLot, Entry, expiring
from mini_program_api.money import ledger
from tests.unit import rows

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = rows.now()
ROLLING = rows.merchant(points_expiry="ROLLING", points_expiry_days=30)
NONE = rows.merchant()
YEAR_END = rows.merchant(points_expiry="YEAR_END")

EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.integers(1, 100)),
        st.tuples(st.just("import"), st.integers(1, 100), st.integers(2, 60)),  # days from today to its date
        st.tuples(st.just("spend"), st.integers(1, 100)),
    ),
    max_size=12,
)
LATER = st.integers(24, 24 * 80)  # T: hours from START, after every event


@dataclass
class Lot:
    points: int
    expires: datetime
    order: int
    left: int


def simulate(merchant: Any, events: list[tuple[Any, ...]]) -> tuple[int, list[Lot], list[DatedLot], list[Entry]]:
    """The balance, every lot with what is left of it, the dated lots as the member row keeps them, the entries."""
    balance, lots, dated, entries = 0, [], [], []
    today = START.astimezone(SHANGHAI).date()
    for n, event in enumerate(events):
        at = START + timedelta(hours=n + 1)
        if event[0] == "earn":
            expires = lot_expiry(merchant, at) or datetime.max.replace(tzinfo=at.tzinfo)  # NONE: never
            lots.append(Lot(event[1], expires, n, event[1]))
            entries.append(Entry(at, event[1], "SIGN_IN", {}))
            balance += event[1]
        elif event[0] == "import":
            on = (today + timedelta(days=event[2])).isoformat()
            lots.append(Lot(event[1], import_expiry(merchant, on), n, event[1]))
            dated.append(DatedLot(f"I{n}", event[1], import_expiry(merchant, on), at, balance))
            memo = {"import_id": f"I{n}", "points_expire_on": on}
            entries.append(Entry(at, event[1], ledger.IMPORT, memo))
            balance += event[1]
        else:
            amount = min(balance, event[1])
            if amount == 0:
                continue
            entries.append(Entry(at, -amount, "REDEEM", {}))
            balance -= amount
            for lot in sorted(lots, key=lambda lot: (lot.expires, lot.order)):  # earliest-expiring first
                taken = min(lot.left, amount)
                lot.left -= taken
                amount -= taken
    return balance, lots, dated, entries


def read(merchant: Any, dated: list[DatedLot], entries: list[Entry], at: datetime) -> list[Entry]:
    """The entries the job reads (lifecycle._owed): after the cutoff, or under NONE from a minute before the first
    lot `at` ends."""
    cut = cutoff(merchant, at)
    if cut is not None:
        return [e for e in entries if e.created_at > cut]
    since = min((lot.credited_at for lot in dated if lot.expires_at <= at), default=None)
    return [e for e in entries if since is not None and e.created_at > since - timedelta(minutes=1)]


@settings(max_examples=300, deadline=None)
@given(events=EVENTS, hours=LATER)
def test_never_more_than_earliest_expiring_first_and_exact_where_the_proof_says(
    events: list[tuple[Any, ...]], hours: int
) -> None:
    at = START + timedelta(hours=hours)
    balance, lots, dated, entries = simulate(ROLLING, events)
    exact = sum(lot.left for lot in lots if lot.expires <= at)
    owed = expiring(ROLLING, balance, dated, read(ROLLING, dated, entries, at), at)
    assert 0 <= owed.amount <= exact
    if all(lot.expires_at <= at for lot in dated):  # no dated lot outlives T (earned lots alone included)
        assert owed.amount == exact
    assert owed.gone == [lot.key for lot in dated if lot.expires_at <= at]


@settings(max_examples=300, deadline=None)
@given(events=EVENTS, hours=LATER)
def test_policy_none_expires_exactly_the_dated_lots_left(events: list[tuple[Any, ...]], hours: int) -> None:
    at = START + timedelta(hours=hours)
    balance, lots, dated, entries = simulate(NONE, events)
    exact = sum(lot.left for lot in lots if lot.expires <= at)
    owed = expiring(NONE, balance, dated, read(NONE, dated, entries, at), at)
    assert owed.amount == exact
    assert owed.next_earned is None


@settings(max_examples=200, deadline=None)
@given(events=EVENTS, hours=LATER)
def test_the_next_expiries_are_the_earliest_lots_left(events: list[tuple[Any, ...]], hours: int) -> None:
    at = START + timedelta(hours=hours)
    balance, lots, dated, entries = simulate(ROLLING, events)
    owed = expiring(ROLLING, balance, dated, read(ROLLING, dated, entries, at), at)
    keys = {lot.key for lot in dated}
    earned = [lot for lot, (n, _) in zip(lots, _credits(events), strict=True) if f"I{n}" not in keys]
    assert owed.next_earned == min((lot.expires for lot in earned if lot.expires > at), default=None)
    assert owed.next_dated == min((lot.expires_at for lot in dated if lot.expires_at > at), default=None)


def _credits(events: list[tuple[Any, ...]]) -> list[tuple[int, tuple[Any, ...]]]:
    return [(n, event) for n, event in enumerate(events) if event[0] != "spend"]


# --- expiries between the events: what one leaves, the next must not over-count -------------------------------

TIMELINE = st.lists(
    st.tuples(
        st.sampled_from(["earn", "import", "spend", "refund", "expire"]),
        st.integers(1, 100),  # points, or the import's days to its date
        st.integers(1, 24 * 60),  # hours since the previous event
    ),
    max_size=16,
)


@settings(max_examples=300, deadline=None)
@given(timeline=TIMELINE, policy=st.sampled_from([ROLLING, YEAR_END, NONE]))
def test_expiries_run_between_events_never_take_more_than_the_expired_lots_hold(
    timeline: list[tuple[str, int, int]], policy: Any
) -> None:
    """Each expiry is posted as the job posts it (a debit, its dated lots off the row) and later events and expiries
    come after it: every expiry is at most what is left of the lots expired by then (earliest-expiring first, the
    expiries taking from those lots), and the balance never goes below zero. Earnings are till sales; a refund
    takes back what the latest unrefunded sale earned (at most the balance, as till/checkout.py), from that sale's
    lot first."""
    balance, lots, dated, entries = 0, [], [], []
    sales: list[Lot] = []
    at = START
    for n, (kind, value, hours) in enumerate(timeline):
        at += timedelta(hours=hours)
        if kind == "earn":
            expires = lot_expiry(policy, at) or datetime.max.replace(tzinfo=at.tzinfo)
            lots.append(Lot(value, expires, n, value))
            sales.append(lots[-1])
            entries.append(Entry(at, value, "CHECKOUT", {"order_id": f"O{n}"}))
            balance += value
        elif kind == "refund":
            if not sales:
                continue
            sale = sales.pop()
            clawed = min(sale.points, balance)
            if clawed == 0:
                continue
            entries.append(Entry(at, -clawed, "CHECKOUT_REFUND", {"order_id": f"O{sale.order}"}))
            balance -= clawed
            own = min(sale.left, clawed)
            sale.left -= own
            clawed -= own
            for lot in sorted(lots, key=lambda lot: (lot.expires, lot.order)):
                taken = min(lot.left, clawed)
                lot.left -= taken
                clawed -= taken
        elif kind == "import":
            on = (at.astimezone(SHANGHAI).date() + timedelta(days=1 + value % 40)).isoformat()
            lots.append(Lot(value, import_expiry(policy, on), n, value))
            dated.append(DatedLot(f"I{n}", value, import_expiry(policy, on), at, balance))
            entries.append(Entry(at, value, ledger.IMPORT, {"import_id": f"I{n}", "points_expire_on": on}))
            balance += value
        else:
            if kind == "spend":
                amount = min(balance, value)
            else:
                owed = expiring(policy, balance, dated, read(policy, dated, entries, at), at)
                exact = sum(lot.left for lot in lots if lot.expires <= at)
                assert 0 <= owed.amount <= exact
                amount = owed.amount
                dated = [lot for lot in dated if lot.key not in owed.gone]
            if amount == 0:
                continue
            entries.append(Entry(at, -amount, "REDEEM" if kind == "spend" else "POINTS_EXPIRED", {}))
            balance -= amount
            for lot in sorted(lots, key=lambda lot: (lot.expires, lot.order)):  # earliest-expiring first
                taken = min(lot.left, amount)
                lot.left -= taken
                amount -= taken
        assert balance == sum(lot.left for lot in lots) >= 0
