"""Punch-card plans and the cards members hold (till/punch_cards.py).

A family of the table's models (see `models.py`): a module apart, so that a request builds only the model classes
it uses. Keys are documented in `schema.py`.
"""

from __future__ import annotations

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from mini_program_api.db.models import Item


class PunchPlan(Item):
    """A punch card (次卡) a merchant sells or gives: `visits` uses within `valid_days`."""

    merchant_id = UnicodeAttribute()
    plan_id = UnicodeAttribute()
    name = UnicodeAttribute()
    visits = NumberAttribute()
    price = NumberAttribute(null=True)  # fen of stored value; None: issued by admin only
    valid_days = NumberAttribute()
    store_ids = ListAttribute(of=UnicodeAttribute, default=list)
    created_at = UTCDateTimeAttribute()


class PunchCard(Item):
    """A member's punch card; `uses_left` is a ledger balance (account punch, per card)."""

    card_id = UnicodeAttribute()
    plan_id = UnicodeAttribute()
    name = UnicodeAttribute()
    visits = NumberAttribute()
    uses_left = NumberAttribute()
    store_ids = ListAttribute(of=UnicodeAttribute, default=list)
    valid_until = UTCDateTimeAttribute()
    issued_at = UTCDateTimeAttribute()


def punch_plan_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#PUNCHPLAN"
