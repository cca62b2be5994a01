"""The events a merchant's endpoint can subscribe to, and the body each delivery carries.

The body is the Standard Webhooks shape, `{"type", "timestamp", "data"}`, fixed when the event happens (in its
own transaction), so every retry and a manual redeliver send the same bytes under the same `webhook-id`.
`data` always names the member (`member_id`); money is integer fen, times ISO-8601 in UTC.
docs/webhooks.md lists each event's `data`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

MEMBER_CREATED = "member.created"
CARD_OPENED = "card.opened"
TIER_CHANGED = "tier.changed"
POINTS_CHANGED = "points.changed"
STORED_VALUE_CHANGED = "stored_value.changed"
COUPON_CLAIMED = "coupon.claimed"
COUPON_REDEEMED = "coupon.redeemed"
TOPUP_PAID = "topup.paid"
TOPUP_REFUNDED = "topup.refunded"
CHECKOUT_COMPLETED = "checkout.completed"
CHECKOUT_REFUNDED = "checkout.refunded"
MEMBER_FROZEN = "member.frozen"
MEMBER_UNFROZEN = "member.unfrozen"
MEMBER_ERASED = "member.erased"  # data: only the anonymous member id the accounting records stay under
TEST = "webhook.test"  # only ever sent to the one endpoint that asked for it

TYPES = (
    MEMBER_CREATED,
    CARD_OPENED,
    TIER_CHANGED,
    POINTS_CHANGED,
    STORED_VALUE_CHANGED,
    COUPON_CLAIMED,
    COUPON_REDEEMED,
    TOPUP_PAID,
    TOPUP_REFUNDED,
    CHECKOUT_COMPLETED,
    CHECKOUT_REFUNDED,
    MEMBER_FROZEN,
    MEMBER_UNFROZEN,
    MEMBER_ERASED,
)


def utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def body(event_type: str, at: datetime, data: dict[str, Any]) -> str:
    """The JSON body as sent and signed (compact, UTF-8 text kept as is)."""
    return json.dumps(
        {"type": event_type, "timestamp": utc(at), "data": data}, ensure_ascii=False, separators=(",", ":")
    )


def tier_changed(member: Any, to: Any, reason: str) -> dict[str, Any]:
    """`tier.changed`'s data: the member's tier as read (a db Member) and the one it moves to (a Tier);
    `reason` GROWTH (spending raised it) or REVIEW (the yearly review placed it)."""
    return {"from_tier_id": member.tier_id, "to_tier_id": to.tier_id, "to_tier_name": to.name, "reason": reason}


def ledger_entries(op_key: str, kind: str, postings: list[tuple[str, int]], memo: dict[str, Any]) -> dict[str, Any]:
    """The ledger entry a `points.changed` or `stored_value.changed` carries: one operation, its postings."""
    return {
        "op_key": op_key,
        "kind": kind,
        "entries": [{"account": account, "amount": amount} for account, amount in postings],
        "memo": dict(memo),
    }


def topup(order: Any, status: str) -> dict[str, Any]:
    """`topup.paid`'s data (a db TopupOrder): fen paid (principal) and the bonus it came with."""
    return {
        "order_id": order.order_id,
        "status": status,
        "amount": int(order.amount),
        "bonus": int(order.bonus),
    }


def topup_refund(order: Any, refund_amount: int) -> dict[str, Any]:
    """`topup.refunded`'s data, sent when the refund is made (the balances debited): REFUNDING while WeChat Pay
    pays the cash back, REFUNDED when there was no cash to pay (bonus spent covered it)."""
    return {**topup(order, "REFUNDING" if refund_amount else "REFUNDED"), "refund_amount": refund_amount}


_SALE = (
    "store_id",
    "amount",
    "tier_discount",
    "coupon_id",
    "coupon_discount",
    "points_used",
    "bonus_used",
    "principal_used",
    "cash_due",
    "points_earned",
    "growth_earned",
    "tier_before",
    "tier_after",
)


def checkout(order: Any) -> dict[str, Any]:
    """`checkout.completed`'s data: the receipt (a db CheckoutOrder), fen and points as the till showed them."""
    return {"order_id": order.order_id, **{name: _plain(getattr(order, name)) for name in _SALE}}


def checkout_refund(order: Any, points_clawed_back: int, principal_back: int, coupon_restored: bool) -> dict[str, Any]:
    """`checkout.refunded`'s data: the sale refunded, what was taken back and what the till pays in cash."""
    return {
        **checkout(order),
        "points_clawed_back": points_clawed_back,
        "principal_over_cap": int(order.principal_used) - principal_back,
        "coupon_restored": coupon_restored,
    }


def coupon(coupon: Any, ref: str | None = None) -> dict[str, Any]:
    """`coupon.claimed` / `coupon.redeemed`'s data (a db Coupon); `ref` the order or redemption that used it."""
    data = {
        "coupon_id": coupon.coupon_id,
        "template_id": coupon.template_id,
        "valid_until": utc(coupon.valid_until),
    }
    return {**data, "used_ref": ref} if ref is not None else data


def _plain(value: Any) -> Any:
    return int(value) if isinstance(value, float) else value
