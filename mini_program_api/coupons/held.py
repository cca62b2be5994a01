"""A member's coupons: their status (available, used, expired: computed at read time), the index key that keeps
each status one key range (`state_key`), pages of one status. Each coupon's place on the expiry-reminder job's
list is coupons/reminders.py's: a member's card counts coupons here and writes no list.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.expressions.condition import Condition

from mini_program_api.db.coupons import Coupon
from mini_program_api.db.models import member_pk
from mini_program_api.db.schema import sortable
from mini_program_api.platform import clock, paging
from mini_program_api.platform.errors import KabaoError


def status(coupon: Coupon, now: datetime) -> str:
    """available | used | expired, computed at read time: nothing depends on TTL deleting anything."""
    if coupon.status == "USED":
        return "used"
    return "expired" if now >= coupon.valid_until else "available"


AVAILABLE, USED = "AVAILABLE", "USED"


def state_key(state: str, at: datetime, coupon_id: str) -> str:
    """The coupon's `lsi1`: `COUPON#AVAILABLE#{valid_until}#{id}` until used (those below now have
    expired), then `COUPON#USED#{used_at}#{id}`. A member's coupons of one state are one key range."""
    return f"COUPON#{state}#{sortable(at)}#{coupon_id}"


def _range(wanted: str, now: datetime) -> tuple[Condition, bool]:
    """The key range of one status on the member's index, and whether it is read oldest first."""
    available, cut = f"COUPON#{AVAILABLE}#", f"COUPON#{AVAILABLE}#{sortable(now)}#~"
    if wanted == "available":  # soonest to expire first
        return Coupon.lsi1.between(cut, available + "~"), True
    if wanted == "expired":  # most recently expired first
        return Coupon.lsi1.between(available, cut), False
    return Coupon.lsi1.startswith(f"COUPON#{USED}#"), False  # most recently used first


def mine(
    merchant_id: str, member_id: str, wanted: str, cursor: str | None = None, limit: int = 100
) -> paging.Page[Coupon]:
    """One page of the member's coupons in one status: reads only that page, whatever else they hold."""
    condition, oldest_first = _range(wanted, clock.now())
    return paging.query(
        Coupon.by_state.query,
        member_pk(merchant_id, member_id),
        {"sk": "COUPON#", "lsi1": f"COUPON#{USED if wanted == 'used' else AVAILABLE}#"},
        cursor,
        limit,
        range_key_condition=condition,
        scan_index_forward=oldest_first,
    )


def available_count(merchant_id: str, member_id: str) -> int:
    """Coupons usable now or later (not used, not expired): a Select=COUNT over their key range only."""
    condition, _ = _range("available", clock.now())
    return Coupon.by_state.count(member_pk(merchant_id, member_id), condition, consistent_read=True)


def owned(merchant_id: str, member_id: str, coupon_id: str) -> Coupon:
    """The member's own coupon: another member's coupon id is simply not found in this partition."""
    try:
        return Coupon.get(member_pk(merchant_id, member_id), f"COUPON#{coupon_id}", consistent_read=True)
    except Coupon.DoesNotExist:
        raise KabaoError("COUPON_NOT_FOUND", "this member has no such coupon") from None
