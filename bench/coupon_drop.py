"""Coupon drop: why stock is sharded (a model of DynamoDB's per-item limit), and that a drop over shards is exact.

One item (one partition key) accepts about 1000 WCU/s; a transactional write
costs 2 WCU per item per KB. A claim transaction updates its stock shard, puts
the coupon, bumps the member's per-template count, adds to a claim counter shard,
checks the member's card and writes its operation record: 6 items, 12 WCU, and the
coupon's reminder entry on the due index (1 WCU), of which 2 land on the stock
shard, so one stock item caps a drop near 500 claims/s. With N shards the shard
limit grows N-fold until the table's own write limit (the default on-demand account
quota, 40000 WCU/s per table, ~3000 claims/s) binds: a drop at 50 000 claims/s asks
AWS for a quota of about 650 000 WCU/s (bench/README.md, heat, measures it).

The local run drops a 1600-unit template with 2000 claims from 64 clients, once
over 16 shards and once over 1, and checks the count is exact (1600 coupons,
every shard at 0, the other 400 told SOLD_OUT).
"""
from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import quiet_app

ITEM_WCU_PER_SECOND = 1000
TRANSACT_WCU_PER_ITEM = 2
ITEMS_PER_CLAIM = 6
INDEX_WCU_PER_CLAIM = 1  # the coupon's reminder slot on due_index
TABLE_WCU_PER_SECOND = 40000


def claims_per_second(shards: int) -> tuple[float, float, float]:
    shard_limit = shards * ITEM_WCU_PER_SECOND / TRANSACT_WCU_PER_ITEM
    table_limit = TABLE_WCU_PER_SECOND / (TRANSACT_WCU_PER_ITEM * ITEMS_PER_CLAIM + INDEX_WCU_PER_CLAIM)
    return shard_limit, table_limit, min(shard_limit, table_limit)


def main() -> None:
    quiet_app()
    print("\nCoupon drop model: claims/s by stock shards (1 item ~1000 WCU/s, transactions cost 2 WCU per item)")
    print(f"{'shards':>6} {'shard limit':>12} {'table limit':>12} {'claims/s':>9} {'x 1 shard':>10}")
    base = claims_per_second(1)[2]
    for shards in (1, 2, 4, 8, 16, 256):
        shard_limit, table_limit, effective = claims_per_second(shards)
        print(f"{shards:6d} {shard_limit:12.0f} {table_limit:12.0f} {effective:9.0f} {effective / base:10.1f}")
    local_run()


def local_run(stock: int = 1600, claims: int = 2000, clients: int = 64) -> None:
    """The same drop twice in one run: a 16-shard template and a 1-shard one, `claims` claims each from
    `clients` threads, more claims than stock; then the exact count (coupons held = claims answered 200
    = stock, every shard at 0) and claims/s side by side."""
    from infra.local import stack as local_stack

    stack = local_stack.start(stage="local", table="kabao-bench-coupons")
    from infra.local.seed import seed
    from mini_program_api.merchants import merchants

    seed(stack.sandbox_server.url)
    merchant = merchants.get("demo")
    people = _members(merchant, claims // 4)
    print(f"\nLocal drop on DynamoDB Local: {claims} claims of a {stock}-unit template by {clients} clients, "
          f"{len(people)} members (limit 4 each)")
    print(f"{'shards':>6} {'claims/s':>9} {'x 1 shard':>10} {'200':>5} {'SOLD_OUT':>9} {'other':>6} {'held':>5} "
          f"{'left':>5}")
    results = [_drop(people, stock, claims, clients, shards) for shards in (1, 16)]
    stack.stop()
    base = results[0]["rate"]
    for r in results:
        print(f"{r['shards']:6d} {r['rate']:9.0f} {r['rate'] / base:10.2f} {r['ok']:5d} {r['sold_out']:9d} "
              f"{r['other']:6d} {r['held']:5d} {r['left']:5d}")
    for r in results:
        sound = r["ok"] == r["held"] and r["ok"] + r["left"] == stock
        print(f"{r['shards']} shard(s): {'no oversell, none lost' if sound else 'VIOLATION'}: {r['ok']} answered 200, "
              f"{r['held']} coupons held, {r['left']} of {stock} left; other answers: {r['codes'] or 'none'}")
    print("DynamoDB Local serialises writes and has no per-partition limit, so its claims/s compare the app's "
          "work per claim (retries on empty or conflicting shards), not the cloud's shard limit modelled above.")


def _members(merchant: Any, n: int) -> list[str]:
    """Members with open cards, made directly: the drop is what is measured."""
    from mini_program_api.db.models import PROFILE, Member, member_pk

    people = []
    for i in range(n):
        member_id = f"bench-{i}"
        Member(member_pk("demo", member_id), PROFILE, merchant_id="demo", member_id=member_id, openid=member_id,
               card_number=f"9{i:011d}", tier_id="normal", created_at=merchant.created_at).save()
        people.append(member_id)
    return people


def _drop(people: list[str], units: int, attempts: int, clients: int, shards: int) -> dict[str, Any]:
    from mini_program_api.coupons import claims, stock, templates
    from mini_program_api.db.coupon_templates import StockShard, stock_pk
    from mini_program_api.db.coupons import Coupon
    from mini_program_api.db.models import member_pk
    from mini_program_api.platform.errors import KabaoError

    original = stock.MAX_STOCK_SHARDS
    stock.MAX_STOCK_SHARDS = shards  # the bench's one knob: the same template, split over fewer shards
    try:
        template = templates.create_template("demo", templates.TemplateSpec(
            name=f"drop-{shards}", kind="CASH", amount=100, total_stock=units, per_member_limit=4, days_after_claim=7))
    finally:
        stock.MAX_STOCK_SHARDS = original

    def one(i: int) -> str:
        try:
            claims.claim("demo", people[i % len(people)], template.template_id, uuid.uuid4().hex)
            return "ok"
        except KabaoError as exc:
            return exc.code

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        answers = Counter(pool.map(one, range(attempts)))
    elapsed = time.perf_counter() - start
    left = [int(StockShard.get(stock_pk("demo", template.template_id, i), "STOCK", consistent_read=True).left)
            for i in range(int(template.shards))]
    held = sum(1 for person in people for c in Coupon.query(member_pk("demo", person), Coupon.sk.startswith("COUPON#"),
                                                             consistent_read=True) if c.template_id == template.template_id)
    return {"shards": int(template.shards), "rate": attempts / elapsed, "ok": answers.pop("ok", 0),
            "sold_out": answers.pop("SOLD_OUT", 0), "other": sum(answers.values()), "codes": dict(answers), "held": held,
            "left": sum(left)}


if __name__ == "__main__":
    main()
