"""Daily check-in: growth and points once per merchant-local day.

The day is the idempotency key (`signin:YYYY-MM-DD`), so any number of taps,
retries or concurrent requests credit once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from . import clock, ledger, members, merchants
from .errors import KabaoError
from .ledger import Account, Operation, Posting


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
    postings = tuple(
        Posting(account, amount)
        for account, amount in ((Account.GROWTH, int(merchant.sign_in_growth)), (Account.POINTS, int(merchant.sign_in_points)))
        if amount > 0
    )
    op = Operation(op_key=f"signin:{day.isoformat()}", kind="SIGN_IN", postings=postings, memo={"day": day.isoformat()})
    try:
        posted = ledger.post(merchant_id, member_id, op)
    except KabaoError as exc:
        if exc.code != "IDEMPOTENCY_KEY_REUSED":
            raise
        # The merchant changed its sign-in reward since this member's first sign-in today.
        return SignIn(day, 0, 0, already_signed_in=True)
    return SignIn(
        day,
        posted.amounts.get(Account.POINTS, 0),
        posted.amounts.get(Account.GROWTH, 0),
        already_signed_in=posted.replayed,
    )
