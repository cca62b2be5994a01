"""Daily check-in: growth and points once per merchant-local day.

The day is the idempotency key (`signin:YYYY-MM-DD`, the member's own), and the
day alone is the request: any number of taps, retries or concurrent requests
credit once, and a reward the merchant changes during the day never pays twice —
later calls that day return what the first one paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from mini_program_api.db.transact import Transaction
from mini_program_api.members import due_dates, members, tiers, upgrades
from mini_program_api.merchants import merchants
from mini_program_api.money import idempotency, ledger
from mini_program_api.money.ledger import Account, Operation, Posted
from mini_program_api.platform import clock
from mini_program_api.platform.errors import KabaoError

KIND = "SIGN_IN"


@dataclass(frozen=True)
class SignIn:
    day: date
    points: int
    growth: int
    already_signed_in: bool
    upgraded: bool


def sign_in(merchant_id: str, member_id: str) -> SignIn:
    merchant = merchants.get(merchant_id)
    day = clock.local_date(merchant.timezone, clock.now())
    key = idempotency.key(merchant_id, f"signin:{day.isoformat()}", member_id)
    req = idempotency.request(key, member_id, KIND, {"day": day.isoformat()})

    def result(posted: Posted, upgraded: bool) -> SignIn:
        return SignIn(
            day,
            posted.amounts.get(Account.POINTS, 0),
            posted.amounts.get(Account.GROWTH, 0),
            already_signed_in=posted.replayed,
            upgraded=upgraded and not posted.replayed,
        )

    def attempt() -> SignIn:
        growth = max(0, int(merchant.sign_in_growth))
        postings = ledger.postings({Account.GROWTH: growth, Account.POINTS: max(0, int(merchant.sign_in_points))})
        if not postings:
            raise KabaoError("SIGN_IN_DISABLED", "this merchant offers no sign-in reward")
        member = members.get(merchant_id, member_id)
        members.require_card(member)
        now = clock.now()
        op = Operation(key.op_key, KIND, postings, memo={"day": day.isoformat()}, idem=req)
        tx = Transaction()
        due_dates.earned_points(tx, merchant, member, int(merchant.sign_in_points), now)
        placement = upgrades.after_growth(tx, merchant, member, growth, now)
        posted = ledger.post(
            merchant_id, member_id, op, tx=tx, member_actions=placement.actions, member_condition=placement.condition
        )
        return result(posted, placement.upgraded)

    return idempotency.once(req, lambda: tiers.retrying(attempt), lambda record: result(ledger.replayed(record), False))
