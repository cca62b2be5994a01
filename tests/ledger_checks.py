"""The invariant every money test ends on: balances equal the sum of their ledger, none negative."""

from __future__ import annotations

from mini_program_api.db.models import member_pk
from mini_program_api.db.punch_cards import PunchCard
from mini_program_api.members import members
from mini_program_api.money import ledger
from mini_program_api.money.ledger import MEMBER_ACCOUNTS


def checked_balances(merchant_id: str, member_id: str) -> dict[str, int]:
    """The member's balances (and punch cards' uses), after asserting they equal the ledger, none negative."""
    member = members.get(merchant_id, member_id)
    balances = {a.value: int(getattr(member, a.value)) for a in MEMBER_ACCOUNTS}
    for card in PunchCard.query(
        member_pk(merchant_id, member_id), PunchCard.sk.startswith("PUNCH#"), consistent_read=True
    ):
        balances[f"punch:{card.card_id}"] = int(card.uses_left)
    assert balances == ledger.balances_from_entries(merchant_id, member_id)
    assert all(v >= 0 for v in balances.values()), balances
    return balances
