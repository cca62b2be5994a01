"""The member life cycle the scheduled jobs keep: points expiry, reminders, birthdays, wake-ups.

Points expire FIFO over earning lots without tracking lots one by one. Spending
and expiry both consume the oldest points first and lots expire in the order
they were earned (rolling N days, or the end of the year after earning), so what
is left of every lot earned up to a cutoff C is

    max(0, balance - points earned after C)

and that is what expires at C. The expiry posts it through the ledger pinned to
the balance it read (a concurrent spend or a second run recomputes), with an op
key per cutoff, so it happens exactly once and never below zero.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from . import due
from .db.models import Member, Merchant
from .db.transact import Transaction

POINTS_JOB = "points_expiry"
POINTS_WARNING_JOB = "points_warning"
DORMANT_JOB = "dormant"
WARN_BEFORE = timedelta(days=7)


def lot_expiry(merchant: Merchant, earned_at: datetime) -> datetime | None:
    """When points earned at `earned_at` expire under the merchant's policy (None: never)."""
    if merchant.points_expiry == "ROLLING":
        return earned_at + timedelta(days=int(merchant.points_expiry_days))
    if merchant.points_expiry == "YEAR_END":
        local_year = earned_at.astimezone(ZoneInfo(merchant.timezone)).year
        return datetime(local_year + 2, 1, 1, tzinfo=ZoneInfo(merchant.timezone))
    return None


def cutoff(merchant: Merchant, now: datetime) -> datetime | None:
    """Points earned at or before this time have expired by `now` (the inverse of lot_expiry)."""
    if merchant.points_expiry == "ROLLING":
        return now - timedelta(days=int(merchant.points_expiry_days))
    if merchant.points_expiry == "YEAR_END":
        local_year = now.astimezone(ZoneInfo(merchant.timezone)).year
        return datetime(local_year - 1, 1, 1, tzinfo=ZoneInfo(merchant.timezone)) - timedelta(microseconds=1)
    return None


def earned_points(tx: Transaction, merchant: Merchant, member: Member, points: int, now: datetime) -> None:
    """Points earned in `tx` put the member on the expiry (and warning) lists, unless already earlier on them."""
    expires = lot_expiry(merchant, now) if points > 0 else None
    if expires is not None:
        due.mark(tx, member.merchant_id, member.member_id, POINTS_JOB, expires, keep_earlier=True)
        due.mark(tx, member.merchant_id, member.member_id, POINTS_WARNING_JOB, expires - WARN_BEFORE,
                 keep_earlier=True)


def spent(tx: Transaction, merchant: Merchant, member: Member, now: datetime) -> None:
    """A purchase moves the member's dormant wake-up `dormant_days` into the future."""
    due.mark(tx, member.merchant_id, member.member_id, DORMANT_JOB, now + timedelta(days=int(merchant.dormant_days)))
