"""A member's coupons and the terms each copies from its template (coupons/held.py, coupons/redemption.py).

A family of the table's models (see `models.py`): a module apart, so that a request builds only the model classes
it uses. Keys are documented in `schema.py`.
"""

from __future__ import annotations

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from mini_program_api.db.models import DueIndex, Item, LedgerByTime, Scheduled


class CouponTerms(Item):
    """What a template offers and each of its coupons keeps: copied at claim, so editing a
    template never changes a coupon already in a member's hands."""

    name = UnicodeAttribute()
    kind = UnicodeAttribute()  # FULL_REDUCTION | DISCOUNT | GIFT | CASH
    threshold = NumberAttribute(default=0)
    amount = NumberAttribute(default=0)
    rate = NumberAttribute(null=True)  # percent paid: 85 is 八五折
    max_discount = NumberAttribute(null=True)
    gift_name = UnicodeAttribute(null=True)
    store_ids = ListAttribute(of=UnicodeAttribute, default=list)
    daily_window = ListAttribute(of=UnicodeAttribute, null=True)  # ["HH:MM", "HH:MM"] merchant time


COUPON_TERMS = ("name", "kind", "threshold", "amount", "rate", "max_discount", "gift_name", "store_ids", "daily_window")


class Coupon(CouponTerms, Scheduled):
    """A claimed coupon in its member's partition, with the template's terms copied at claim time.

    While available it sits on the expiry-reminder job's list (due_pk/due_sk). `lsi1` is its place on
    the member's index by state (coupons.state_key): listing and counting read only the state asked for."""

    due = DueIndex()
    lsi1 = UnicodeAttribute(null=True)
    by_state = LedgerByTime()  # the member partition's LSI, shared with ledger entries by prefix
    coupon_id = UnicodeAttribute()
    template_id = UnicodeAttribute()
    valid_from = UTCDateTimeAttribute()
    valid_until = UTCDateTimeAttribute()
    status = UnicodeAttribute(default="AVAILABLE")  # AVAILABLE | USED; expiry is computed on read
    claimed_at = UTCDateTimeAttribute()
    used_at = UTCDateTimeAttribute(null=True)
    used_ref = UnicodeAttribute(null=True)  # the checkout order or redemption that used it
    used_store_id = UnicodeAttribute(null=True)
