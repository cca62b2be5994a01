"""Time-zone day boundaries (platform/clock.py): the merchant's calendar day (`local_date`, what sign-in, member days,
audit partitions, reports and RFM months hang on), times written with the merchant's offset (`iso`), the minute a
subscribe message shows (`minute`), and the one replaceable source of now (`set_clock`).

Shanghai is UTC+8 all year (no daylight saving): its midnight is 16:00 UTC the evening before. Days are taken from
now, never fixed.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mini_program_api.platform import clock
from tests.unit import rows

SHANGHAI = ZoneInfo("Asia/Shanghai")
TZ = "Asia/Shanghai"
TODAY = rows.now().astimezone(SHANGHAI).date()


def midnight(day: date, tz: str = TZ) -> datetime:
    """00:00 of `day` in `tz`, as the UTC instant the product's clock gives."""
    return datetime.combine(day, time(0), ZoneInfo(tz)).astimezone(UTC)


def year_end() -> date:
    return date(TODAY.year, 12, 31)


def month_end() -> date:
    return TODAY.replace(day=calendar.monthrange(TODAY.year, TODAY.month)[1])


def leap_day() -> date:
    return next(date(y, 2, 29) for y in range(TODAY.year, TODAY.year + 8) if calendar.isleap(y))


@pytest.mark.parametrize(
    "day",
    [TODAY, month_end(), year_end(), leap_day(), leap_day() - timedelta(days=1)],
    ids=["today", "month end", "year end", "leap day", "before leap day"],  # not the dates: xdist workers must agree
)
def test_the_local_day_turns_at_local_midnight(day: date) -> None:
    start = midnight(day + timedelta(days=1))
    assert start.time() == time(16) and start.date() == day  # still `day` in UTC
    assert clock.local_date(TZ, start - timedelta(microseconds=1)) == day
    assert clock.local_date(TZ, start) == day + timedelta(days=1)


@pytest.mark.parametrize("tz, offset", [("Asia/Shanghai", 8), ("UTC", 0), ("Asia/Tokyo", 9), ("Asia/Kolkata", 5.5)])
def test_other_merchant_zones(tz: str, offset: float) -> None:
    start = midnight(TODAY, tz)
    assert start == datetime.combine(TODAY, time(0), UTC) - timedelta(hours=offset)
    assert clock.local_date(tz, start) == TODAY
    assert clock.local_date(tz, start - timedelta(seconds=1)) == TODAY - timedelta(days=1)


def test_new_year_in_shanghai_is_new_year_eve_in_utc() -> None:
    start = midnight(date(TODAY.year + 1, 1, 1))
    assert (start.year, start.month, start.day, start.hour) == (TODAY.year, 12, 31, 16)
    assert clock.local_date(TZ, start).year == TODAY.year + 1
    assert clock.minute(start, TZ) == f"{TODAY.year + 1}-01-01 00:00"
    assert clock.iso(start, TZ) == f"{TODAY.year + 1}-01-01T00:00:00+08:00"


@given(at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_local_day_is_utc_plus_8(at: datetime) -> None:
    assert clock.local_date(TZ, at) == (at + timedelta(hours=8)).date()
    written = clock.iso(at, TZ)
    assert written.endswith("+08:00")
    assert datetime.fromisoformat(written) == at.replace(microsecond=0)  # seconds: the contract's precision
    assert clock.minute(at, TZ) == (at + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")


@pytest.fixture
def frozen() -> Iterator[datetime]:
    at = rows.now() + timedelta(days=3)
    clock.set_clock(lambda: at)
    yield at
    clock.set_clock(None)


def test_the_clock_can_be_moved_and_restored(frozen: datetime) -> None:
    assert clock.now() == frozen
    assert clock.local_date(TZ) == frozen.astimezone(SHANGHAI).date()  # defaults to now
    clock.set_clock(None)
    real = clock.now()
    assert real.tzinfo is not None and abs(real - datetime.now(UTC)) < timedelta(seconds=5)
