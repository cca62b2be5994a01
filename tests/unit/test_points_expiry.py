"""When points expire (members/lifecycle.py): a lot's expiry (`lot_expiry`) and its inverse, the cutoff the expiry
job uses (`cutoff`: lots earned at or before it have expired by now), for ROLLING (N days after earning) and
YEAR_END (the end of the year after earning, at local midnight in the merchant's zone); and when the birthday gift
falls due (`birthday_in`, `next_birthday`), 29 February included.

Years and days are taken from now, never fixed: the suite runs at any date (`make test-dates`).
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mini_program_api.members.due_dates import birthday_in, cutoff, import_expiry, lot_expiry, next_birthday
from tests.unit import rows

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = rows.now()
THIS_YEAR = NOW.astimezone(SHANGHAI).year
US = timedelta(microseconds=1)


def shanghai(year: int, month: int = 1, day: int = 1, *at: int) -> datetime:
    """A Shanghai wall-clock time, in UTC as the product stores it."""
    return datetime(year, month, day, *at, tzinfo=SHANGHAI).astimezone(UTC)


def next_leap_year(after: int) -> int:
    return next(y for y in range(after, after + 8) if calendar.isleap(y))


# --- YEAR_END: the end of the year after earning, local midnight ---------------------------------------------

YEAR_END = rows.merchant(points_expiry="YEAR_END")


@pytest.mark.parametrize(
    "earned, expires",
    [
        (shanghai(THIS_YEAR, 1, 1), shanghai(THIS_YEAR + 2)),
        (shanghai(THIS_YEAR, 6, 30, 12), shanghai(THIS_YEAR + 2)),
        (shanghai(THIS_YEAR, 12, 31, 23, 59, 59) + timedelta(microseconds=999999), shanghai(THIS_YEAR + 2)),
        # 00:00 on 1 January in Shanghai is still 31 December in UTC: it is next year's lot.
        (shanghai(THIS_YEAR + 1, 1, 1), shanghai(THIS_YEAR + 3)),
        (shanghai(next_leap_year(THIS_YEAR), 2, 29, 8), shanghai(next_leap_year(THIS_YEAR) + 2)),
    ],
)
def test_year_end_lot_expiry(earned: datetime, expires: datetime) -> None:
    got = lot_expiry(YEAR_END, earned)
    assert got == expires
    assert got is not None and got.astimezone(SHANGHAI).time() == time(0)  # a local midnight
    assert got.astimezone(UTC).hour == 16  # which is 16:00 UTC the day before


@pytest.mark.parametrize(
    "now, last_expired",
    [
        (shanghai(THIS_YEAR + 2), shanghai(THIS_YEAR + 1) - US),  # the midnight itself: last year's lots gone
        (shanghai(THIS_YEAR + 2) - US, shanghai(THIS_YEAR) - US),  # a microsecond before, they are not
        (shanghai(THIS_YEAR + 2, 7, 1), shanghai(THIS_YEAR + 1) - US),
        (shanghai(THIS_YEAR + 2, 12, 31, 23, 59), shanghai(THIS_YEAR + 1) - US),
    ],
)
def test_year_end_cutoff(now: datetime, last_expired: datetime) -> None:
    assert cutoff(YEAR_END, now) == last_expired


# --- ROLLING: N days after earning, to the microsecond ------------------------------------------------------


@pytest.mark.parametrize("days", [1, 30, 365, 366, 730])
def test_rolling_lot_expiry_and_cutoff(days: int) -> None:
    merchant = rows.merchant(points_expiry="ROLLING", points_expiry_days=days)
    assert lot_expiry(merchant, NOW) == NOW + timedelta(days=days)
    assert cutoff(merchant, NOW + timedelta(days=days)) == NOW


def test_rolling_over_a_leap_day_and_month_ends() -> None:
    leap = next_leap_year(THIS_YEAR)
    merchant = rows.merchant(points_expiry="ROLLING", points_expiry_days=365)
    # 365 days from 29 February is 28 February: days are counted, not calendar dates.
    assert lot_expiry(merchant, shanghai(leap, 2, 29, 10)) == shanghai(leap + 1, 2, 28, 10)
    # Across a leap year's February, 365 days from 1 March is the last day of February, not 1 March.
    assert lot_expiry(merchant, shanghai(leap - 1, 3, 1, 10)) == shanghai(leap, 2, 29, 10)
    month = rows.merchant(points_expiry="ROLLING", points_expiry_days=30)
    for year in (leap, leap + 1):  # 30 days from 31 January: 1 March in a leap year, 2 March otherwise
        expected = shanghai(year, 3, 1 if calendar.isleap(year) else 2, 23)
        assert lot_expiry(month, shanghai(year, 1, 31, 23)) == expected


def test_no_expiry_policy() -> None:
    merchant = rows.merchant()  # points_expiry NONE by default
    assert lot_expiry(merchant, NOW) is None and cutoff(merchant, NOW) is None


POLICIES = st.sampled_from([("ROLLING", 1), ("ROLLING", 90), ("ROLLING", 365), ("ROLLING", 3650), ("YEAR_END", 365)])
TIMES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))


@given(policy=POLICIES, earned=TIMES, now=TIMES)
def test_a_lot_has_expired_exactly_when_it_was_earned_by_the_cutoff(
    policy: tuple[str, int], earned: datetime, now: datetime
) -> None:
    """The job's cutoff and a lot's expiry are one rule: a lot earned at `earned` has expired by `now` (its expiry
    is at or before now) if and only if it was earned at or before cutoff(now)."""
    merchant = rows.merchant(points_expiry=policy[0], points_expiry_days=policy[1])
    expires, cut = lot_expiry(merchant, earned), cutoff(merchant, now)
    assert expires is not None and cut is not None
    assert (expires <= now) == (earned <= cut)
    assert expires > earned


@given(earned=TIMES, later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=800)))
def test_later_lots_never_expire_sooner(earned: datetime, later: timedelta) -> None:
    for merchant in (YEAR_END, rows.merchant(points_expiry="ROLLING", points_expiry_days=180)):
        assert lot_expiry(merchant, earned) <= lot_expiry(merchant, earned + later)  # type: ignore[operator]


# --- an imported lot's own date: its end in the merchant's zone -------------------------------------------


@pytest.mark.parametrize("days", [1, 30, 365])
def test_a_dated_import_expires_at_the_end_of_its_date_in_shanghai(days: int) -> None:
    day = NOW.astimezone(SHANGHAI).date() + timedelta(days=days)
    expires = import_expiry(rows.merchant(), day.isoformat())
    assert expires == shanghai(*(day + timedelta(days=1)).timetuple()[:3])  # the next local midnight
    assert expires.astimezone(UTC).date() == day and expires.astimezone(UTC).hour == 16  # UTC still on the date
    last_second = expires - timedelta(seconds=1)
    assert last_second.astimezone(SHANGHAI).date() == day  # spendable all of its last day


def test_a_dated_import_ending_on_29_february() -> None:
    leap = next_leap_year(THIS_YEAR + 1)
    assert import_expiry(rows.merchant(), f"{leap}-02-29") == shanghai(leap, 3, 1)
    assert import_expiry(rows.merchant(), f"{leap}-12-31") == shanghai(leap + 1, 1, 1)


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/Los_Angeles", "Pacific/Kiritimati"])
def test_a_dated_import_on_the_last_date_never_overflows(zone: str) -> None:
    """9999-12-31, "never" as some systems export it: the day after it does not exist, so the lot ends at the last
    datetime, after the day before it ends, and reads back in UTC."""
    merchant = rows.merchant(timezone=zone)
    last = import_expiry(merchant, date.max.isoformat())
    assert last > import_expiry(merchant, (date.max - timedelta(days=1)).isoformat())
    assert last.astimezone(UTC).year == date.max.year


# --- the birthday gift: the 1st of the month, or the day itself --------------------------------------------

MONTH, DAY = rows.merchant(birthday_on="MONTH"), rows.merchant(birthday_on="DAY")


def test_birthday_on_the_day_of_29_february() -> None:
    leap = next_leap_year(THIS_YEAR + 1)
    born = date(2000, 2, 29)
    assert birthday_in(DAY, born, leap) == datetime(leap, 2, 29, tzinfo=SHANGHAI)
    assert birthday_in(DAY, born, leap + 1) == datetime(leap + 1, 2, 28, tzinfo=SHANGHAI)
    assert birthday_in(MONTH, born, leap + 1) == datetime(leap + 1, 2, 1, tzinfo=SHANGHAI)


def local_today() -> date:
    return NOW.astimezone(SHANGHAI).date()


def born_on(day: date) -> date:
    """A birthday on `day`'s month and day (29 February born in 2000)."""
    return date(2000, day.month, day.day)


