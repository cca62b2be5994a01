"""Daily check-in: growth and points once per merchant-local day.

The day is the idempotency key (`signin:YYYY-MM-DD`), so any number of taps,
retries or concurrent requests credit once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from . import clock, ledger, lifecycle, members, merchants, tiers
from .db.transact import Transaction
from .errors import KabaoError
from .ledger import Account, Operation


@dataclass(frozen=True)
class SignIn:
    day: date
    points: int
    growth: int
    already_signed_in: bool
    upgraded: bool


def sign_in(merchant_id: str, member_id: str) -> SignIn:
    merchant = merchants.get(merchant_id)
    growth = max(0, int(merchant.sign_in_growth))
    postings = ledger.postings({Account.GROWTH: growth, Account.POINTS: max(0, int(merchant.sign_in_points))})
    if not postings:
        raise KabaoError("SIGN_IN_DISABLED", "this merchant offers no sign-in reward")

    def attempt() -> SignIn:
        member = members.get(merchant_id, member_id)
        members.require_card(member)
        now = clock.now()
        day = clock.local_date(merchant.timezone, now)
        # The day alone identifies the request: a reward changed mid-day still credits once.
        op = Operation(f"signin:{day.isoformat()}", "SIGN_IN", postings, memo={"day": day.isoformat()},
                       request={"day": day.isoformat()})
        tx = Transaction()
        lifecycle.earned_points(tx, merchant, member, int(merchant.sign_in_points), now)
        placement = tiers.after_growth(tx, merchant, member, growth, now)
        posted = ledger.post(merchant_id, member_id, op, tx=tx, member_actions=placement.actions,
                             member_condition=placement.condition)
        return SignIn(day, posted.amounts.get(Account.POINTS, 0), posted.amounts.get(Account.GROWTH, 0),
                      already_signed_in=posted.replayed, upgraded=placement.upgraded and not posted.replayed)

    return tiers.retrying(attempt)
