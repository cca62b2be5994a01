"""RFM's months on the member row: what a checkout adds to them, and what its refund takes back out.

The member row's `rfm` map holds, per merchant-local month, purchases (`n:YYYY-MM`) and fen paid (`v:YYYY-MM`: the
order after tier and coupon discounts, however it was paid), and the last purchase time (`last`), kept by the sale's
own transaction: O(1) per event, no read. Apart from reports/rfm.py (the nightly scoring job, its state items, the
segments): a checkout's cold first request loads only this.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action

from mini_program_api.db.models import Member
from mini_program_api.db.orders import CheckoutOrder
from mini_program_api.merchants import merchants
from mini_program_api.platform import clock

MONTHS = 12


def _month(merchant_id: str, at: datetime) -> str:
    return clock.local_date(merchants.get(merchant_id).timezone, at).isoformat()[:7]


def paid(order: CheckoutOrder) -> int:
    return int(order.amount) - int(order.tier_discount) - int(order.coupon_discount)


def on_sale(member: Member, order: CheckoutOrder) -> tuple[list[Action], Condition]:
    """The member-row actions adding this sale to its month (and dropping months past 12), with the
    condition that the row's `rfm` is as read (created here the first time)."""
    month, now = _month(str(order.merchant_id), order.created_at), order.created_at
    current = member.rfm.as_dict() if member.rfm is not None else None
    if current is None:
        return (
            [Member.rfm.set({f"n:{month}": 1, f"v:{month}": paid(order), "last": now.isoformat()})],
            Member.rfm.does_not_exist(),
        )
    oldest = months_back(month, MONTHS - 1)
    stale = sorted(k for k in current if k[:2] in ("n:", "v:") and k[2:] < oldest)
    previous = [Path(["rfm", "prev"]).set(str(current["last"]))] if "last" in current else []
    # Pinned to the last purchase as read: two concurrent sales must not both call themselves the next one.
    pinned = Path(["rfm", "last"]) == current["last"] if "last" in current else Path(["rfm", "last"]).does_not_exist()
    actions: list[Action] = [
        Path(["rfm", f"n:{month}"]).add(1),
        Path(["rfm", f"v:{month}"]).add(paid(order)),
        Path(["rfm", "last"]).set(now.isoformat()),
        *previous,
        *(Path(["rfm", k]).remove() for k in stale),
    ]
    return actions, Member.rfm.exists() & pinned


def history(member: Member) -> tuple[datetime | None, datetime | None]:
    """The member's last purchase and the one before it, as the row was read (for repurchase counters)."""
    current = member.rfm.as_dict() if member.rfm is not None else {}
    return tuple(
        datetime.fromisoformat(str(current[k])) if k in current else None  # type: ignore[return-value]
        for k in ("last", "prev")
    )


def on_refund(member: Member, order: CheckoutOrder) -> list[Action]:
    """Take the refunded order back out of its month (the recency stays: the member did come)."""
    if member.rfm is None:
        return []
    month = _month(str(order.merchant_id), order.created_at)
    return [Path(["rfm", f"n:{month}"]).add(-1), Path(["rfm", f"v:{month}"]).add(-paid(order))]


def months_back(month: str, n: int) -> str:
    year, mon = int(month[:4]), int(month[5:7]) - 1 - n
    return f"{year + mon // 12:04d}-{mon % 12 + 1:02d}"