def test_birthday_month_still_due_inside_the_month() -> None:
    today = local_today()
    assert next_birthday(MONTH, born_on(today), NOW) == datetime(today.year, today.month, 1, tzinfo=SHANGHAI)


def test_birthday_month_over_is_due_next_year() -> None:
    today = local_today()
    last_month = today.replace(day=1) - timedelta(days=1)
    # Last month's birthday falls next in a year's time (in January, last month is this year's December).
    year = today.year if last_month.year < today.year else today.year + 1
    assert next_birthday(MONTH, born_on(last_month), NOW) == datetime(year, last_month.month, 1, tzinfo=SHANGHAI)


@pytest.mark.parametrize("hours", [0, 23])
def test_birthday_day_due_all_of_the_local_day(hours: int) -> None:
    today = local_today()
    at = datetime.combine(today, time(hours, 59), SHANGHAI).astimezone(UTC)
    due = next_birthday(DAY, born_on(today), at)
    assert due == datetime(today.year, today.month, today.day, tzinfo=SHANGHAI)


def test_birthday_day_passed_is_due_next_year() -> None:
    yesterday = local_today() - timedelta(days=1)
    at = datetime.combine(local_today(), time(0), SHANGHAI).astimezone(UTC)  # the first moment of today
    due = next_birthday(DAY, born_on(yesterday), at)
    year = local_today().year if yesterday.year < local_today().year else local_today().year + 1
    assert due == birthday_in(DAY, born_on(yesterday), year)
    assert due > at
