"""The one job runner: every scheduled job walks its work through here.

Three rules, each held in one place:
- the deadline: `out_of_time` is the only check of a job's time budget (functions/budget.py computes the
  budget from the Lambda context). It is asked before each item is taken, never after, so a run stops with
  the rest of its work intact rather than being killed by Lambda in the middle of an item;
- isolation: an item that fails (whatever it raises) is logged and deferred with backoff (`due.failed`), and
  the walk goes on, so one bad item never stops a job nor, deferred, starves the items behind it (an item whose
  deferral fails too, the database not answering, stays due as it was);
- the report: `Report` says how much was due, done and failed, and whether the run stopped early; a job's
  own report adds its counts to it.

`walk` is the loop; `due_list` walks a job's due list (jobs/due.py), which is what almost every job is. The
report jobs walk the merchants' pages instead (they resume from state they save), through `walk` too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from mini_program_api.db.models import Scheduled
from mini_program_api.jobs import due
from mini_program_api.platform import clock

log = logging.getLogger(__name__)


def out_of_time(deadline: float | None) -> bool:
    """True once `deadline` (a `time.monotonic()`, None: no limit) has come: take no new work."""
    return deadline is not None and time.monotonic() >= deadline


def turn(deadline: float | None, waiting: int) -> float | None:
    """When one item's turn ends (a `time.monotonic()`, None: no limit) so that the `waiting` items of this run
    (it among them) each get theirs: an even share of the time left before `deadline`. A job whose items are
    long (an issue job's pages) gives way at the end of its turn instead of holding the rest for the whole run."""
    if deadline is None:
        return None
    now = time.monotonic()
    return now + max(0.0, deadline - now) / max(1, waiting)


@dataclass
class Report:
    """What a run did: the shape every job reports, and its own counts beside these."""

    job: str
    due: int = 0  # items found due (at most the batch size): the backlog
    done: int = 0
    failed: list[str] = field(default_factory=list)  # the failed items' errors (codes, or a bug's type)
    stopped_early: bool = False  # the deadline came before the items found due were done
    more: bool = False  # work is left for the next run: stopped early, or the batch was full


Item = TypeVar("Item")
UNFINISHED = object()  # what a handler returns when the deadline came in the middle of its item
R = TypeVar("R", bound=Report)


def walk(
    report: R,
    items: Iterable[Item],
    handle: Callable[[Item], object],
    failed: Callable[[Item, Exception], str],
    deadline: float | None,
) -> R:
    """Handle each item until the deadline: counted in `report.done`, or its failure (what `failed` returns,
    after it deferred the item) in `report.failed`. `items` is read lazily, so a deadline stops the paging
    too. Sets `stopped_early` (and `more`) when the deadline stopped it, before an item or inside one: a
    handler that returns `UNFINISHED` ran out of time on its item, saved where it was, and resumes next run."""
    for item in items:
        if out_of_time(deadline):
            report.stopped_early = report.more = True
            break
        try:
            outcome = handle(item)
        except Exception as exc:  # noqa: BLE001 - one item's failure, whatever it is, must not stop the rest
            try:
                report.failed.append(failed(item, exc))
            except Exception:  # noqa: BLE001 - deferring it met the same outage: it stays due as it was
                log.warning("scheduled job item not deferred", extra={"job": report.job}, exc_info=True)
                report.failed.append(due.failure(exc))
            continue
        if outcome is UNFINISHED:
            report.stopped_early = report.more = True
            break
        report.done += 1
    return report


@dataclass
class PerMerchant(Report):
    statuses: dict[str, str] = field(default_factory=dict)  # merchant id -> where its run ended (FAILED: raised)


def per_merchant(
    job: str,
    merchant_ids: Iterable[str],
    run_one: Callable[[str], str],
    cut_short: Callable[[str], bool],
    deadline: float | None,
) -> PerMerchant:
    """Run a job that keeps its own place per merchant (the report jobs page each merchant's members and save
    their state) for every merchant in turn: `run_one` returns the merchant's status, one that `cut_short` knows
    when the deadline cut its walk short (then the run stops: the next one resumes there). A merchant whose run
    raises is logged and marked FAILED, and the others go on."""
    report = PerMerchant(job)

    def counted() -> Iterator[str]:
        for merchant_id in merchant_ids:
            report.due += 1
            yield merchant_id

    def handle(merchant_id: str) -> object:
        report.statuses[merchant_id] = run_one(merchant_id)
        return UNFINISHED if cut_short(report.statuses[merchant_id]) else None

    def failed(merchant_id: str, exc: Exception) -> str:
        report.statuses[merchant_id] = "FAILED"
        return due.failed(job, None, clock.now(), exc, key=merchant_id)

    return walk(report, counted(), handle, failed, deadline)


def least_recent_first(merchant_ids: Iterable[str], state: Callable[[str], tuple[bool, datetime | None]]) -> list[str]:
    """The order a per-merchant nightly job takes its merchants in: walks cut short first (they resume), then
    merchants never done, then the longest since done. `state(merchant_id)` says (unfinished, finished_at).
    In roster order, a night whose budget ran out before the last merchant would start again from the first
    the next night, and the merchants at the end of the roster would never be reached."""

    def key(merchant_id: str) -> tuple[int, str]:
        unfinished, finished_at = state(merchant_id)
        if unfinished:
            return 0, ""
        return (1, "") if finished_at is None else (2, finished_at.isoformat())

    return sorted(merchant_ids, key=key)


Key = tuple[str, str]


def due_list(
    report: R,
    model: type[Any],
    handle: Callable[[str, str], None],
    now: datetime,
    limit: int,
    deadline: float | None,
    deferred_by_handle: bool = False,
) -> R:
    """Walk `report.job`'s due list of `model` items (at most `limit`, oldest first) with `handle(pk, sk)`.

    A failed item is read again (consistently: the handler may have changed it) and deferred with the due
    list's backoff (10 minutes, doubling, at most a day). A handler that logs and defers its own failures
    (the wallet sync's `push`, which the stream path calls too) says so with `deferred_by_handle`: the runner
    then only reports them. `more` is set when the batch was full too."""
    keys = list(due.owed(model, report.job, now, limit))
    report.due = len(keys)

    def fail(key: Key, exc: Exception) -> str:
        if deferred_by_handle:
            return due.failure(exc)
        return due.failed(report.job, _item(model, *key), now, exc, key=key[0])

    walk(report, keys, lambda key: handle(*key), fail, deadline)
    report.more = report.more or len(keys) >= limit
    return report


def _item(model: type[Any], pk: str, sk: str) -> Scheduled | None:
    try:
        item: Scheduled = model.get(pk, sk, consistent_read=True)
    except model.DoesNotExist:
        return None
    return item
