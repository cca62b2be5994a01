"""The rows a pure rule reads (merchant, member, coupon, template), built in memory: nothing is read or written.

Each builder takes the product's own defaults (the model's attribute defaults) and only what a test overrides, so
a test states the numbers its rule depends on and nothing else. Times default to now: never a fixed day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mini_program_api.db.coupon_templates import CouponTemplate
from mini_program_api.db.coupons import Coupon
from mini_program_api.db.models import Member, MemberDay, Merchant, Tier

# The tiers the integration tests' merchants have (tests/conftest.py make_merchant), with a discount and a points
# multiplier on the upper ones so pricing has something to apply.
TIERS = (("normal", 0, 100, 100), ("silver", 1000, 95, 120), ("gold", 5000, 88, 150))


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def tier(tier_id: str, threshold: int, discount_rate: int = 100, points_multiplier: int = 100) -> Tier:
    return Tier(
        tier_id=tier_id,
        name=tier_id,
        threshold=threshold,
        discount_rate=discount_rate,
        points_multiplier=points_multiplier,
    )


def merchant(
    tiers: tuple[tuple[str, int, int, int], ...] = TIERS, days: list[MemberDay] | None = None, **fields: Any
) -> Merchant:
    """A merchant in Asia/Shanghai (the default zone) with `tiers` as (id, threshold, discount %, points %)."""
    return Merchant(
        "MCH#m-unit",
        "PROFILE",
        merchant_id="m-unit",
        name="Unit Coffee",
        appid="wxunit",
        app_secret_ref="dev:unit",
        created_at=now(),
        tiers=[tier(*t) for t in tiers],
        member_days=days or [],
        **fields,
    )


def member(**fields: Any) -> Member:
    values: dict[str, Any] = {"merchant_id": "m-unit", "member_id": "u1", "openid": "o1", "created_at": now()}
    values.update(fields)
    return Member("MCH#m-unit#MEM#u1", "PROFILE", **values)


def member_day(day_id: str, multiplier: int, **fields: Any) -> MemberDay:
    return MemberDay(day_id=day_id, name=day_id, multiplier=multiplier, **fields)


def coupon(kind: str, **fields: Any) -> Coupon:
    """A member's coupon of `kind`, valid from a day ago for a week, usable anywhere at any hour."""
    at = now()
    values: dict[str, Any] = {
        "coupon_id": "c1",
        "template_id": "t1",
        "name": kind,
        "kind": kind,
        "valid_from": at - timedelta(days=1),
        "valid_until": at + timedelta(days=7),
        "claimed_at": at - timedelta(days=1),
    }
    values.update(fields)
    return Coupon("MCH#m-unit#MEM#u1", "COUPON#c1", **values)


def template(**fields: Any) -> CouponTemplate:
    values: dict[str, Any] = {
        "merchant_id": "m-unit",
        "template_id": "t1",
        "name": "t",
        "kind": "CASH",
        "amount": 500,
        "total_stock": 100,
        "shards": 1,
        "per_member_limit": 1,
        "created_at": now(),
    }
    values.update(fields)
    return CouponTemplate("MCH#m-unit#CTPL", "t1", **values)
