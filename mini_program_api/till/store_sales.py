"""A store's counter sales, listed for its till: "the orders I just rang up", to reprint or refund one.

Sales live in partitions of their own (keyed by order id), so the sale's own transaction also writes a
reference `{created_at}#{order_id}` in a partition per store and merchant-local day
(`MCH#{mid}#TILLSALES#{store_id}#{day}`); a page is one Query of those, newest first, and one
BatchGetItem of the orders they name. A partition per store and day, not per merchant: its writes are
bounded by that store's tills (a sale takes a cashier seconds), never by the whole chain's traffic, and
each stays small (the table's LSI caps an item collection at 10 GB). Sales made before references
existed are not listed; they stay reachable by order id (GET /v1/staff/orders/{order_id}).
"""

from __future__ import annotations

from datetime import date, datetime

from mini_program_api.db.models import CheckoutOrder, OrderRef, checkout_pk
from mini_program_api.db.transact import Transaction
from mini_program_api.platform import clock, paging


def _pk(merchant_id: str, store_id: str, day: date) -> str:
    return f"MCH#{merchant_id}#TILLSALES#{store_id}#{day.isoformat()}"


def stage(tx: Transaction, merchant_id: str, store_id: str, order_id: str, at: datetime, tz: str) -> None:
    """The sale's reference, in the sale's own transaction (a sale is listed exactly when it exists)."""
    tx.put(
        "store_sale",
        OrderRef(
            _pk(merchant_id, store_id, clock.local_date(tz, at)),
            f"{at.isoformat(timespec='microseconds')}#{order_id}",
            order_id=order_id,
            created_at=at,
        ),
        condition=OrderRef.sk.does_not_exist(),
    )


def page(merchant_id: str, store_id: str, day: date, cursor: str | None, limit: int) -> paging.Page[CheckoutOrder]:
    """The store's sales of that local day, newest first, refunded ones included (with their status)."""
    refs = paging.query(
        OrderRef.query, _pk(merchant_id, store_id, day), {"sk": ""}, cursor, limit, scan_index_forward=False
    )
    ids = [r.order_id for r in refs.items]
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
    return paging.Page([found[i] for i in ids if i in found], refs.cursor)
