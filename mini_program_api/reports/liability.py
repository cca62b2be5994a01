"""The stored-value liability check: the counters' outstanding principal and bonus (what the merchant
owes its members, reported per day) must equal the sum over every member row. Points too.

Resumable: the job pages the roster GSI (roster.py) shard by shard and saves its sums and cursor after
every page in one item, so a run cut off by the Lambda deadline continues where it stopped. The
counters' totals are read when the walk starts and again when it ends: if they moved (traffic during the
walk), the sums are not comparable and the result is INCONCLUSIVE, never a false alarm; a walk over a
quiet merchant (nightly) that disagrees is MISMATCH, logged as an error with both sides.

It also counts members per tier and active/dormant (the merchant's `dormant_days`), the members
report's snapshot.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from mini_program_api.db.models import Member
from mini_program_api.jobs import runner
from mini_program_api.merchants import merchants
from mini_program_api.platform import clock
from mini_program_api.reports import read, roster
from mini_program_api.reports.models import LiabilityCheck

log = logging.getLogger(__name__)
RUNNING, MATCH, MISMATCH, INCONCLUSIVE = "RUNNING", "MATCH", "MISMATCH", "INCONCLUSIVE"
PAGE = 100
ACCOUNTS = ("principal", "bonus", "points")


def check_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#RPT#CHECK"


def last(merchant_id: str) -> LiabilityCheck | None:
    try:
        return LiabilityCheck.get(check_pk(merchant_id), "LIABILITY", consistent_read=True)
    except LiabilityCheck.DoesNotExist:
        return None


def run(merchant_id: str, deadline: float | None = None, page: int = PAGE) -> LiabilityCheck:
    """Walk on from the saved place (or start a new walk) until done or `deadline` (time.monotonic())."""
    state = last(merchant_id)
    now = clock.now()
    if state is None or state.status != RUNNING:
        state = LiabilityCheck(
            check_pk(merchant_id),
            "LIABILITY",
            status=RUNNING,
            shard=0,
            cursor=None,
            sums={a: 0 for a in (*ACCOUNTS, "members")},
            tiers={},
            active=0,
            dormant=0,
            totals_at_start=read.totals(merchant_id),
            expected={},
            started_at=now,
        )
        state.save()
    dormant_after = now - timedelta(days=int(merchants.get(merchant_id).dormant_days))
    while int(state.shard) < roster.ROSTER_SHARDS:
        if runner.out_of_time(deadline):
            return state  # saved after the last page: the next run resumes here
        got = roster.page(roster.roster_pk(merchant_id, int(state.shard)), state.cursor, page)
        sums, tiers = state.sums.as_dict(), state.tiers.as_dict()
        for member in got.items:
            try:
                _add(member, sums, tiers, state, dormant_after)
            except (TypeError, ValueError):  # one unreadable row: counted, named in the log, the walk goes on
                log.error("liability check: member %s is unreadable", member.roster_sk)
                sums["unreadable"] = int(sums.get("unreadable", 0)) + 1
        state.sums, state.tiers = sums, tiers
        if got.cursor is None:
            state.shard, state.cursor = int(state.shard) + 1, None
        else:
            state.cursor = got.cursor
        state.save()
    return _finish(merchant_id, state)


def _add(member: Member, sums: dict, tiers: dict, state: LiabilityCheck, dormant_after: datetime) -> None:
    balances = {account: int(getattr(member, account) or 0) for account in ACCOUNTS}  # raises before adding
    for account in ACCOUNTS:
        sums[account] = int(sums.get(account, 0)) + balances[account]
    sums["members"] = int(sums.get("members", 0)) + 1
    tier = str(member.tier_id or "-")
    tiers[tier] = int(tiers.get(tier, 0)) + 1
    if member.last_spend_at is not None and member.last_spend_at >= dormant_after:
        state.active = int(state.active) + 1
    else:
        state.dormant = int(state.dormant) + 1


def _finish(merchant_id: str, state: LiabilityCheck) -> LiabilityCheck:
    totals = read.totals(merchant_id)
    expected = {a: totals[f"net_{a}"] for a in ACCOUNTS}
    summed = {a: int(state.sums.as_dict().get(a, 0)) for a in ACCOUNTS}
    moved = totals != {k: int(v) for k, v in state.totals_at_start.as_dict().items()}
    if moved or state.sums.as_dict().get("unreadable"):
        state.status = INCONCLUSIVE  # value moved during the walk (run again when quiet), or rows unreadable
    elif summed == expected:
        state.status = MATCH
    else:
        state.status = MISMATCH
        log.error(
            "LIABILITY MISMATCH for merchant %s: counters say %s, member rows sum to %s", merchant_id, expected, summed
        )
    state.expected, state.finished_at = expected, clock.now()
    state.save()
    return state


def run_all(deadline: float | None = None) -> runner.PerMerchant:
    """Every merchant's check, one after another (the nightly job); `statuses`: merchant id -> status.

    A merchant whose check fails is logged and skipped, so it never stalls the others; its saved
    place stays, and the next run resumes it."""
    order = runner.least_recent_first(roster.merchant_ids(), _progress)
    return runner.per_merchant(
        "liability_check", order, lambda m: str(run(m, deadline).status), RUNNING.__eq__, deadline
    )


def _progress(merchant_id: str) -> tuple[bool, datetime | None]:
    state = last(merchant_id)
    return (False, None) if state is None else (state.status == RUNNING, state.finished_at)
