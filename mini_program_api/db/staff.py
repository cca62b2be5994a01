"""A merchant's stores, staff and admin accounts, and the audit trail of what they did (staff/).

A family of the table's models (see `models.py`): a module apart, so that a request builds only the model classes
it uses. Keys are documented in `schema.py`.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import BooleanAttribute, MapAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from mini_program_api.db.models import Item


class Store(Item):
    merchant_id = UnicodeAttribute()
    store_id = UnicodeAttribute()
    name = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    # Set: closed for good. Kept (ids in templates and orders still name it), off the members' list, no logins.
    closed_at = UTCDateTimeAttribute(null=True)


class StaffAccount(Item):
    """A person at the counter (role staff, bound to a store) or in the back office (role admin)."""

    merchant_id = UnicodeAttribute()
    username = UnicodeAttribute()
    role = UnicodeAttribute()
    store_id = UnicodeAttribute(null=True)
    password_hash = UnicodeAttribute()  # scrypt, see staff/accounts.py
    failed_logins = NumberAttribute(default=0)
    locked_until = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    disabled = BooleanAttribute(default=False)
    # Carried in each session token ("ver") and compared on every call: bumping it ends every session at once.
    token_version = NumberAttribute(default=0)


def store_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#STORE"


def staff_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#STAFF"


class AuditRecord(Item):
    """Who did what where: written in the same transaction as the action it records.

    An action about a member is written twice in that transaction: under its day's shard
    (staff/audit.py) and, as a copy, in the member's partition (sk `AUDIT#{time}#{rand}`), so a member's
    trail pages without a scan."""

    member_id = UnicodeAttribute(null=True)
    actor = UnicodeAttribute()
    role = UnicodeAttribute()
    store_id = UnicodeAttribute(null=True)
    action = UnicodeAttribute()
    target = UnicodeAttribute()
    detail: MapAttribute[str, Any] = MapAttribute(default=dict)
    at = UTCDateTimeAttribute()
