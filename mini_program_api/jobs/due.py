"""Work owed by scheduled jobs, found through the sparse `due_index` GSI (see db/schema.py).

An item is put on a job's list by setting `due_pk`/`due_sk` in the same write
that creates the obligation and taken off by removing them in the write that
settles it, so the list can never disagree with the items.

A job that fails on an item defers it (`defer`): its `due_sk` moves later,
exponentially with its attempt count, and the error is kept on the item. The list
is read oldest first, so without this a few items that always fail would stay at
its head and starve everything behind them. `due_since` keeps when the work first
fell due, for jobs whose work depends on it (`owed_since`); settling the item
(a new slot, or none) clears the failure record.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import chain, islice
from typing import Any, cast

from pynamodb.expressions.update import Action
from pynamodb.models import Model

from mini_program_api.db.due import DueMarker
from mini_program_api.db.models import Scheduled, member_pk
from mini_program_api.db.schema import DUE_SHARDS, DUE_SHARDS_OF
from mini_program_api.db.transact import Transaction, update_if
from mini_program_api.platform.errors import KabaoError

log = logging.getLogger(__name__)
RETRY_FIRST = timedelta(minutes=10)
RETRY_MAX = timedelta(days=1)
_ERROR_CHARS = 200


def stamp(at: datetime) -> str:
    """A due time as a sort key: always UTC, so keys compare as times whatever zone they came from."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def shards_of(job: str) -> int:
    """The partitions of `job`'s list (db/schema.py)."""
    return DUE_SHARDS_OF.get(job, DUE_SHARDS)


def slot(job: str, item_key: str, at: datetime) -> tuple[str, str]:
    """(due_pk, due_sk) for an item owed to `job` from `at` on."""
    shard = int(hashlib.sha1(item_key.encode()).hexdigest()[:8], 16) % shards_of(job)
    return f"DUE#{job}#{shard}", stamp(at)


# Shards read at once by `owed`: one after another, a run's 32 queries were most of a cold scheduled job's first
# run (bench/cold_start.py), and every run waits for them, due work or not.
READERS = 8


def owed(model: Any, job: str, now: datetime, limit: int) -> Iterator[tuple[str, str]]:
    """Keys (pk, sk) of `model` items due by `now`, oldest first per shard, at most `limit` in all: the shards in
    order, as if read one after another, though they are read `READERS` at a time (each up to `limit` items).

    GSIs are eventually consistent: callers re-read each item before acting and
    must tolerate one that was settled a moment ago.
    """
    if limit <= 0:
        return

    def shard(number: int) -> list[tuple[str, str]]:
        return [
            (item.pk, item.sk)
            for item in model.due.query(f"DUE#{job}#{number}", model.due_sk <= stamp(now), limit=limit)
        ]

    if shards_of(job) == 1:  # one query: a reader thread would only add its start and its first request's set-up
        yield from shard(0)
        return
    # Each reader runs in a copy of the run's context (what the run set, e.g. the local stack's fault injection,
    # holds in its readers too).
    with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix=f"due-{job}") as readers:
        runs = [readers.submit(contextvars.copy_context().run, shard, n) for n in range(shards_of(job))]
        shards = [run.result() for run in runs]
    yield from islice(chain.from_iterable(shards), limit)


def owes(job: str, now: datetime) -> bool:
    """Anything on `job`'s list due by `now`: what a scheduled function asks before it loads its job's code, which
    a run with nothing due (most minutes of an every-minute job) never needs. Eventually consistent, as `owed`:
    an item put on the list a moment ago may be seen by the next run only."""
    return next(owed(DueMarker, job, now, 1), None) is not None


def settled(model: Any) -> list[Action]:
    """Actions clearing an item's failure record: part of every write that gives it a new slot or none."""
    return [model.due_since.remove(), model.due_attempts.remove(), model.due_error.remove()]


def unslot(model: Any) -> list[Action]:
    """Actions taking an item off its job's list."""
    return [model.due_pk.remove(), model.due_sk.remove(), *settled(model)]


def mark(
    tx: Transaction,
    merchant_id: str,
    member_id: str,
    job: str,
    at: datetime,
    keep_earlier: bool = False,
    label: str = "",
) -> None:
    """Put the member on `job`'s list from `at` (or keep an earlier time already there), in `tx`.

    Keeping an earlier time also keeps a deferred one and its failure record: the work is still owed."""
    pk = member_pk(merchant_id, member_id)
    due_pk, due_sk = slot(job, pk, at)
    tx.update(
        f"{label}due:{job}",
        DueMarker(pk, f"DUE#{job}"),
        actions=[
            DueMarker.due_pk.set(due_pk),
            DueMarker.due_sk.set(DueMarker.due_sk | due_sk if keep_earlier else due_sk),
            DueMarker.merchant_id.set(merchant_id),
            DueMarker.member_id.set(member_id),
            *([] if keep_earlier else settled(DueMarker)),
        ],
    )


def unmark(tx: Transaction, merchant_id: str, member_id: str, job: str) -> None:
    """Take the member off `job`'s list, in `tx`."""
    pk = member_pk(merchant_id, member_id)
    tx.update(f"due:{job}", DueMarker(pk, f"DUE#{job}"), actions=unslot(DueMarker))


def retry_at(now: datetime, attempts: int, first: timedelta = RETRY_FIRST, most: timedelta = RETRY_MAX) -> datetime:
    """When an item that failed `attempts` times in a row is tried again: 10 min, 20, 40, ... at most a day
    (a job with a delivery budget, such as the wallet sync, starts and caps lower)."""
    return now + min(first * 2 ** min(attempts - 1, 16), most)


def failure(exc: Exception) -> str:
    """A failed item's error as a job reports it: the error code, or the exception's type for a bug."""
    return exc.code if isinstance(exc, KabaoError) else type(exc).__name__


def defer(
    item: Scheduled, now: datetime, exc: Exception, first: timedelta = RETRY_FIRST, most: timedelta = RETRY_MAX
) -> bool:
    """Move an item its job failed on to its next try and record the failure, unless it moved meanwhile
    (then whoever moved it settled it). It keeps its shard; `due_since` keeps the first due time."""
    model: Any = type(item)
    if item.due_sk is None:
        return False
    attempts = int(item.due_attempts or 0) + 1
    error = f"{failure(exc)}: {exc}"[:_ERROR_CHARS]
    scheduled = cast(Model, item)  # every Scheduled class is also a Model
    return update_if(
        scheduled,
        [
            model.due_sk.set(stamp(retry_at(now, attempts, first, most))),
            model.due_attempts.set(attempts),
            model.due_since.set(model.due_since | item.due_sk),
            model.due_error.set(error),
        ],
        model.due_sk == item.due_sk,
    )


def failed(
    job: str,
    item: Scheduled | None,
    now: datetime,
    exc: Exception,
    first: timedelta = RETRY_FIRST,
    most: timedelta = RETRY_MAX,
    key: str = "",
) -> str:
    """A job's failure on one item: logged (with the trace for a bug, and the item's key when given), the item
    deferred (`defer`; None: it is gone), and the error returned for the job's report. One item's failure
    never stops the job."""
    error = failure(exc)
    log.warning(
        "scheduled job item failed",
        extra={"job": job, "error": error, "item": key},
        exc_info=not isinstance(exc, KabaoError),
    )
    if item is not None:
        defer(item, now, exc, first, most)
    return error


def owed_since(item: Scheduled) -> str:
    """When the item's work first fell due (its due_sk, unless failures deferred it since)."""
    return item.due_since or str(item.due_sk)
