"""A merchant's coupon templates, their shelf and their stock shards (coupons/templates.py, coupons/stock.py).

A family of the table's models (see `models.py`): a module apart, so that a request builds only the model classes
it uses. Keys are documented in `schema.py`.
"""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, ListAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from mini_program_api.db.coupons import CouponTerms
from mini_program_api.db.models import Item


class CouponTemplate(CouponTerms):
    """All of a merchant's templates share one partition (listing offers is one Query); stock does not."""

    merchant_id = UnicodeAttribute()
    template_id = UnicodeAttribute()
    valid_from = UTCDateTimeAttribute(null=True)
    valid_until = UTCDateTimeAttribute(null=True)
    days_after_claim = NumberAttribute(null=True)
    total_stock = NumberAttribute()
    shards = NumberAttribute()
    per_member_limit = NumberAttribute()
    tier_ids = ListAttribute(of=UnicodeAttribute, default=list)
    points_price = NumberAttribute(null=True)  # set: a points-mall reward, not a free offer
    listed = BooleanAttribute(default=True)  # False: only given (birthday, wake-up), never offered
    active = BooleanAttribute(default=True)  # False: paused or ended, claims refused (coupons/template_admin.py)
    ended_at = UTCDateTimeAttribute(null=True)  # set: ended for good, off the shelf
    version = NumberAttribute(default=0)  # bumped by each admin change, which is pinned to it
    fingerprint = UnicodeAttribute(null=True)  # of the create request, for its retries (coupons.create_template)
    created_at = UTCDateTimeAttribute()


class StockShard(Item):
    left = NumberAttribute()


def template_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#CTPL"


def shelf_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#SHELF"


def stock_pk(merchant_id: str, template_id: str, shard: int) -> str:
    # One partition key per shard: items sharing a key share its partition's write limit.
    return f"MCH#{merchant_id}#STOCK#{template_id}#{shard}"
