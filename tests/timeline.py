"""Time in tests: the test clock starts at the real now, and every date a test needs is derived from it.

A fixed day in a test is a time bomb once the calendar passes it: a merchant made on the real clock is then
"created" after records stamped on the fixed one, a coupon valid "until 2026-12-31" has expired. So tests
name days relative to `Clock.start` (`local(day, hour)`, `next_weekday`, `months_later`), and the whole
suite can be run at another date: `KABAO_TEST_EPOCH=2028-02-28T16:30:00Z` moves this process's real clock
there (time-machine, ticking) before anything starts, so the product, the sandbox and the fixtures all see
that date. `make test-dates` runs the suite at a year ahead, a month end, a year end, a leap day and a
Shanghai time after midnight (UTC still on the day before).
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

SHANGHAI = ZoneInfo("Asia/Shanghai")  # every test merchant's zone (the product's default)


def travel_to_epoch() -> None:
    """Move the process's real clock to `KABAO_TEST_EPOCH` (ISO-8601, UTC if no offset), still ticking."""
    epoch = os.environ.get("KABAO_TEST_EPOCH")
    if not epoch:
        return
    import time_machine

    at = datetime.fromisoformat(epoch.replace("Z", "+00:00"))
    time_machine.travel(at if at.tzinfo else at.replace(tzinfo=UTC), tick=True).start()


class Clock:
    """The product's clock in a test: frozen at `now` until the test moves it."""

    def __init__(self) -> None:
        self.start = datetime.now(UTC).replace(microsecond=0)
        self.now = self.start

    def set(self, at: datetime) -> None:
        self.now = at

    def advance(self, **delta: float) -> None:
        self.now = self.now + timedelta(**delta)

    @property
    def today(self) -> date:
        """The merchant's calendar day at `now`."""
        return local_day(self.now)


def today() -> date:
    """The merchant's calendar day on the real (possibly shifted) clock: for dates a test module builds at import,
    such as a coupon window around the day the tests run."""
    return local_day(datetime.now(UTC))


def local_day(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


def local(day: date, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """That wall-clock time in Shanghai on `day`, as an aware UTC datetime."""
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


def iso(day: date, hour: int = 0, minute: int = 0, second: int = 0) -> str:
    """ISO-8601 with Shanghai's offset, as the contract's times are written."""
    return local(day, hour, minute, second).astimezone(SHANGHAI).isoformat()


def hours_apart_from(at: datetime) -> list[str]:
    """A daily window (`HH:MM` pair, Shanghai) that `at`'s local time is outside of."""
    return ["13:00", "14:00"] if at.astimezone(SHANGHAI).hour < 12 else ["01:00", "02:00"]


def next_weekday(after: date, weekday: int) -> date:
    """The first day strictly after `after` that falls on `weekday` (Monday 0)."""
    return after + timedelta(days=(weekday - after.weekday() - 1) % 7 + 1)


def months_later(day: date, months: int) -> date:
    """The first day of the month `months` after `day`'s."""
    return day.replace(day=1) + relativedelta(months=months)


def years_later(at: datetime, years: int = 1) -> datetime:
    """Calendar years on (29 February becomes 28 February), as the product's 12-month windows count."""
    return at + relativedelta(years=years)
