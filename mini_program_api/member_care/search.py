"""Find a member by what the person at the desk has: a phone number, a card number, a scanned member
code or the member id. Each is one read of a lookup item (the phone through its keyed hash, platform/pii.py): no
phone number is ever decrypted to compare, and nothing is scanned. And lists of members by name and by tag
(`listing`), each through its own index items."""

from __future__ import annotations

import re

from mini_program_api.db.models import LOOKUP, PROFILE, Lookup, Member, lookup_pk, member_pk
from mini_program_api.member_care import tags
from mini_program_api.members import cardholders, member_codes, members, names
from mini_program_api.platform import paging, pii
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


def listing(
    merchant_id: str, name: str | None, tag_id: str | None, cursor: str | None, limit: int
) -> paging.Page[Member]:
    """A page of members by the beginning of their name (members/names.py), by tag (the tag's partition), or by
    both (the name's page, keeping those who carry the tag: a page may then hold fewer than `limit`, its cursor
    goes on). Names and tags both index by key: nothing is scanned. Neither: every cardholder, in the sharded
    cardholder walk's order (members/cardholders.py)."""
    if name is None and tag_id is None:
        return _cardholders(merchant_id, cursor, limit)
    if name is not None:
        by_name = names.search(merchant_id, name, cursor, limit)
        if tag_id is not None:
            tags.get(merchant_id, tag_id)  # an unknown tag is a 404, not an empty list
        ids, next_cursor = [str(e.member_id) for e in by_name.items], by_name.cursor
    else:
        assert tag_id is not None
        by_tag = tags.members_of(merchant_id, tag_id, cursor, limit)
        ids, next_cursor = [str(e.member_id) for e in by_tag.items], by_tag.cursor
    rows = {m.member_id: m for m in Member.batch_get([(member_pk(merchant_id, i), PROFILE) for i in ids])}
    chosen = [rows[i] for i in ids if i in rows and (tag_id is None or tag_id in (rows[i].tag_ids or ()))]
    return paging.Page(chosen, next_cursor)


def _cardholders(merchant_id: str, cursor: str | None, limit: int) -> paging.Page[Member]:
    """The walk's cursor `{partition}/{member id}` travels as `{partition}_{member id}`: a page cursor is
    URL-safe without escaping (routes' PageQuery), and the partition is digits, so the first `_` splits it."""
    walk_cursor = None
    if cursor:
        partition, _, member_id = cursor.partition("_")
        if not re.fullmatch("[0-9]{1,3}", partition):
            raise KabaoError("INVALID_CURSOR", "cursor is not valid for this list")
        walk_cursor = f"{partition}/{member_id}"
    walked = cardholders.rows(merchant_id, walk_cursor, limit)
    return paging.Page(walked.members, walked.cursor.replace("/", "_", 1) if walked.cursor else None)
