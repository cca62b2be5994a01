"""Walking a merchant's cardholders: the one function every job over "all members" pages through (coupon
issue jobs, tag jobs, exports), so a change to the sparse `cardholders` index (db/schema.py; sharding it)
lands here alone.

A page is one bounded Query of the index from the last member id read, then one BatchGetItem of those rows:
each cardholder is read once per walk, the rest of the table never."""

from __future__ import annotations

from dataclasses import dataclass

from mini_program_api.db.models import Member, cardholders_pk


@dataclass(frozen=True)
class Walked:
    members: list[Member]  # in index order; a row gone since the index was read is left out
    scanned: int  # index entries read
    cursor: str | None  # the last member id read, where the next page starts; None: the walk is over


def page(merchant_id: str, after: str | None, size: int) -> Walked:
    """The cardholders after member id `after` (None: from the start), at most `size`."""
    condition = Member.cards_sk > after if after else None
    keys = [(m.pk, m.sk) for m in Member.cardholders.query(cardholders_pk(merchant_id), condition, limit=size)]
    if not keys:
        return Walked([], 0, None)
    rows = {m.member_id: m for m in Member.batch_get(keys, consistent_read=True)}
    ordered = [pk.rsplit("#", 1)[1] for pk, _ in keys]
    return Walked([rows[m] for m in ordered if m in rows], len(keys), ordered[-1] if len(keys) == size else None)
