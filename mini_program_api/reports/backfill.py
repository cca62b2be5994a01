"""Once, when reports are deployed on a table that already has members: put the existing merchants and
members on the roster index, and seed each merchant's running totals from its members' balances.

The one place that Scans the table: a migration run once (`python -m mini_program_api.reports.backfill`),
not a request path. Run it in a quiet hour, then let the liability check confirm (MATCH): a sale during
the walk would move a balance the seed has already summed. Both steps are safe to run again: members
already on the roster are left alone, and a merchant that has a seed (or any running total) keeps it.
"""

from __future__ import annotations

from pynamodb.exceptions import PutError

from mini_program_api.db.models import PROFILE, Member, Merchant
from mini_program_api.merchants import merchants
from mini_program_api.reports import counters, liability, read, roster
from mini_program_api.reports.models import ReportCounter


def roster_keys() -> int:
    """Set the roster keys on every merchant and member row that lacks them; how many were set."""
    done = 0
    for item in Member.scan(Member.sk == PROFILE, attributes_to_get=["pk", "sk", "roster_pk"]):
        if item.roster_pk:
            continue
        parts = str(item.pk).split("#")
        if len(parts) == 4 and parts[2] == "MEM":
            keys = roster.keys(parts[1], parts[3])
        elif len(parts) == 2:
            keys = {"roster_pk": merchants.MERCHANTS, "roster_sk": parts[1]}
        else:
            continue
        Member(item.pk, PROFILE).update(
            actions=[Member.roster_pk.set(keys["roster_pk"]), Member.roster_sk.set(keys["roster_sk"])],
            condition=Member.pk.exists(),
        )
        done += 1
    return done


def seed_totals(merchant_id: str) -> dict[str, int] | None:
    """Seed the merchant's running totals with its members' balances, if it has none yet; the seed."""
    if any(read.totals(merchant_id).values()):
        return None
    sums = {a: 0 for a in counters.BALANCES}
    for n in range(roster.ROSTER_SHARDS):
        after = None
        while True:
            page = roster.page(roster.roster_pk(merchant_id, n), after, liability.PAGE)
            for member in page.items:
                for account in counters.BALANCES:
                    sums[account] += int(getattr(member, account) or 0)
            if page.cursor is None:
                break
            after = page.cursor
    try:
        ReportCounter._get_connection().put_item(  # raw: the measures are not model attributes
            counters.row_pk(merchant_id, 0),
            "TOTAL",
            attributes={f"net_{a}": {"N": str(v)} for a, v in sums.items()},
            condition=ReportCounter.sk.does_not_exist(),
        )
    except PutError:
        return None  # a running total appeared meanwhile (traffic): run again in a quiet hour
    return sums


if __name__ == "__main__":  # pragma: no cover
    print("roster keys set:", roster_keys())
    after = None
    while True:
        page = roster.page(merchants.MERCHANTS, after, 100, model=Merchant)
        for merchant in page.items:
            print(merchant.roster_sk, seed_totals(str(merchant.roster_sk)))
        if page.cursor is None:
            break
        after = page.cursor
