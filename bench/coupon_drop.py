"""Coupon drop: why stock is sharded (a model of DynamoDB's per-item limit), and that claims spread evenly.

One item (one partition key) accepts about 1000 WCU/s; a transactional write
costs 2 WCU per item per KB. A claim transaction updates its stock shard, puts
the coupon and bumps the member's per-template count: 3 items, 6 WCU, of which
2 land on the stock shard, so one stock item caps a drop near 500 claims/s. With
N shards the shard limit grows N-fold until the table's own write limit (the
default on-demand account quota, 40000 WCU/s per table) binds.

The local run claims half of a 640-unit, 16-shard template from 16 threads and
counts the units taken from each shard: an even spread is what makes the
model's N-fold hold.
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
    local_run()


def local_run(stock: int = 640, claims: int = 320, threads: int = 16) -> None:
    import statistics
    import time
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    from infra.local import stack as local_stack

    stack = local_stack.start(stage="local", table="kabao-bench-coupons")
    from infra.local.seed import seed
    from mini_program_api import coupons, merchants
    from mini_program_api.db.models import PROFILE, Member, StockShard, member_pk, stock_pk

    seed(stack.sandbox_server.url)
    merchant = merchants.get("demo")
    people = []
    for i in range(claims // 4):  # members with open cards, made directly: the drop is what is measured
        member_id = f"bench-{i}"
        Member(member_pk("demo", member_id), PROFILE, merchant_id="demo", member_id=member_id, openid=member_id,
               card_number=f"9{i:011d}", tier_id="normal", created_at=merchant.created_at).save()
        people.append(member_id)
    template = coupons.create_template("demo", coupons.TemplateSpec(
        name="drop", kind="CASH", amount=100, total_stock=stock, per_member_limit=4, days_after_claim=7))
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: coupons.claim("demo", people[i % len(people)], template.template_id, uuid.uuid4().hex),
                      range(claims)))
    elapsed = time.perf_counter() - start
    size = stock // int(template.shards)
    taken = [size - int(StockShard.get(stock_pk("demo", template.template_id, i), "STOCK", consistent_read=True).left)
             for i in range(int(template.shards))]
    stack.stop()
    mean = statistics.mean(taken)
    print(f"\nLocal drop: {claims} claims of a {stock}-unit template over {len(taken)} shards, {threads} threads")
    print(f"units taken per shard: min {min(taken)}, max {max(taken)}, mean {mean:.0f}, "
          f"max/mean {max(taken) / mean:.2f}, stdev/mean {statistics.pstdev(taken) / mean:.2f}")
    print(f"(so the hottest shard takes {max(taken) / sum(taken):.1%} of the writes instead of 100%; "
          f"{claims / elapsed:.0f} claims/s here on DynamoDB Local, in-process client)")


if __name__ == "__main__":
    main()
