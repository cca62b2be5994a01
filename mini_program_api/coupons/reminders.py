"""The coupons' expiry-reminder list: each coupon's place on it, set when the coupon is issued and moved when it
is used (the job that walks it is members/lifecycle.py `remind_coupons`, run by functions/lifecycle.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from mini_program_api.jobs import due

REMINDER_JOB = "coupon_reminder"


REMIND_BEFORE = timedelta(days=3)


def reminder_slot(coupon_id: str, valid_until: datetime) -> tuple[str, str]:
    """The coupon's place on the expiry-reminder job's list (see functions/lifecycle.py)."""
    return due.slot(REMINDER_JOB, coupon_id, valid_until - REMIND_BEFORE)
