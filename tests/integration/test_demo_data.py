"""`make dev`'s demo history (infra/local/demo_data.py), small: a busy week of 30 members on the test stack.

The reports over the week show what a newcomer's dashboard needs (sales on several days at both stores, a
refund, members above the entry tier, points expired, a tier review), every counter equals its recomputation
from the ledger, the liability check matches, and seeding the same stack again refuses and changes nothing.
"""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.local import demo_data
from infra.local.seed import DEMO_STAFF, seed
from mini_program_api.db.ledger import LedgerEntry
from mini_program_api.db.models import LOOKUP, Lookup, Member, lookup_pk, member_pk
from mini_program_api.platform import clock as product_clock
from mini_program_api.reports import liability, read
from tests.ledger_checks import checked_balances

DAYS, MEMBERS = 7, 30


def _member_ids() -> list[str]:
    found = []
    for n in range(1, MEMBERS + 1):
        try:
            found.append(Lookup.get(lookup_pk("demo", "OPENID", f"demo-{n:04d}"), LOOKUP, consistent_read=True).target)
        except Lookup.DoesNotExist:
            pass
    return found


def _ledger_recount(member_ids: list[str]) -> dict[str, dict[str, int]]:
    """LEDGER counter rows per day, recomputed from the members' ledger entries alone."""
    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    ops = set()
    for member_id in member_ids:
        for entry in LedgerEntry.query(
            member_pk("demo", member_id), LedgerEntry.sk.startswith("TXN#"), consistent_read=True
        ):
            day, amount = product_clock.local_date("Asia/Shanghai", entry.created_at).isoformat(), int(entry.amount)
            rows[day][f"{'p' if amount > 0 else 'n'}_{entry.account}_{entry.kind}"] += abs(amount)
            ops.add((day, member_id, entry.op_key, entry.kind))
    for day, _, _, kind in ops:
        rows[day][f"ops_{kind}"] += 1
    return {day: dict(m) for day, m in rows.items()}


def test_a_week_of_demo_history_fills_the_reports_and_adds_up(api: Any, stack: Any) -> None:
    seed(os.environ["WECHAT_API_BASE"], stack.api_url)
    lines: list[str] = []
    summary = demo_data.seed_history(demo_data.Volume(DAYS, MEMBERS, busy=4), say=lines.append)
    assert lines[-1].startswith("demo data ready: 7 days, 30 members"), lines
    assert product_clock.now() > datetime.now(UTC) - timedelta(seconds=5)  # the real clock is back

    # The printed demo login works, and its reports over the week show a shop that is open.
    status, login = api.post(
        "/v1/staff/login", {"merchant_id": "demo", "username": "admin", "password": DEMO_STAFF["admin"]}
    )
    assert status == 200, login
    admin = login["token"]
    last = product_clock.local_date("Asia/Shanghai")
    first = last - timedelta(days=DAYS - 1)
    status, body = api.get(f"/v1/admin/reports/sales?from={first}&to={last}", token=admin)
    assert status == 200, body
    sold = [r for r in body["rows"] if r.get("orders")]
    assert len({r["day"] for r in sold}) >= 3, body["rows"]
    assert {r["store_id"] for r in sold} == {"s1", "s2"}
    assert sum(r.get("refunds") or 0 for r in body["rows"]) >= 1 and summary.refunds >= 1
    status, body = api.get(f"/v1/admin/reports/stored-value?from={first}&to={last}", token=admin)
    assert status == 200, body
    assert sum(r["topup_principal"] for r in body["rows"]) > 0
    assert sum(r["topup_refund_principal"] for r in body["rows"]) == 10000  # the p100 refunded
    status, body = api.get(f"/v1/admin/reports/points?from={first}&to={last}", token=admin)
    assert status == 200, body
    assert sum(r["expired"] for r in body["rows"]) > 0  # the founders' points from a year ago
    assert sum(r["issued"] for r in body["rows"]) > 0

    member_ids = _member_ids()
    assert len(member_ids) == MEMBERS
    rows = [Member.get(member_pk("demo", m), "PROFILE", consistent_read=True) for m in member_ids]
    assert any(m.tier_id in ("silver", "gold") for m in rows)
    assert any(m.tier_window_from is not None for m in rows)  # a tier review ran

    # Every LEDGER counter, from the founders' first day on, equals the ledger's recomputation.
    since = min(m.created_at for m in rows)
    counted = read.rows("demo", product_clock.local_date("Asia/Shanghai", since).isoformat(), last.isoformat())
    assert {day: dict(m) for (day, dim), m in counted.items() if dim == "LEDGER"} == _ledger_recount(member_ids)
    # The liability check walked every member and agrees with the counters and the members' ledgers.
    status, body = api.get("/v1/admin/reports/liability-check", token=admin)
    assert status == 200 and body["status"] == liability.MATCH and body["members"] == MEMBERS, body
    owed = {"points": 0, "principal": 0, "bonus": 0}
    for member_id in member_ids:
        balances = checked_balances("demo", member_id)
        for account in owed:
            owed[account] += balances[account]
    assert body["expected"] == owed

    # Seeding the same stack again refuses, says so, and changes nothing.
    before = read.totals("demo")
    assert demo_data.main(["--days", str(DAYS), "--members", str(MEMBERS)]) == 2
    assert read.totals("demo") == before and len(_member_ids()) == MEMBERS
