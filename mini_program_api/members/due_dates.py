"""A member's places on the life-cycle jobs' due lists (points expiry and its warning, dormant wake-up, birthday,
monthly pack), set in the transaction that earns, spends, imports or opens a card, and when each is due.

The jobs that walk these lists are members/lifecycle.py (whose docstring has the points-expiry rule). Apart from
them because every posting (a checkout, a sign-in, a referral) marks these lists and none runs a job: a sale's
cold start loads neither the jobs nor the coupon claims their gifts make.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from mini_program_api.db.due import DueMarker
from mini_program_api.db.models import Member, Merchant, member_pk
from mini_program_api.db.transact import Transaction
from mini_program_api.jobs import due

POINTS_JOB = "points_expiry"
POINTS_WARNING_JOB = "points_warning"
# Dated imported lots have lists of their own: the lists above take an earned lot's time only when none is there
# (`keep_earlier`: lots are earned in expiry order), which a dated lot expiring later would break.
DATED_JOB = "points_expiry_dated"
DATED_WARNING_JOB = "points_warning_dated"
DORMANT_JOB = "dormant"
BIRTHDAY_JOB = "birthday"
MONTHLY_JOB = "monthly_pack"
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


def earned_points(
    tx: Transaction, merchant: Merchant, member: Member, points: int, now: datetime, label: str = ""
) -> None:
    """Points earned in `tx` put the member on the expiry (and warning) lists, unless already earlier on them."""
    expires = lot_expiry(merchant, now) if points > 0 else None
    if expires is not None:
        due.mark(tx, member.merchant_id, member.member_id, POINTS_JOB, expires, keep_earlier=True, label=label)
        due.mark(
            tx,
            member.merchant_id,
            member.member_id,
            POINTS_WARNING_JOB,
            expires - WARN_BEFORE,
            keep_earlier=True,
            label=label,
        )


def import_expiry(merchant: Merchant, expires_on: str) -> datetime:
    """When imported points dated `expires_on` (积分有效期, a file's YYYY-MM-DD) expire: at the end of that day in
    the merchant's zone (the next local midnight), so they can be spent all of their last day."""
    day = date.fromisoformat(expires_on)
    if day == date.max:  # "never" as some systems export it (9999-12-31): its end is past the last datetime
        return datetime.max.replace(tzinfo=UTC)
    return datetime.combine(day + timedelta(days=1), time(0), ZoneInfo(merchant.timezone))


def dated_lot(merchant: Merchant, points: int, expires_on: str, points_before: int, at: datetime) -> dict[str, Any]:
    """An imported lot with its own date, as the member row keeps it (`point_lots`, keyed by import id): credited
    at `at` onto a balance of `points_before`, which the import's transaction pins."""
    return {
        "points": points,
        "expires_at": import_expiry(merchant, expires_on).astimezone(UTC).isoformat(),
        "credited_at": at.astimezone(UTC).isoformat(),
        "points_before": points_before,
    }


def imported_points(
    tx: Transaction,
    merchant: Merchant,
    member: Member,
    points: int,
    expires_on: str | None,
    now: datetime,
    new_member: bool = False,
) -> None:
    """Imported points put the member on the expiry and warning lists. Without a date they are points earned on
    the import's day (never, under the policy NONE). With one, on the dated lists; onto an existing member, who
    may hold a dated lot expiring later, those take the earlier time, pinned to the time read."""
    if points <= 0:
        return
    if not expires_on:
        earned_points(tx, merchant, member, points, now)
        return
    expires = import_expiry(merchant, expires_on)
    for job, at in ((DATED_JOB, expires), (DATED_WARNING_JOB, expires - WARN_BEFORE)):
        if new_member:
            due.mark(tx, member.merchant_id, member.member_id, job, at, keep_earlier=True)
        else:
            _mark_no_later(tx, member.merchant_id, member.member_id, job, at)


def _mark_no_later(tx: Transaction, merchant_id: str, member_id: str, job: str, at: datetime) -> None:
    """The member due for `job` by `at` at the latest, pinned to the time read (`due.mark` can keep a time or
    replace it, not take the earlier of two)."""
    pk = member_pk(merchant_id, member_id)
    try:
        held = DueMarker.get(pk, f"DUE#{job}", consistent_read=True).due_sk
    except DueMarker.DoesNotExist:
        held = None
    read = DueMarker.due_sk == held if held is not None else DueMarker.due_sk.does_not_exist()
    if held is not None and held <= due.stamp(at):
        tx.check(f"due:{job}", DueMarker, pk, f"DUE#{job}", read)
        return
    due_pk, due_sk = due.slot(job, pk, at)
    tx.update(
        f"due:{job}",
        DueMarker(pk, f"DUE#{job}"),
        actions=[
            DueMarker.due_pk.set(due_pk),
            DueMarker.due_sk.set(due_sk),
            DueMarker.merchant_id.set(merchant_id),
            DueMarker.member_id.set(member_id),
            *due.settled(DueMarker),
        ],
        condition=read,
    )


def spent(tx: Transaction, merchant: Merchant, member: Member, now: datetime) -> None:
    """A purchase moves the member's dormant wake-up `dormant_days` into the future."""
    due.mark(tx, member.merchant_id, member.member_id, DORMANT_JOB, now + timedelta(days=int(merchant.dormant_days)))


def card_opened(tx: Transaction, merchant: Merchant, member: Member, birthday: date | None, now: datetime) -> None:
    """A new card goes on the dormant and monthly-pack lists, and on the birthday list when it has a birthday."""
    spent(tx, merchant, member, now)
    due.mark(tx, member.merchant_id, member.member_id, MONTHLY_JOB, now)
    if birthday is not None:
        due.mark(tx, member.merchant_id, member.member_id, BIRTHDAY_JOB, next_birthday(merchant, birthday, now))


def birthday_in(merchant: Merchant, birthday: date, year: int) -> datetime:
    """When the gift is due in `year`: the 1st of the birthday month, or the day itself (29 Feb -> 28 Feb)."""
    day = 1 if merchant.birthday_on == "MONTH" else min(birthday.day, calendar.monthrange(year, birthday.month)[1])
    return datetime(year, birthday.month, day, tzinfo=ZoneInfo(merchant.timezone))


def next_birthday(merchant: Merchant, birthday: date, now: datetime) -> datetime:
    year = now.astimezone(ZoneInfo(merchant.timezone)).year
    this_year = birthday_in(merchant, birthday, year)
    # Inside this year's birthday month (or on the day) the gift is still due now.
    period_end = this_year + timedelta(
        days=calendar.monthrange(year, birthday.month)[1] if merchant.birthday_on == "MONTH" else 1
    )
    return this_year if now < period_end else birthday_in(merchant, birthday, year + 1)
