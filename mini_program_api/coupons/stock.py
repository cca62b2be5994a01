"""A template's stock, sharded so a coupon drop has no hot key.

Shard rule (`shard_count`): `min(16, total_stock)` shards, and for a big stock one shard per `UNITS_PER_SHARD`
units, up to `MAX_STOCK_SHARDS`, each under its own partition key (`MCH#{mid}#STOCK#{tid}#{i}`), filled as evenly
as possible (the first `total % shards` get one more). One DynamoDB item takes about 1000 WCU/s and a
transactional write costs 2, so one stock item caps a drop near 500 claims/s (250 at half a partition's limit);
a template of 256 000 units or more gets 256 shards, which carry a drop of 50 000 claims/s (10x the seeds'
peak) at under half of each partition (bench/README.md, heat). The count is fixed at creation (a template's
`shards`): a drop's size is its stock, so no other declaration is needed.

A claim guesses a shard without reading (most have stock). Each container remembers, for `EMPTY_SECONDS`, the
shards it found empty and whether it found them all empty (`Remembered`): a drop running dry then costs each
container one read of every shard (one BatchGetItem per 100) per shard that empties, never one per claim, and a
sold-out template is answered without a read. Stock only grows by an admin's change (template_admin), which
forgets what this container remembered; another container sees the new stock within `EMPTY_SECONDS`.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import datetime

from mini_program_api.db.coupon_templates import CouponTemplate, StockShard, stock_pk
from mini_program_api.db.transact import Transaction
from mini_program_api.platform import clock

MIN_STOCK_SHARDS = 16
MAX_STOCK_SHARDS = 256
UNITS_PER_SHARD = 1000
EMPTY_SECONDS = 5.0  # how long a container trusts a shard it saw empty (a restock elsewhere waits this long)


def shard_count(total: int) -> int:
    """Shards for a stock of `total`: at least `min(16, total)`, one per 1000 units beyond that, at most 256."""
    return max(min(MIN_STOCK_SHARDS, total), min(MAX_STOCK_SHARDS, -(-total // UNITS_PER_SHARD)))


def shard_sizes(total: int) -> list[int]:
    shards = shard_count(total)
    return [total // shards + (1 if i < total % shards else 0) for i in range(shards)]


def stocked_shards(merchant_id: str, template: CouponTemplate) -> list[int]:
    """The template's shards that held stock when read, in random order (where to try to take one)."""
    candidates = [shard for shard, left in shard_stock(merchant_id, template).items() if left > 0]
    random.shuffle(candidates)
    return candidates


def take(tx: Transaction, label: str, merchant_id: str, template_id: str, shard: int) -> None:
    """Take one unit of stock from `shard` in `tx`; a shard run dry since it was read cancels it (`label`)."""
    tx.update(
        label,
        StockShard(stock_pk(merchant_id, template_id, shard), "STOCK"),
        actions=[StockShard.left.add(-1)],
        condition=StockShard.left >= 1,
    )


def shard_stock(merchant_id: str, template: CouponTemplate) -> dict[int, int]:
    """Units left per shard, all shards consistently (BatchGetItem, 100 keys a call)."""
    keys = [(stock_pk(merchant_id, template.template_id, i), "STOCK") for i in range(int(template.shards))]
    with _lock:
        generation = _forgotten
    found = {int(s.pk.rsplit("#", 1)[1]): int(s.left) for s in StockShard.batch_get(keys, consistent_read=True)}
    empty = {i for i, n in found.items() if n <= 0}
    remember(merchant_id, template.template_id, empty, sold_out=not any(found.values()), whole=True, since=generation)
    return found


def remaining_stock(merchant_id: str, template: CouponTemplate) -> int:
    return sum(shard_stock(merchant_id, template).values())


@dataclass
class Remembered:
    """What this container last saw of a template's stock: shards found empty, and whether all were."""

    at: datetime
    empty: set[int] = field(default_factory=set)
    sold_out: bool = False


_seen: dict[tuple[str, str], Remembered] = {}
_lock = threading.Lock()
_MAX_REMEMBERED = 1024  # templates; a container that meets more starts over (it only costs reads)
_forgotten = 0  # bumped by every `forget`: a read that began before one is not kept (it may predate a restock)


def remembered(merchant_id: str, template_id: str) -> Remembered:
    """What this container saw of the template's stock within `EMPTY_SECONDS` (nothing once that has passed)."""
    now = clock.now()
    with _lock:
        seen = _seen.get((merchant_id, template_id))
        if seen is None or not 0 <= (now - seen.at).total_seconds() < EMPTY_SECONDS:
            return Remembered(now)
        return Remembered(seen.at, set(seen.empty), seen.sold_out)


def remember(
    merchant_id: str,
    template_id: str,
    empty: set[int],
    sold_out: bool = False,
    whole: bool = False,
    since: int | None = None,
) -> None:
    """Add `empty` shards to what this container knows; `whole`: every shard was read, so `empty` is all of
    them (and `sold_out`: every one at 0). `since`: the `forget` generation when the read began; a restock made
    here after it (the read may predate it) keeps nothing, as that container must see its restock at once."""
    now = clock.now()
    with _lock:
        if since is not None and since != _forgotten:
            return
        if len(_seen) >= _MAX_REMEMBERED:
            _seen.clear()
        seen = _seen.get((merchant_id, template_id))
        if whole or seen is None or not 0 <= (now - seen.at).total_seconds() < EMPTY_SECONDS:
            _seen[(merchant_id, template_id)] = Remembered(now, set(empty), sold_out)
        else:
            seen.empty |= empty


def forget(merchant_id: str, template_id: str) -> None:
    """Stock was added here: what this container saw empty may hold stock now."""
    global _forgotten
    with _lock:
        _forgotten += 1
        _seen.pop((merchant_id, template_id), None)
