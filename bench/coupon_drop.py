"""Coupon drop: why stock must be sharded, as a model of DynamoDB's per-item write limit.

One item (one partition key) accepts about 1000 WCU/s; a transactional write
costs 2 WCU per item per KB. A claim transaction updates its stock shard, puts
the coupon and bumps the member's per-template count: 3 items, 6 WCU, of which
2 land on the stock shard, so one stock item caps a drop near 500 claims/s. With
N shards the shard limit grows N-fold until the table's own write limit (the
default on-demand account quota, 40000 WCU/s per table) binds.
"""
from __future__ import annotations

ITEM_WCU_PER_SECOND = 1000
TRANSACT_WCU_PER_ITEM = 2
ITEMS_PER_CLAIM = 3
TABLE_WCU_PER_SECOND = 40000


def claims_per_second(shards: int) -> tuple[float, float, float]:
    shard_limit = shards * ITEM_WCU_PER_SECOND / TRANSACT_WCU_PER_ITEM
    table_limit = TABLE_WCU_PER_SECOND / (TRANSACT_WCU_PER_ITEM * ITEMS_PER_CLAIM)
    return shard_limit, table_limit, min(shard_limit, table_limit)


def main() -> None:
    print("\nCoupon drop model: claims/s by stock shards (1 item ~1000 WCU/s, transactions cost 2 WCU per item)")
    print(f"{'shards':>6} {'shard limit':>12} {'table limit':>12} {'claims/s':>9} {'x 1 shard':>10}")
    base = claims_per_second(1)[2]
    for shards in (1, 2, 4, 8, 16, 32):
        shard_limit, table_limit, effective = claims_per_second(shards)
        print(f"{shards:6d} {shard_limit:12.0f} {table_limit:12.0f} {effective:9.0f} {effective / base:10.1f}")
    print("The local run of concurrent claims over shards waits for coupons (issue 4): no claim code exists yet.")


if __name__ == "__main__":
    main()
