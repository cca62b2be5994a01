"""A member's ledger entries and the operations' records (money/ledger.py, money/idempotency.py).

A family of the table's models (see `models.py`): a module apart, so that a request builds only the model classes
it uses. Keys are documented in `schema.py`.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import MapAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute

from mini_program_api.db.models import Item, LedgerByTime
from mini_program_api.db.schema import TTL_ATTRIBUTE


class LedgerEntry(Item):
    """Immutable: written once, with `attribute_not_exists`, never updated or deleted."""

    lsi1 = UnicodeAttribute()
    by_time = LedgerByTime()
    op_key = UnicodeAttribute()
    account = UnicodeAttribute()
    card_id = UnicodeAttribute(null=True)  # punch-card entries: which card
    amount = NumberAttribute()
    kind = UnicodeAttribute()
    fingerprint = UnicodeAttribute()
    memo: MapAttribute[str, Any] = MapAttribute(default=dict)
    created_at = UTCDateTimeAttribute()


class OperationRecord(Item):
    """One per idempotency key (see money/idempotency.py): what the request was and what it did.

    Written once, with `attribute_not_exists`, in the operation's own transaction."""

    op_key = UnicodeAttribute()
    kind = UnicodeAttribute()
    member_id = UnicodeAttribute()
    fingerprint = UnicodeAttribute()
    member_code = UnicodeAttribute(null=True)  # hash of the member code a staff request named its member by
    amounts: MapAttribute[str, int] = MapAttribute(default=dict)  # ledger account -> amount posted
    result: MapAttribute[str, Any] = MapAttribute(default=dict)  # the ids the operation made or touched
    created_at = UTCDateTimeAttribute()
    # A client's key only: forgotten a week after the operation (money/idempotency.py CLIENT_KEY_RETENTION).
    expires_ttl = TTLAttribute(null=True, attr_name=TTL_ATTRIBUTE)
