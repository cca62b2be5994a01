"""Find a member by what the person at the desk has: a phone number, a card number, a scanned member
code or the member id. Each is one read of a lookup item (the phone through its keyed hash, platform/pii.py): no
phone number is ever decrypted to compare, and nothing is scanned."""

from __future__ import annotations

from mini_program_api.db.models import LOOKUP, Lookup, Member, lookup_pk
from mini_program_api.members import member_codes, members
from mini_program_api.platform import pii
from mini_program_api.platform.errors import KabaoError


def find(
    merchant_id: str,
    *,
    phone: str | None = None,
    card_number: str | None = None,
    member_code: str | None = None,
    member_id: str | None = None,
) -> Member | None:
    """The member named by exactly one of the keys, or None; another merchant's member is never found
    (every lookup key starts with this merchant's id)."""
    given = [v for v in (phone, card_number, member_code, member_id) if v is not None]
    if len(given) != 1:
        raise KabaoError("VALIDATION_ERROR", "search by exactly one of phone, card_number, member_code, member_id")
    if member_code is not None:
        try:
            member_id = member_codes.resolve(merchant_id, member_code)
        except KabaoError:
            return None
    elif phone is not None:
        member_id = _lookup(merchant_id, "PHONE", pii.phone_hash(merchant_id, phone))
    elif card_number is not None:
        member_id = _lookup(merchant_id, "CARD", card_number)
    if member_id is None:
        return None
    try:
        return members.get(merchant_id, member_id)
    except KabaoError:
        return None


def _lookup(merchant_id: str, kind: str, value: str) -> str | None:
    try:
        return str(Lookup.get(lookup_pk(merchant_id, kind, value), LOOKUP, consistent_read=True).target)
    except Lookup.DoesNotExist:
        return None
