"""The frozen rule: while a member is frozen (a stolen phone, a dispute), nothing spends their points or
stored value; what gives value back or is the merchant's own correction still goes through.

It is a condition in the spending transaction itself (`ledger.stage` adds it to the member row's update),
never a read before it: a freeze that commits first makes every later spend's transaction fail, however the
two race. Deny by default: any operation that debits points, principal or bonus is a spend unless its kind
is listed below, so a spending path added later is covered without touching this file."""

from __future__ import annotations

from collections.abc import Mapping

from pynamodb.expressions.condition import Condition

from mini_program_api.db.models import Member
from mini_program_api.platform.errors import KabaoError

# Accounts a freeze holds: what a thief could turn into goods (punch-card visits are used, not spent here;
# growth is not value).
HELD_ACCOUNTS = frozenset({"points", "principal", "bonus"})

# Debits that are not the member spending: a top-up refund (principal back to the payer through WeChat Pay,
# the bonus that came with it clawed back), a checkout refund's clawback of points the sale earned, points
# expiring, and an admin's audited adjustment.
NOT_SPENDING = frozenset({"TOPUP_REFUND", "CHECKOUT_REFUND", "POINTS_EXPIRED", "ADJUSTMENT"})

# A table, as the ledger's shortfall codes: only the routes that spend can meet it (infra/contract_errors.py).
REFUSAL = {"code": "MEMBER_FROZEN", "message": "this member's points and stored value are frozen"}


def refused() -> KabaoError:
    return KabaoError(REFUSAL["code"], REFUSAL["message"])


def spends(kind: str, debits: Mapping[str, int]) -> bool:
    """Whether an operation of `kind` debiting `debits` (account name -> fen or points taken) is a spend the
    freeze stops."""
    return kind not in NOT_SPENDING and any(debits.get(account, 0) > 0 for account in HELD_ACCOUNTS)


def not_frozen() -> Condition:
    """The condition on the member row that every spending transaction carries."""
    return Member.frozen_at.does_not_exist()


def is_frozen(member: Member) -> bool:
    return member.frozen_at is not None
