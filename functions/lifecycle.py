"""The member life cycle on a schedule: reminders, points expiry, birthdays, wake-ups, tier reviews.

Thin: each calls one job in mini_program_api/lifecycle.py with the Lambda's time
budget. Every job is safe to run twice or concurrently and resumes where a
timed-out run stopped (see that module). Messages go out at 10:00 Shanghai time
(02:00 UTC); points expire hourly so a lot never outlives its date by much.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Cron, Rate

from .budget import deadline
from .reported import reported

if TYPE_CHECKING:
    from mini_program_api.members import lifecycle


bp = Blueprint(__name__)
MORNING = Cron(0, 2, "*", "*", "?", "*")


def _run(job: Callable[..., lifecycle.Report], event: Any) -> dict[str, Any]:
    result = job(deadline=deadline(event))
    return reported(result.job, result, event)


@bp.schedule(MORNING, name="coupon_reminders")
def coupon_reminders(event: Any) -> dict[str, Any]:
    from mini_program_api.members import lifecycle

    return _run(lifecycle.remind_coupons, event)


@bp.schedule(MORNING, name="points_warnings")
def points_warnings(event: Any) -> dict[str, Any]:
    from mini_program_api.members import lifecycle

    return _run(lifecycle.warn_points, event)


@bp.schedule(Rate(1, unit=Rate.HOURS), name="points_expiry")
def points_expiry(event: Any) -> dict[str, Any]:
    from mini_program_api.members import lifecycle

    return _run(lifecycle.expire_points, event)


@bp.schedule(MORNING, name="birthday_gifts")
def birthday_gifts(event: Any) -> dict[str, Any]:
    from mini_program_api.members import lifecycle

    return _run(lifecycle.birthday_gifts, event)


@bp.schedule(MORNING, name="dormant_wakeups")
def dormant_wakeups(event: Any) -> dict[str, Any]:
    from mini_program_api.members import lifecycle

    return _run(lifecycle.wake_dormant, event)


@bp.schedule(MORNING, name="monthly_packs")
def monthly_packs(event: Any) -> dict[str, Any]:
    from mini_program_api.members import lifecycle

    return _run(lifecycle.monthly_packs, event)


@bp.schedule(Cron(0, 19, "*", "*", "?", "*"), name="tier_reviews")  # 03:00 Shanghai
def tier_reviews(event: Any) -> dict[str, Any]:
    from mini_program_api.members import lifecycle

    return _run(lifecycle.review_tiers, event)
