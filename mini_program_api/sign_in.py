"""Daily check-in: growth and points once per merchant-local day.

The day is the idempotency key (`signin:YYYY-MM-DD`), so any number of taps,
retries or concurrent requests credit once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from . import clock, ledger, members, merchants
from .errors import KabaoError
from .ledger import Account, Operation


@dataclass(frozen=True)
class SignIn:
    day: date
    points: int
    growth: int
    already_signed_in: bool


def sign_in(merchant_id: str, member_id: str) -> SignIn:
    merchant = merchants.get(merchant_id)
    members.require_card(members.get(merchant_id, member_id))
    day = clock.local_date(merchant.timezone)
    postings = ledger.postings({Account.GROWTH: max(0, int(merchant.sign_in_growth)),
                                Account.POINTS: max(0, int(merchant.sign_in_points))})
    if not postings:
        raise KabaoError("SIGN_IN_DISABLED", "this merchant offers no sign-in reward")
    # The day alone identifies the request: a reward changed mid-day still credits once.
    op = Operation(f"signin:{day.isoformat()}", "SIGN_IN", postings, memo={"day": day.isoformat()},
                   request={"day": day.isoformat()})
    posted = ledger.post(merchant_id, member_id, op)
    return SignIn(
        day,
        posted.amounts.get(Account.POINTS, 0),
        posted.amounts.get(Account.GROWTH, 0),
        already_signed_in=posted.replayed,
    )
