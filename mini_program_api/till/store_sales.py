"""A store's counter sales, listed for its till: "the orders I just rang up", to reprint or refund one.

Sales live in partitions of their own (keyed by order id), so the sale's own transaction also writes a
reference `{created_at}#{order_id}` under the store and merchant-local day, in one of `SHARDS` partitions
(`MCH#{mid}#TILLSALES#{store_id}#{day}#{shard}`, the shard a hash of the order id): one partition per store
and day took every checkout of a busy store (bench/heat.py: 66% of a partition's writes at the seeds' 5000
requests/s with one store). A page queries the day's shards, and its partition from before the split
(`…#{day}`, still read, never written), merges them newest first by sort key (platform/paging.py `merged`:
the last sort key read is the one cursor), and reads the orders they name in one BatchGetItem. Each stays
small (the table's LSI caps an item collection at 10 GB). Sales made before references existed are not
listed; they stay reachable by order id (GET /v1/staff/orders/{order_id}).
"""

from __future__ import annotations

from datetime import date, datetime

from mini_program_api.db.orders import CheckoutOrder, OrderRef, checkout_pk
from mini_program_api.db.schema import shard_of
from mini_program_api.db.transact import Transaction
from mini_program_api.platform import clock, paging

SHARDS = 4  # a store's day over 4 partitions: 17% of one's writes at the heat bench's one-store peak


def _pk(merchant_id: str, store_id: str, day: date) -> str:
    return f"MCH#{merchant_id}#TILLSALES#{store_id}#{day.isoformat()}"


def _shard(order_id: str) -> int:
    return shard_of(order_id, SHARDS)


def day_pks(merchant_id: str, store_id: str, day: date) -> list[str]:
    """Every partition a store's day can be in: the one from before the split, then the shards."""
    day_pk = _pk(merchant_id, store_id, day)
    return [day_pk, *(f"{day_pk}#{n}" for n in range(SHARDS))]


def stage(tx: Transaction, merchant_id: str, store_id: str, order_id: str, at: datetime, tz: str) -> None:
    """The sale's reference, in the sale's own transaction (a sale is listed exactly when it exists)."""
    tx.put(
        "store_sale",
        OrderRef(
            f"{_pk(merchant_id, store_id, clock.local_date(tz, at))}#{_shard(order_id)}",
            f"{at.isoformat(timespec='microseconds')}#{order_id}",
            order_id=order_id,
            created_at=at,
        ),
        condition=OrderRef.sk.does_not_exist(),
    )


def page(merchant_id: str, store_id: str, day: date, cursor: str | None, limit: int) -> paging.Page[CheckoutOrder]:
    """The store's sales of that local day, newest first, refunded ones included (with their status)."""
    after = paging.after_of(cursor) if cursor else None
    refs, more = paging.merged(OrderRef, day_pks(merchant_id, store_id, day), after, limit, newest_first=True)
    ids = [r.order_id for r in refs]
    found = (
        {
            o.order_id: o
            for o in CheckoutOrder.batch_get(
                [(checkout_pk(merchant_id, i), "ORDER") for i in ids], consistent_read=True
            )
        }
        if ids
        else {}
    )
    return paging.Page([found[i] for i in ids if i in found], paging.after_cursor(refs[-1].sk) if more else None)
