"""A job's due list read by jobs/due.py `owed`: its shards are read at once (a cold scheduled run waited for 32
queries one after another, bench/cold_start.py), and what it yields is what reading them in order gave.

Given members owed to a job across the shards, some not yet due, when `owed` reads the list with a limit below,
at and above the count, then it yields the keys of the shards in order, each oldest first, cut at the limit:
the same as the shards queried one by one.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from mini_program_api.db.models import DueMarker
from mini_program_api.db.schema import DUE_SHARDS
from mini_program_api.db.transact import Transaction
from mini_program_api.jobs import due

MEMBERS = 60


def _one_by_one(job: str, now: Any, limit: int) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    for shard in range(DUE_SHARDS):
        for item in DueMarker.due.query(f"DUE#{job}#{shard}", DueMarker.due_sk <= due.stamp(now)):
            keys.append((item.pk, item.sk))
    return keys[:limit]


@pytest.mark.parametrize("limit", [1, 7, 45, MEMBERS, 500])
def test_owed_reads_the_shards_at_once_and_yields_them_in_order(merchant: Any, clock: Any, limit: int) -> None:
    job = f"test-{uuid.uuid4().hex[:8]}"
    for n in range(MEMBERS):
        tx = Transaction()
        late = n % 4 == 0  # a quarter owed only tomorrow: not due yet, never yielded
        due.mark(tx, merchant.merchant_id, f"m{n:03d}", job, clock.now + timedelta(days=1 if late else -1, minutes=n))
        tx.commit()
    owed = list(due.owed(DueMarker, job, clock.now, limit))
    expected = _one_by_one(job, clock.now, limit)
    assert owed == expected
    assert len(owed) == min(limit, MEMBERS - MEMBERS // 4)
    assert len({due.slot(job, pk, clock.now)[0] for pk, _ in owed}) > 1 or limit == 1  # several shards were read


def test_nothing_owed_reads_every_shard_and_yields_nothing(merchant: Any, clock: Any) -> None:
    assert list(due.owed(DueMarker, f"test-{uuid.uuid4().hex[:8]}", clock.now, 100)) == []
    assert list(due.owed(DueMarker, "any", clock.now, 0)) == []


def test_the_shards_are_queried_by_several_readers_at_once(merchant: Any, clock: Any) -> None:
    """What keeps the cut: the 32 queries are not made one after another by the job's own thread."""
    import threading

    from mini_program_api.db.models import connection

    readers: list[str] = []

    def seen(**_: Any) -> None:
        readers.append(threading.current_thread().name)

    events = connection().client.meta.events
    events.register("before-call.dynamodb.Query", seen)
    try:
        list(due.owed(DueMarker, f"test-{uuid.uuid4().hex[:8]}", clock.now, 100))
    finally:
        events.unregister("before-call.dynamodb.Query", seen)
    assert len(readers) == DUE_SHARDS
    assert threading.current_thread().name not in readers and len(set(readers)) > 1
