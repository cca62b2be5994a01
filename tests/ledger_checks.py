"""The invariant every money test ends on: balances equal the sum of their ledger, none negative."""
from __future__ import annotations

from mini_program_api import ledger, members
from mini_program_api.ledger import Account


def checked_balances(merchant_id: str, member_id: str) -> dict[Account, int]:
    """The member's balances, after asserting they equal the ledger and are not negative."""
    member = members.get(merchant_id, member_id)
    balances = {a: int(getattr(member, a.value)) for a in Account}
    assert balances == ledger.balances_from_entries(merchant_id, member_id)
    assert all(v >= 0 for v in balances.values()), balances
    return balances
