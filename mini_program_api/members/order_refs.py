"""A member's orders, listed: a reference in their partition per checkout and per top-up.

Orders live in partitions of their own (keyed by order id, so a WeChat Pay notify or a
refund finds them with one read). To page one member's orders without a scan, the order's
own transaction also writes `{CHECKOUT|TOPUP}#{created_at}#{order_id}` in the member's
partition; a page is one Query of those and one BatchGetItem of the orders they name.
Orders made before references existed are not listed.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from mini_program_api.db.models import member_pk
from mini_program_api.db.orders import CheckoutOrder, OrderRef, checkout_pk
from mini_program_api.db.transact import Transaction
from mini_program_api.platform import paging

if TYPE_CHECKING:
    from mini_program_api.db.topups import TopupOrder

CHECKOUT, TOPUP = "CHECKOUT", "TOPUP"


def stage(tx: Transaction, merchant_id: str, member_id: str, kind: str, order_id: str, at: datetime) -> None:
    tx.put(
        f"ref:{kind}",
        OrderRef(
            member_pk(merchant_id, member_id),
            f"{kind}#{at.isoformat(timespec='microseconds')}#{order_id}",
            order_id=order_id,
            created_at=at,
        ),
        condition=OrderRef.sk.does_not_exist(),
    )


def _refs(merchant_id: str, member_id: str, kind: str, cursor: str | None, limit: int) -> paging.Page[OrderRef]:
    prefix = f"{kind}#"
    return paging.query(
        OrderRef.query,
        member_pk(merchant_id, member_id),
        {"sk": prefix},
        cursor,
        limit,
        range_key_condition=OrderRef.sk.startswith(prefix),
        scan_index_forward=False,
    )


def checkouts(merchant_id: str, member_id: str, cursor: str | None, limit: int) -> paging.Page[CheckoutOrder]:
    """The member's counter sales, newest first."""
    refs = _refs(merchant_id, member_id, CHECKOUT, cursor, limit)
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


def topups(merchant_id: str, member_id: str, cursor: str | None, limit: int) -> paging.Page[TopupOrder]:
    """The member's top-up orders, newest first."""
    from mini_program_api.db.topups import TopupOrder, topup_pk  # here: a checkout writes its reference only

    refs = _refs(merchant_id, member_id, TOPUP, cursor, limit)
    ids = [r.order_id for r in refs.items]
    found = (
        {
            o.order_id: o
            for o in TopupOrder.batch_get([(topup_pk(merchant_id, i), "ORDER") for i in ids], consistent_read=True)
        }
        if ids
        else {}
    )
    return paging.Page([found[i] for i in ids if i in found], refs.cursor)
