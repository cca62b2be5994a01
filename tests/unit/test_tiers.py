"""Tier placement (members/tiers.py): the tier a growth reaches, boundaries exactly at thresholds, growth that only
ever raises a tier, qualifying growth after a review's base, the progress shown to the member, the base a refund's
clawback takes, and the 12-month arithmetic of the review. The annual review places a member by the last 12
months' growth with `for_growth` (members/lifecycle.py `_review`), so that is where a downgrade comes from.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mini_program_api.db.models import Member
from mini_program_api.db.transact import Transaction
from mini_program_api.members import tiers, upgrades
from tests.unit import rows

MERCHANT = rows.merchant()  # normal 0, silver 1000, gold 5000
GROWTH = st.integers(0, 10**12)


@pytest.mark.parametrize(
    "growth, tier",
    [
        (0, "normal"),
        (999, "normal"),
        (1000, "silver"),  # exactly at the threshold
        (1001, "silver"),
        (4999, "silver"),
        (5000, "gold"),
        (10**12, "gold"),
        (-5, "normal"),  # any growth value places
    ],
)
def test_for_growth(growth: int, tier: str) -> None:
    assert tiers.for_growth(MERCHANT, growth).tier_id == tier


def test_tiers_are_ordered_by_threshold_not_as_stored() -> None:
    shuffled = rows.merchant(tiers=(("gold", 5000, 88, 150), ("normal", 0, 100, 100), ("silver", 1000, 95, 120)))
    assert [tiers.for_growth(shuffled, g).tier_id for g in (0, 1000, 5000)] == ["normal", "silver", "gold"]
    assert tiers.entry_tier(shuffled).tier_id == "normal"


@given(a=GROWTH, b=GROWTH)
def test_more_growth_never_places_lower(a: int, b: int) -> None:
    low, high = sorted((a, b))
    placed_low, placed_high = tiers.for_growth(MERCHANT, low), tiers.for_growth(MERCHANT, high)
    assert int(placed_low.threshold) <= int(placed_high.threshold)
    assert int(placed_high.threshold) <= high  # the highest tier reached, never one above
    higher = [t for t in MERCHANT.tiers if int(t.threshold) > int(placed_high.threshold)]
    assert all(int(t.threshold) > high for t in higher)


@pytest.mark.parametrize(
    "tier, growth, base, delta, placed",
    [
        ("normal", 990, 0, 9, "normal"),
        ("normal", 990, 0, 10, "silver"),  # crosses exactly onto the threshold
        ("normal", 0, 0, 5000, "gold"),  # straight past silver
        ("gold", 0, 0, 0, "gold"),  # growth only ever raises: no growth is not a downgrade
        ("gold", 1200, 0, 10, "gold"),
        ("silver", 6000, 2000, 0, "silver"),  # 4000 qualifying after the review's base
        ("silver", 6000, 2000, 1000, "gold"),
        ("normal", 100, 500, 950, "normal"),  # qualifying growth never below zero: 0 + 950
        ("gone", 100, 0, 0, "normal"),  # a tier the merchant removed places as the entry tier
    ],
)
def test_placed(tier: str, growth: int, base: int, delta: int, placed: str) -> None:
    member = rows.member(tier_id=tier, growth=growth, tier_base=base)
    assert tiers.placed(MERCHANT, member, delta).tier_id == placed


@given(
    tier=st.sampled_from(["normal", "silver", "gold", None]), growth=GROWTH, base=GROWTH, delta=st.integers(0, 10**6)
)
def test_growth_never_lowers_a_tier(tier: str | None, growth: int, base: int, delta: int) -> None:
    member = rows.member(tier_id=tier, growth=growth, tier_base=base)
    before = tiers.current(MERCHANT, tier)
    after = tiers.placed(MERCHANT, member, delta)
    assert int(after.threshold) >= int(before.threshold)
    assert after.tier_id in (before.tier_id, tiers.for_growth(MERCHANT, tiers.qualifying(member) + delta).tier_id)


@pytest.mark.parametrize(
    "window, tier", [(0, "normal"), (999, "normal"), (1000, "silver"), (4999, "silver"), (5000, "gold")]
)
def test_review_places_by_the_window_down_as_well_as_up(window: int, tier: str) -> None:
    """A gold member whose last 12 months earned `window` is placed by it alone: below gold's threshold is a
    downgrade, which `placed` (growth as it comes) never gives."""
    gold = rows.member(tier_id="gold", growth=20000)
    assert tiers.for_growth(MERCHANT, window).tier_id == tier
    assert tiers.placed(MERCHANT, gold, 0).tier_id == "gold"


@pytest.mark.parametrize(
    "growth, base, qualifying", [(0, 0, 0), (1500, 0, 1500), (1500, 1000, 500), (1500, 1500, 0), (1000, 1500, 0)]
)
def test_qualifying(growth: int, base: int, qualifying: int) -> None:
    assert tiers.qualifying(rows.member(growth=growth, tier_base=base)) == qualifying


@pytest.mark.parametrize(
    "tier, growth, base, next_tier, to_next",
    [
        ("normal", 0, 0, "silver", 1000),
        ("normal", 999, 0, "silver", 1),
        ("silver", 1000, 0, "gold", 4000),
        ("silver", 6000, 3000, "gold", 2000),
        ("silver", 7000, 0, "gold", 0),  # already past it (a review will place them): never negative
        ("gold", 9000, 0, None, None),
    ],
)
def test_progress(tier: str, growth: int, base: int, next_tier: str | None, to_next: int | None) -> None:
    progress = tiers.progress(MERCHANT, rows.member(tier_id=tier, growth=growth, tier_base=base))
    assert progress.tier.tier_id == tier
    assert (progress.next_tier.tier_id if progress.next_tier else None, progress.growth_to_next) == (next_tier, to_next)


# --- a refund's clawback and the review's base -------------------------------------------------------------

WINDOW_FROM = rows.now() - timedelta(days=100)


@pytest.mark.parametrize(
    "growth, base, clawed, earned_days_ago, off_base",
    [
        (3000, 0, 500, 10, 0),  # no review yet: nothing in a base
        (3000, 1000, 500, 10, 0),  # qualifying growth (2000) covers it
        (3000, 1000, 2000, 10, 0),
        (3000, 1000, 2500, 10, 500),  # qualifying covers 2000, the base the rest
        (3000, 1000, 9000, 10, 1000),  # never more than the base
        (3000, 1000, 300, 200, 300),  # a sale from before the window: its growth had moved into the base
        (3000, 1000, 1500, 200, 1000),
        (3000, 0, 300, 200, 0),
    ],
)
def test_after_clawback(growth: int, base: int, clawed: int, earned_days_ago: int, off_base: int) -> None:
    member = rows.member(growth=growth, tier_base=base, tier_window_from=WINDOW_FROM if base else None)
    earned_at = rows.now() - timedelta(days=earned_days_ago)
    expected = [Member.tier_base.add(-off_base)] if off_base else []
    assert tiers.after_clawback(member, clawed, earned_at) == expected


@given(growth=GROWTH, base=GROWTH, clawed=GROWTH, before_window=st.booleans())
def test_clawback_keeps_qualifying_growth_and_the_base_non_negative(
    growth: int, base: int, clawed: int, before_window: bool
) -> None:
    clawed = min(clawed, growth)  # a refund claws back at most the growth the member has (checkout.refund)
    member = rows.member(growth=growth, tier_base=base, tier_window_from=WINDOW_FROM)
    earned_at = WINDOW_FROM - timedelta(days=1) if before_window else WINDOW_FROM + timedelta(days=1)
    actions = tiers.after_clawback(member, clawed, earned_at)
    off_base = -int(actions[0].values[1].value["N"]) if actions else 0
    assert 0 <= off_base <= base
    new_growth, new_base = growth - clawed, base - off_base
    if growth >= base:  # as the review leaves it (base = growth - window)
        assert new_growth - new_base >= 0  # qualifying growth never below zero


# --- twelve months on ----------------------------------------------------------------------------------------


def test_add_months_clamps_to_the_month_end() -> None:
    year = rows.now().year + 1
    leap = next(y for y in range(year, year + 8) if calendar.isleap(y))
    at = datetime(leap, 1, 31, 15, 30, tzinfo=UTC)
    assert tiers.add_months(at, 1) == datetime(leap, 2, 29, 15, 30, tzinfo=UTC)
    assert tiers.add_months(datetime(leap + 1, 1, 31, tzinfo=UTC), 1) == datetime(leap + 1, 2, 28, tzinfo=UTC)
    assert tiers.add_months(datetime(leap, 2, 29, tzinfo=UTC), 12) == datetime(leap + 1, 2, 28, tzinfo=UTC)
    assert tiers.add_months(datetime(leap, 2, 29, tzinfo=UTC), -12) == datetime(leap - 1, 2, 28, tzinfo=UTC)
    assert tiers.add_months(datetime(leap, 12, 15, tzinfo=UTC), 1) == datetime(leap + 1, 1, 15, tzinfo=UTC)
    assert tiers.add_months(datetime(leap, 1, 15, tzinfo=UTC), -1) == datetime(leap - 1, 12, 15, tzinfo=UTC)


@given(
    at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
    months=st.integers(-240, 240),
)
def test_add_months_moves_whole_months(at: datetime, months: int) -> None:
    moved = tiers.add_months(at, months)
    assert (moved.year * 12 + moved.month) - (at.year * 12 + at.month) == months
    assert moved.day == min(at.day, calendar.monthrange(moved.year, moved.month)[1])
    assert moved.time() == at.time() and moved.tzinfo == at.tzinfo


# --- the upgrade written in the transaction that crosses the threshold ---------------------------------------


@pytest.mark.parametrize(
    "tier, growth, delta, upgraded_to",
    [("normal", 990, 9, None), ("normal", 990, 10, "silver"), ("silver", 1000, 9000, "gold"), ("gold", 9000, 5, None)],
)
def test_after_growth_sets_the_tier_it_reaches(tier: str, growth: int, delta: int, upgraded_to: str | None) -> None:
    member = rows.member(tier_id=tier, growth=growth)
    at = rows.now()
    placement = upgrades.after_growth(Transaction(), MERCHANT, member, delta, at)
    assert placement.upgraded is (upgraded_to is not None)
    assert placement.tier.tier_id == (upgraded_to or tier)
    expected = [Member.tier_id.set(upgraded_to), Member.tier_reached_at.set(at)] if upgraded_to else []
    assert placement.actions == expected
    assert placement.condition is not None  # pinned to the row as read, upgrade or not
