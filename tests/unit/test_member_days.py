"""Member days (merchants/member_days.py): what a day must meet (`validate`) and which day applies to a sale
(`applying`: its local day in the merchant's zone, its tiers, its bounds, and the highest multiplier when several
match). What the multiplier does to the points is checkout's (test_checkout_pricing.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mini_program_api.db.models import MemberDay
from mini_program_api.merchants.member_days import MAX_DAYS, DaySpec, applying, validate
from mini_program_api.platform.errors import KabaoError
from tests.unit import rows

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = rows.now().astimezone(SHANGHAI).date()
BASE = DaySpec("d1", "周三会员日", 200, weekdays=(3,))


def spec(**change: object) -> DaySpec:
    return BASE._replace(**change)


@pytest.mark.parametrize(
    "specs",
    [
        [],
        [BASE],
        [spec(multiplier=101), spec(day_id="d2", multiplier=1000, weekdays=(), dates=(TODAY,))],
        [spec(weekdays=(1, 2, 3, 4, 5, 6, 7))],
        [spec(starts_on=TODAY, ends_on=TODAY)],
        [spec(tier_ids=("silver", "gold"))],
        [spec(day_id=f"d{i}") for i in range(MAX_DAYS)],
    ],
)
def test_member_days_accepted(specs: list[DaySpec]) -> None:
    validate(rows.merchant(), specs)


@pytest.mark.parametrize(
    "specs",
    [
        [spec(multiplier=100)],  # not a bonus
        [spec(multiplier=1001)],
        [spec(weekdays=())],  # no day at all
        [spec(weekdays=(0,))],
        [spec(weekdays=(8,))],
        [spec(weekdays=(3, 3))],
        [spec(starts_on=TODAY, ends_on=TODAY - timedelta(days=1))],
        [spec(tier_ids=("platinum",))],
        [BASE, spec(weekdays=(5,))],  # the same id twice
        [spec(day_id=f"d{i}") for i in range(MAX_DAYS + 1)],
    ],
)
def test_member_days_refused(specs: list[DaySpec]) -> None:
    with pytest.raises(KabaoError) as exc:
        validate(rows.merchant(), specs)
    assert exc.value.code == "VALIDATION_ERROR"


def at_local(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), SHANGHAI).astimezone(UTC)


DAYS = st.integers(0, 400).map(lambda n: TODAY + timedelta(days=n))
STORED = st.lists(
    st.builds(
        lambda i, multiplier, weekdays, tiers, bounds: rows.member_day(
            f"d{i}",
            multiplier,
            weekdays=weekdays,
            tier_ids=tiers,
            starts_on=bounds[0].isoformat() if bounds[0] else None,
            ends_on=bounds[1].isoformat() if bounds[1] else None,
        ),
        st.integers(0, 99),
        st.integers(101, 1000),
        st.lists(st.integers(1, 7), min_size=1, max_size=3, unique=True),
        st.sampled_from([[], ["gold"], ["normal", "silver"]]),
        st.tuples(st.none() | DAYS, st.none() | DAYS),
    ),
    max_size=6,
)


@given(days=STORED, day=DAYS, hour=st.integers(0, 23), tier=st.sampled_from(["normal", "silver", "gold"]))
def test_the_highest_matching_day_applies(days: list[MemberDay], day: date, hour: int, tier: str) -> None:
    """`applying` picks, among the days whose weekday, tiers and bounds hold on the sale's local day, one with
    the highest multiplier; none when none holds."""
    got = applying(rows.merchant(days=days), tier, at_local(day, hour))

    def holds(d: MemberDay) -> bool:
        return (
            day.isoweekday() in d.weekdays
            and (not d.tier_ids or tier in d.tier_ids)
            and (d.starts_on is None or date.fromisoformat(d.starts_on) <= day)
            and (d.ends_on is None or day <= date.fromisoformat(d.ends_on))
        )

    matching = [d for d in days if holds(d)]
    if not matching:
        assert got is None
    else:
        assert got is not None and holds(got)
        assert int(got.multiplier) == max(int(d.multiplier) for d in matching)


def test_a_date_day_applies_all_of_its_local_day_only() -> None:
    day = TODAY + timedelta(days=9)
    merchant = rows.merchant(days=[rows.member_day("sale", 300, dates=[day.isoformat()])])
    start = at_local(day, 0)
    assert applying(merchant, "normal", start) is not None
    assert applying(merchant, "normal", start + timedelta(hours=24) - timedelta(microseconds=1)) is not None
    assert applying(merchant, "normal", start - timedelta(microseconds=1)) is None
    assert applying(merchant, "normal", start + timedelta(hours=24)) is None
