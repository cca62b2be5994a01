"""A merchant's cardholders as one walk every job pages: the sparse `cardholders` GSI (db/schema.py).

The index is split over `CARDHOLDER_SHARDS` partitions per merchant (`MCH#{mid}#CARDHOLDERS#{shard}`, the
shard a hash of the member id, so a member stays in one): one partition per merchant took every card opening
and every walk's reads. A walk reads the partitions one after another (`db.models.cardholder_partitions`):
first the unsharded one from before the split, which members whose card opened then are still on, then the
shards, each by member id.

The cursor is `{partition}/{last member id}` (member ids never hold a `/`); a cursor saved before the split
(a bare member id, an issue job's at the deploy) is a place in the old partition, so a running job carries on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from mini_program_api.db.models import Member, cardholder_partitions
from mini_program_api.platform.errors import KabaoError

_CURSOR = re.compile(r"(?:([0-9]{1,3})/)?([A-Za-z0-9_\-]{0,64})")


@dataclass(frozen=True)
class Page:
    keys: list[tuple[str, str]]  # member rows' (pk, sk), in walking order
    cursor: str | None  # where the next page starts; None: every cardholder was walked


def page(merchant_id: str, cursor: str | None, size: int) -> Page:
    """Up to `size` cardholders from `cursor` on, reading on into the next partitions while the page has room
    (one Query each, at most every partition once). Eventually consistent, as every GSI read."""
    partitions = cardholder_partitions(merchant_id)
    at, after = _start(cursor, len(partitions))
    keys: list[tuple[str, str]] = []
    while at < len(partitions):
        condition = Member.cards_sk > after if after else None
        need = size - len(keys)
        got = [(m.pk, m.sk) for m in Member.cardholders.query(partitions[at], condition, limit=need, page_size=need)]
        keys += got
        if len(keys) >= size:
            return Page(keys, f"{at}/{_member_id(got[-1][0])}")
        at, after = at + 1, ""
    return Page(keys, None)


def walk(merchant_id: str, size: int = 100) -> Iterator[tuple[str, str]]:
    """Every cardholder's member row key, a page at a time (for a job that needs no cursor of its own)."""
    cursor: str | None = None
    while True:
        got = page(merchant_id, cursor, size)
        yield from got.keys
        if got.cursor is None:
            return
        cursor = got.cursor


def _member_id(pk: str) -> str:
    return pk.rsplit("#", 1)[1]


def _start(cursor: str | None, partitions: int) -> tuple[int, str]:
    if not cursor:
        return 0, ""
    match = _CURSOR.fullmatch(cursor)
    if not match or int(match.group(1) or 0) >= partitions:
        raise KabaoError("INVALID_CURSOR", "cursor is not valid for this list")
    return int(match.group(1) or 0), match.group(2)


@dataclass(frozen=True)
class Walked:
    members: list[Member]  # in walking order; a row gone since the index was read is left out
    scanned: int  # index entries read
    cursor: str | None  # where the next page starts; None: every cardholder was walked


def rows(merchant_id: str, cursor: str | None, size: int) -> Walked:
    """A page of the walk as member rows: `page`, then one consistent BatchGetItem of the rows it names."""
    got = page(merchant_id, cursor, size)
    if not got.keys:
        return Walked([], 0, got.cursor)
    found = {m.member_id: m for m in Member.batch_get(got.keys, consistent_read=True)}
    ordered = [_member_id(pk) for pk, _ in got.keys]
    return Walked([found[m] for m in ordered if m in found], len(got.keys), got.cursor)
