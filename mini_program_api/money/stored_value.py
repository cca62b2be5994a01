"""Paying with stored value.

Spending takes bonus (赠送) first, then principal (本金): the member uses the gift
before their own money, and the principal stays whole for as long as possible,
so a later refund of a top-up (principal only, see topup/orders.py) remains possible.
"""

from __future__ import annotations

from mini_program_api.db.models import Member
from mini_program_api.members import members
from mini_program_api.money import ledger
from mini_program_api.money.ledger import Account, Operation, Posted
from mini_program_api.platform.errors import KabaoError

_ATTEMPTS = 3


def split(amount: int, bonus: int) -> tuple[int, int]:
    """(bonus part, principal part) of a payment of `amount` fen."""
    from_bonus = min(amount, bonus)
    return from_bonus, amount - from_bonus


def debits(member: Member, amount: int) -> dict[Account, int]:
    """The bonus and principal debits paying `amount` fen from this member's balances.

    When the balances are short it still asks for the whole amount from principal: the
    ledger then refuses a new payment (INSUFFICIENT_BALANCE) but replays a retried one."""
    if int(member.principal) + int(member.bonus) < amount:
        return {Account.BONUS: 0, Account.PRINCIPAL: -amount}
    from_bonus, from_principal = split(amount, int(member.bonus))
    return {Account.BONUS: -from_bonus, Account.PRINCIPAL: -from_principal}


def spend(
    merchant_id: str,
    member_id: str,
    amount: int,
    op_key: str,
    kind: str = "SPEND",
    memo: dict[str, str | int] | None = None,
) -> Posted:
    """Debit `amount` fen exactly once per `op_key`; INSUFFICIENT_BALANCE leaves everything untouched."""
    if type(amount) is not int or amount <= 0:
        raise ValueError("amount is a positive number of fen")
    for _ in range(_ATTEMPTS):
        member = members.get(merchant_id, member_id)
        postings = ledger.postings(debits(member, amount))
        op = Operation(op_key, kind, postings, memo=dict(memo or {}), request={"amount": amount, **(memo or {})})
        try:
            return ledger.post(merchant_id, member_id, op)
        except KabaoError as exc:
            if exc.code != "INSUFFICIENT_BALANCE" or int(member.principal) + int(member.bonus) < amount:
                raise
            # The balance moved between our read and the write: split again.
    raise KabaoError("CONCURRENT_UPDATE", "balance changed during payment, retry")
