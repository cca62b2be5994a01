"""Work owed by scheduled jobs, found through the sparse `due_index` GSI (see db/schema.py).

An item is put on a job's list by setting `due_pk`/`due_sk` in the same write
that creates the obligation and taken off by removing them in the write that
settles it, so the list can never disagree with the items.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from .db.models import DueMarker, member_pk
from .db.schema import DUE_SHARDS
from .db.transact import Transaction


def stamp(at: datetime) -> str:
    """A due time as a sort key: always UTC, so keys compare as times whatever zone they came from."""
    return at.astimezone(timezone.utc).isoformat(timespec="microseconds")


def slot(job: str, item_key: str, at: datetime) -> tuple[str, str]:
    """(due_pk, due_sk) for an item owed to `job` from `at` on."""
    shard = int(hashlib.sha1(item_key.encode()).hexdigest()[:8], 16) % DUE_SHARDS
    return f"DUE#{job}#{shard}", stamp(at)


def owed(model: Any, job: str, now: datetime, limit: int) -> Iterator[tuple[str, str]]:
    """Keys (pk, sk) of `model` items due by `now`, oldest first per shard, at most `limit` in all.

    GSIs are eventually consistent: callers re-read each item before acting and
    must tolerate one that was settled a moment ago.
    """
    left = limit
    for shard in range(DUE_SHARDS):
        if left <= 0:
            return
        for item in model.due.query(f"DUE#{job}#{shard}", model.due_sk <= stamp(now), limit=left):
            left -= 1
            yield item.pk, item.sk


def mark(tx: Transaction, merchant_id: str, member_id: str, job: str, at: datetime, keep_earlier: bool = False,
         label: str = "") -> None:
    """Put the member on `job`'s list from `at` (or keep an earlier time already there), in `tx`."""
    pk = member_pk(merchant_id, member_id)
    due_pk, due_sk = slot(job, pk, at)
    tx.update(f"{label}due:{job}", DueMarker(pk, f"DUE#{job}"), actions=[
        DueMarker.due_pk.set(due_pk), DueMarker.due_sk.set(DueMarker.due_sk | due_sk if keep_earlier else due_sk),
        DueMarker.merchant_id.set(merchant_id), DueMarker.member_id.set(member_id)])


def unmark(tx: Transaction, merchant_id: str, member_id: str, job: str) -> None:
    """Take the member off `job`'s list, in `tx`."""
    pk = member_pk(merchant_id, member_id)
    tx.update(f"due:{job}", DueMarker(pk, f"DUE#{job}"),
              actions=[DueMarker.due_pk.remove(), DueMarker.due_sk.remove()])
