"""Reading the counters back: a date range is one Query per counter shard, whatever the traffic.

A range is validated here (merchant-local days, from <= to, at most MAX_DAYS) so every report reads
a bounded number of items: days x dimensions x shards.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from mini_program_api.merchants import merchants
from mini_program_api.platform import clock
from mini_program_api.platform.errors import KabaoError
from mini_program_api.reports import counters
from mini_program_api.reports.models import ReportCounter

MAX_DAYS = 366
# The contract's day: date.fromisoformat alone also takes 20261203 and 2026-W01-1.
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
Rows = dict[tuple[str, str], dict[str, Any]]  # (day, dimension) -> measure -> value


@dataclass(frozen=True)
class Range:
    start: date
    end: date  # inclusive

    def days(self) -> list[str]:
        return [(self.start + timedelta(days=i)).isoformat() for i in range((self.end - self.start).days + 1)]


def date_range(merchant_id: str, start: str | None, end: str | None) -> Range:
    """The merchant-local days asked for (each defaults to today); 400 INVALID_DATE_RANGE when unusable.
    Today is the merchant's: at 00:30 in Shanghai it is still yesterday in UTC, and Shanghai's today has begun."""
    today = clock.local_date(merchants.get(merchant_id).timezone)
    try:
        first = _day(start) if start else today
        last = _day(end) if end else today
    except ValueError:
        raise KabaoError("INVALID_DATE_RANGE", "from and to are dates, YYYY-MM-DD") from None
    if first > last:
        raise KabaoError("INVALID_DATE_RANGE", "from must not be after to")
    if (last - first).days + 1 > MAX_DAYS:
        raise KabaoError("INVALID_DATE_RANGE", f"a report covers at most {MAX_DAYS} days")
    if last > today:
        raise KabaoError("INVALID_DATE_RANGE", "to is after the merchant's today")
    return Range(first, last)


def _day(text: str) -> date:
    if not _DAY.fullmatch(text):
        raise ValueError(text)
    return date.fromisoformat(text)


def _items(pk: str, low: str, high: str) -> list[dict[str, Any]]:
    table = ReportCounter._get_connection()  # raw: measures are named at run time
    items: list[dict[str, Any]] = []
    start = None
    while True:
        answer = table.query(pk, ReportCounter.sk.between(low, high), consistent_read=True, exclusive_start_key=start)
        items.extend(answer.get("Items", []))
        start = answer.get("LastEvaluatedKey")
        if not start:
            return items


def _number(value: dict[str, Any]) -> int:
    return int(value["N"])


def rows(merchant_id: str, first: str, last: str) -> Rows:
    """Every counter row of days `first`..`last` (ISO), summed over shards."""
    summed: Rows = defaultdict(lambda: defaultdict(int))
    for n in range(counters.SHARDS):
        for item in _items(counters.row_pk(merchant_id, n), f"D#{first}", f"D#{last}#\uffff"):
            _, day, dimension = item["sk"]["S"].split("#", 2)
            for name, value in item.items():
                if "N" in value:
                    summed[(day, dimension)][name] += _number(value)
    return summed


def totals(merchant_id: str) -> dict[str, int]:
    """`net_{account}` since the beginning, summed over shards (points, principal, bonus outstanding now)."""
    table = ReportCounter._get_connection()
    out = {f"net_{a}": 0 for a in counters.BALANCES}
    for n in range(counters.SHARDS):
        item = table.get_item(counters.row_pk(merchant_id, n), "TOTAL", consistent_read=True).get("Item", {})
        for name in out:
            if name in item:
                out[name] += _number(item[name])
    return out


def net(measures: dict[str, int], account: str) -> int:
    """What one ledger row added to an account: credits minus debits, all kinds."""
    return sum(v for k, v in measures.items() if k.startswith(f"p_{account}_")) - sum(
        v for k, v in measures.items() if k.startswith(f"n_{account}_")
    )


def outstanding(
    merchant_id: str, days: list[str], ledger_rows: dict[str, dict[str, int]], later: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    """Each day's closing balance per account: the running total now, less what every later day added."""
    now = totals(merchant_id)
    after = {a: sum(net(m, a) for m in later.values()) for a in counters.BALANCES}
    closing: dict[str, dict[str, int]] = {}
    for day in reversed(days):
        closing[day] = {a: now[f"net_{a}"] - after[a] for a in counters.BALANCES}
        for a in counters.BALANCES:
            after[a] += net(ledger_rows.get(day, {}), a)
    return closing


def exposure(merchant_id: str, days: list[str]) -> dict[str, dict[str, dict[str, int]]]:
    """Per day and template: views, distinct people who saw it, and the distinct claimers an old day's item kept
    (counters.exposure): the exposure shards' counts plus what an old day's items hold (views, and sets of
    people and claimers). On the day of the change a person seen before it and after it counts in both."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    counted = counters.exposure_rows(merchant_id, days[0], days[-1]) if days else {}
    for day, items in counters.exposure_items(merchant_id, days).items():
        per: dict[str, dict[str, int]] = defaultdict(lambda: {"views": 0, "people": 0, "claimers": 0})
        for item in items:
            for name, value in item.items():
                kind, _, tid = name.partition("_")
                if not tid or kind not in ("t", "p", "c"):
                    continue
                field = {"t": "views", "p": "people", "c": "claimers"}[kind]
                per[tid][field] += _number(value) if kind == "t" else len(value.get("SS", []))
        for name, value in counted.get(day, {}).items():
            kind, _, tid = name.partition("_")
            if tid and kind in ("t", "p"):
                per[tid]["views" if kind == "t" else "people"] += value
        out[day] = per
    return out
