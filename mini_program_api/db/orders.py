"""Checkout orders at the till and the references that list a member's orders (till/checkout.py,
members/order_refs.py).

A family of the table's models (see `models.py`): a module apart, so that a request builds only the model classes
it uses. Keys are documented in `schema.py`.
"""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from mini_program_api.db.models import Item


class CheckoutOrder(Item):
    """A checkout at the counter and its receipt; its id comes from the staff's Idempotency-Key."""

    merchant_id = UnicodeAttribute()
    order_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    store_id = UnicodeAttribute()
    staff_id = UnicodeAttribute()
    fingerprint = UnicodeAttribute()
    status = UnicodeAttribute()  # PAID | REFUNDED
    amount = NumberAttribute()
    tier_discount = NumberAttribute()
    coupon_id = UnicodeAttribute(null=True)
    coupon_discount = NumberAttribute()
    points_used = NumberAttribute()
    points_value = NumberAttribute()
    bonus_used = NumberAttribute()
    principal_used = NumberAttribute()
    cash_due = NumberAttribute()
    points_earned = NumberAttribute()
    growth_earned = NumberAttribute()
    tier_before = UnicodeAttribute()
    tier_after = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    refunded_at = UTCDateTimeAttribute(null=True)
    refunded_by = UnicodeAttribute(null=True)
    points_clawed_back = NumberAttribute(null=True)
    growth_clawed_back = NumberAttribute(null=True)
    coupon_restored = BooleanAttribute(null=True)
    principal_over_cap = NumberAttribute(null=True)  # refunded principal paid back in cash: the card was full
    member_day_id = UnicodeAttribute(null=True)  # the member day that multiplied its points (merchants/member_days.py)
    member_day_multiplier = NumberAttribute(null=True)  # its percent, as it was at the sale


class OrderRef(Item):
    """A member's checkout or top-up order, listed in their partition (sk `{CHECKOUT|TOPUP}#{time}#{order_id}`),
    written in the order's own transaction: "my orders" pages by time without a scan; the orders are read
    by key for the page."""

    order_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


def checkout_pk(merchant_id: str, order_id: str) -> str:
    return f"MCH#{merchant_id}#CHECKOUT#{order_id}"
