"""Stored-value top-up orders (topup/orders.py).

A family of the table's models (see `models.py`): a module apart, so that a request builds only the model classes
it uses. Keys are documented in `schema.py`.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from mini_program_api.db.models import DueIndex, Item, Scheduled


class TopupOrder(Item, Scheduled):
    """A stored-value top-up; its id is the WeChat Pay out_trade_no."""

    due = DueIndex()
    merchant_id = UnicodeAttribute()
    order_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    openid = UnicodeAttribute()
    plan_id = UnicodeAttribute(null=True)
    amount = NumberAttribute()
    bonus = NumberAttribute()
    status = UnicodeAttribute()
    idempotency_key = UnicodeAttribute()
    prepay_id = UnicodeAttribute(null=True)
    transaction_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    paid_at = UTCDateTimeAttribute(null=True)
    closed_at = UTCDateTimeAttribute(null=True)
    refund_attempt = NumberAttribute(default=0)
    refund_amount = NumberAttribute(null=True)
    bonus_clawback = NumberAttribute(null=True)
    refund_requested_by = UnicodeAttribute(null=True)
    refunded_at = UTCDateTimeAttribute(null=True)
    refund_error = UnicodeAttribute(null=True)  # WeChat Pay's code when it refused the refund for good


def topup_pk(merchant_id: str, order_id: str) -> str:
    return f"MCH#{merchant_id}#TOPUP#{order_id}"
