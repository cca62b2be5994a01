"""A template's stock, sharded so a coupon drop has no hot key.

Shard rule: the stock is split over `min(16, total_stock)` shard items, each under its own partition key
(`MCH#{mid}#STOCK#{tid}#{i}`), as evenly as possible (the first `total % shards` get one more). One DynamoDB item
takes about 1000 WCU/s and a transactional write costs 2, so one stock item would cap a drop near 500 claims/s;
16 shards lift that to the table's limit (see bench/coupon_drop.py).
"""

from __future__ import annotations

import random

from mini_program_api.db.models import (
    CouponTemplate,
    StockShard,
    stock_pk,
)
from mini_program_api.db.transact import Transaction

MAX_STOCK_SHARDS = 16


def shard_sizes(total: int) -> list[int]:
    shards = min(MAX_STOCK_SHARDS, total)
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
    """Units left per shard, all shards in one consistent BatchGetItem."""
    keys = [(stock_pk(merchant_id, template.template_id, i), "STOCK") for i in range(int(template.shards))]
    return {int(s.pk.rsplit("#", 1)[1]): int(s.left) for s in StockShard.batch_get(keys, consistent_read=True)}


def remaining_stock(merchant_id: str, template: CouponTemplate) -> int:
    return sum(shard_stock(merchant_id, template).values())
