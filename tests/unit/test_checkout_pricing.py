"""Checkout's price rule (till/checkout.py `quote`): tier discount, then the coupon, then points, then stored value
(bonus first), the rest in cash; points and growth on what money paid, times the tier's and the member day's rate.

The examples pin each step's rounding; the properties hold for every request `quote` accepts: every fen of the
order is accounted for exactly once, nothing paid exceeds what is due, no part is negative, and stored value
never takes more than the member holds. A request it refuses is refused with a 4xx code, never another error.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from mini_program_api.db.coupons import Coupon
from mini_program_api.platform.errors import KabaoError
from mini_program_api.till.checkout import MAX_AMOUNT, Quote, Request, quote
from tests.unit import rows

SHANGHAI = ZoneInfo("Asia/Shanghai")
REFUSALS = {
    "AMOUNT_OUT_OF_RANGE",
    "VALIDATION_ERROR",
    "PAYMENT_EXCEEDS_DUE",
    "INSUFFICIENT_POINTS",
    "INSUFFICIENT_BALANCE",
    "COUPON_NOT_APPLICABLE",
}


def priced(
    amount: int,
    tier: str = "normal",
    coupon: Coupon | None = None,
    points: int = 0,
    stored_value: int = 0,
    balances: tuple[int, int, int] = (0, 0, 0),
    at: datetime | None = None,
    **merchant: object,
) -> Quote:
    """Quote a sale of `amount` fen by a member of `tier` holding (points, principal, bonus)."""
    held_points, principal, bonus = balances
    member = rows.member(tier_id=tier, points=held_points, principal=principal, bonus=bonus)
    return quote(
        rows.merchant(**merchant), member, coupon, Request(amount, None, points, stored_value), at or rows.now()
    )


def refused(code: str, *args: object, **kwargs: object) -> None:
    with pytest.raises(KabaoError) as exc:
        priced(*args, **kwargs)  # type: ignore[arg-type]
    assert exc.value.code == code


# --- amounts ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [1, 2, 99, 100, 12345, MAX_AMOUNT])
def test_amounts_in_range_are_priced(amount: int) -> None:
    assert priced(amount).cash_due == amount


@pytest.mark.parametrize(
    "amount, points, stored_value",
    [(0, 0, 0), (-1, 0, 0), (MAX_AMOUNT + 1, 0, 0), (10**40, 0, 0), (100, -1, 0), (100, 0, -1)],
)
def test_amounts_out_of_range_are_refused(amount: int, points: int, stored_value: int) -> None:
    refused("AMOUNT_OUT_OF_RANGE", amount, points=points, stored_value=stored_value)


# --- tier discount: amount * (100 - rate) // 100, rounded down -------------------------------------------------


@pytest.mark.parametrize(
    "tier, amount, discount",
    [
        ("normal", 10000, 0),
        ("silver", 10000, 500),  # 95 折
        ("silver", 19, 0),  # 0.95 fen off rounds down to nothing
        ("silver", 20, 1),
        ("silver", 39, 1),
        ("gold", 10000, 1200),  # 88 折
        ("gold", 1, 0),
        ("gold", 9, 1),
        ("unknown-tier", 10000, 0),  # a tier the merchant deleted prices as the entry tier
    ],
)
def test_tier_discount_rounds_down(tier: str, amount: int, discount: int) -> None:
    q = priced(amount, tier)
    assert (q.tier_discount, q.cash_due) == (discount, amount - discount)


# --- coupons: 满减 / 折扣 / 现金 at checkout, 礼品 never -----------------------------------------------------------


FULL_REDUCTION = {"kind": "FULL_REDUCTION", "threshold": 10000, "amount": 2000}
DISCOUNT = {"kind": "DISCOUNT", "rate": 85, "max_discount": 1000}
CASH = {"kind": "CASH", "amount": 500}


@pytest.mark.parametrize(
    "terms, tier, amount, off",
    [
        (FULL_REDUCTION, "normal", 10000, 2000),  # exactly at the threshold
        (FULL_REDUCTION, "normal", 25000, 2000),
        (FULL_REDUCTION, "silver", 10527, 2000),  # 10527 - 526 = 10001 after the tier: still reaches it
        (DISCOUNT, "normal", 5000, 750),  # 15% of 5000
        (DISCOUNT, "normal", 5001, 750),  # 750.15 rounds down
        (DISCOUNT, "normal", 6666, 999),
        (DISCOUNT, "normal", 6667, 1000),  # 1000.05: at the cap
        (DISCOUNT, "normal", 100000, 1000),  # capped by max_discount
        (DISCOUNT, "gold", 5000, 660),  # 15% of the 4400 left after the gold tier's 12%
        (CASH, "normal", 5000, 500),
        (CASH, "normal", 1000, 500),  # exactly half of the order
        (CASH, "normal", 999, 499),  # never more than half of the order: 499.5 rounds down
        (CASH, "normal", 1, 0),
        (CASH, "gold", 600, 300),  # half of the order, not of the 528 left after the tier
        ({"kind": "CASH", "amount": 5000}, "gold", 6000, 3000),
    ],
)
def test_coupon_discount_by_kind(terms: dict[str, object], tier: str, amount: int, off: int) -> None:
    q = priced(amount, tier, coupon=rows.coupon(**terms))  # type: ignore[arg-type]
    assert q.coupon_discount == off
    assert q.cash_due == amount - q.tier_discount - off


@pytest.mark.parametrize(
    "terms, tier, amount",
    [
        (FULL_REDUCTION, "normal", 9999),  # one fen below the threshold
        (FULL_REDUCTION, "gold", 11000),  # 11000 before the tier, 9680 after it: the threshold is after the tier
        ({"kind": "GIFT", "gift_name": "咖啡一杯"}, "normal", 100000),  # gift coupons are redeemed by code only
    ],
)
def test_coupon_refused(terms: dict[str, object], tier: str, amount: int) -> None:
    refused("COUPON_NOT_APPLICABLE", amount, tier, coupon=rows.coupon(**terms))  # type: ignore[arg-type]


# --- points as payment: points * 100 / points_per_yuan fen, whole fen only -------------------------------------


@pytest.mark.parametrize(
    "per_yuan, points, value",
    [(100, 0, 0), (100, 1, 1), (100, 250, 250), (10, 3, 30), (200, 2, 1), (200, 400, 200), (300, 3, 1)],
)
def test_points_value(per_yuan: int, points: int, value: int) -> None:
    q = priced(10000, points=points, balances=(10**6, 0, 0), points_per_yuan=per_yuan)
    assert (q.points_value, q.cash_due) == (value, 10000 - value)


@pytest.mark.parametrize("per_yuan, points", [(200, 1), (200, 3), (300, 1), (300, 299), (1000, 5)])
def test_points_that_are_not_whole_fen_are_refused(per_yuan: int, points: int) -> None:
    refused("VALIDATION_ERROR", 10000, points=points, balances=(10**6, 0, 0), points_per_yuan=per_yuan)


def test_payment_is_checked_against_what_is_due_after_discounts() -> None:
    # gold: 10000 - 1200 = 8800 due; a CASH coupon of 500 leaves 8300.
    coupon = rows.coupon(**CASH)  # type: ignore[arg-type]
    assert priced(10000, "gold", coupon, points=300, stored_value=8000, balances=(300, 8000, 0)).cash_due == 0
    refused("PAYMENT_EXCEEDS_DUE", 10000, "gold", coupon, points=301, stored_value=8000, balances=(301, 8000, 0))
    refused("PAYMENT_EXCEEDS_DUE", 10000, "gold", coupon, stored_value=8301, balances=(0, 9000, 0))


@pytest.mark.parametrize(
    "points, stored_value, balances, code",
    [
        (101, 0, (100, 0, 0), "INSUFFICIENT_POINTS"),
        (0, 101, (0, 50, 50), "INSUFFICIENT_BALANCE"),
        (0, 1, (0, 0, 0), "INSUFFICIENT_BALANCE"),
    ],
)
def test_balances_short(points: int, stored_value: int, balances: tuple[int, int, int], code: str) -> None:
    refused(code, 10000, points=points, stored_value=stored_value, balances=balances)


# --- stored value: bonus first, then principal -----------------------------------------------------------------


@pytest.mark.parametrize(
    "stored_value, principal, bonus, used",
    [
        (3000, 5000, 5000, (3000, 0)),
        (3000, 5000, 1000, (1000, 2000)),
        (3000, 3000, 0, (0, 3000)),
        (6000, 1000, 5000, (5000, 1000)),
    ],
)
def test_stored_value_takes_bonus_first(stored_value: int, principal: int, bonus: int, used: tuple[int, int]) -> None:
    q = priced(10000, stored_value=stored_value, balances=(0, principal, bonus))
    assert (q.bonus_used, q.principal_used, q.cash_due) == (*used, 10000 - stored_value)


# --- what a sale earns -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tier, amount, points, stored_value, earned",
    [
        ("normal", 10000, 0, 0, 100),  # 100 yuan paid
        ("normal", 10099, 0, 0, 100),  # whole yuan only
        ("normal", 99, 0, 0, 0),
        ("normal", 10000, 5000, 0, 50),  # points pay 50 yuan: only the 50 paid with money earn
        ("normal", 10000, 0, 6000, 100),  # stored value is money: it earns
        ("silver", 10000, 0, 0, 114),  # 95 yuan x 120%
        ("gold", 10000, 0, 0, 132),  # 88 yuan x 150%
    ],
)
def test_points_and_growth_on_money_paid(tier: str, amount: int, points: int, stored_value: int, earned: int) -> None:
    q = priced(amount, tier, points=points, stored_value=stored_value, balances=(10**6, 10**6, 0))
    assert q.points_earned == earned
    assert q.growth_earned == (stored_value + q.cash_due) // 100  # growth_per_yuan 1, no multiplier


def test_earning_rates_come_from_the_merchant() -> None:
    q = priced(10000, earn_points_per_yuan=3, growth_per_yuan=2)
    assert (q.points_earned, q.growth_earned) == (300, 200)


# --- member days: the highest matching multiplier, on top of the tier's, in the merchant's zone ----------------


def local_midnight_after(at: datetime, days: int) -> datetime:
    """00:00 in Shanghai `days` days after `at`'s local day, in UTC as the product's clock gives it (16:00 the
    evening before)."""
    day = at.astimezone(SHANGHAI).date() + timedelta(days=days)
    return datetime.combine(day, time(0), SHANGHAI).astimezone(UTC)


def local_day(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


def test_member_day_multiplies_on_top_of_the_tier() -> None:
    at = local_midnight_after(rows.now(), 3)
    days = [rows.member_day("double", 200, weekdays=[local_day(at).isoweekday()])]
    q = priced(10000, "silver", at=at, days=days)
    assert (q.points_earned, q.member_day_id, q.member_day_multiplier) == (228, "double", 200)  # 95 x 1.2 x 2


def test_member_day_follows_the_local_day_not_utc() -> None:
    midnight = local_midnight_after(rows.now(), 5)
    days = [rows.member_day("day", 300, dates=[local_day(midnight).isoformat()])]
    just_before = midnight - timedelta(microseconds=1)
    assert midnight.date() == local_day(just_before) != local_day(midnight)  # UTC's day is still the day before
    assert priced(10000, at=midnight, days=days).points_earned == 300
    assert priced(10000, at=just_before, days=days).member_day_id is None


def test_member_days_do_not_stack_the_highest_wins() -> None:
    at = local_midnight_after(rows.now(), 1)
    days = [
        rows.member_day("weekly", 150, weekdays=[local_day(at).isoweekday()]),
        rows.member_day("gold-only", 500, weekdays=[local_day(at).isoweekday()], tier_ids=["gold"]),
        rows.member_day("today", 300, dates=[local_day(at).isoformat()]),
        rows.member_day(
            "over", 900, weekdays=[local_day(at).isoweekday()], ends_on=(local_day(at) - timedelta(days=1)).isoformat()
        ),
        rows.member_day(
            "later",
            800,
            weekdays=[local_day(at).isoweekday()],
            starts_on=(local_day(at) + timedelta(days=1)).isoformat(),
        ),
    ]
    normal = priced(10000, at=at, days=days)
    assert (normal.member_day_id, normal.points_earned) == ("today", 300)
    gold = priced(10000, "gold", at=at, days=days)
    assert (gold.member_day_id, gold.points_earned) == ("gold-only", 660)  # 88 x 1.5 x 5


def test_member_day_bounds_are_inclusive() -> None:
    at = local_midnight_after(rows.now(), 2) + timedelta(hours=23, minutes=59)
    day = local_day(at).isoformat()
    days = [rows.member_day("one-day", 200, weekdays=[local_day(at).isoweekday()], starts_on=day, ends_on=day)]
    assert priced(10000, at=at, days=days).member_day_multiplier == 200


def test_no_member_day_no_fields() -> None:
    q = priced(10000)
    assert (q.member_day_id, q.member_day_multiplier) == (None, None)


# --- properties over every request -----------------------------------------------------------------------------

COUPONS = st.one_of(
    st.none(),
    st.builds(
        lambda threshold, off: rows.coupon("FULL_REDUCTION", threshold=threshold, amount=off),
        st.integers(0, 10**6),
        st.integers(1, 10**6),
    ),
    st.builds(
        lambda rate, cap: rows.coupon("DISCOUNT", rate=rate, max_discount=cap),
        st.integers(50, 99),
        st.integers(1, 10**6),
    ),
    st.builds(lambda off: rows.coupon("CASH", amount=off), st.integers(1, 10**6)),
)
TIER_IDS = st.sampled_from(["normal", "silver", "gold", "gone"])


@given(
    amount=st.integers(1, MAX_AMOUNT),
    tier=TIER_IDS,
    coupon=COUPONS,
    points_share=st.integers(0, 100),
    stored_share=st.integers(0, 100),
    principal=st.integers(0, 10**8),
    bonus=st.integers(0, 10**8),
    per_yuan=st.sampled_from([1, 10, 50, 100, 200]),
)
def test_every_fen_is_accounted_for(
    amount: int,
    tier: str,
    coupon: Coupon | None,
    points_share: int,
    stored_share: int,
    principal: int,
    bonus: int,
    per_yuan: int,
) -> None:
    """Whatever the coupon, tier and mix, an accepted sale splits the order into non-negative parts that add up
    to it; money and points together pay exactly what is due; the coupon takes at most half."""
    due_guess = amount * 88 // 100 // 2  # below what is due at any tier and coupon: the mix is mostly accepted
    points_value = due_guess * points_share // 100
    points = points_value * per_yuan // 100
    stored = min((due_guess - points_value) * stored_share // 100, principal + bonus)
    try:
        q = priced(amount, tier, coupon, points, stored, (points, principal, bonus), points_per_yuan=per_yuan)
    except KabaoError as exc:
        assert exc.code in REFUSALS
        assume(False)
    parts = (q.tier_discount, q.coupon_discount, q.points_value, q.bonus_used, q.principal_used, q.cash_due)
    assert all(part >= 0 for part in parts)
    assert sum(parts) == amount
    due = amount - q.tier_discount - q.coupon_discount
    assert q.points_value + q.bonus_used + q.principal_used + q.cash_due == due <= amount
    assert q.bonus_used + q.principal_used == stored
    assert q.bonus_used <= bonus and q.principal_used <= principal
    assert q.principal_used == 0 or q.bonus_used == bonus  # principal only once the bonus is gone
    assert q.coupon_discount <= amount // 2
    assert q.growth_earned == (stored + q.cash_due) // 100
    assert 0 <= q.points_earned <= (stored + q.cash_due) // 100 * 150 // 100  # at most the gold tier's 150%


@st.composite
def any_request(draw: st.DrawFn) -> tuple[int, int, int, tuple[int, int, int]]:
    """A sale and balances anywhere around the order's size: often fitting, often a fen too much."""
    amount = draw(st.integers(1, MAX_AMOUNT))
    near = st.integers(0, amount + 1) | st.integers(0, 2 * MAX_AMOUNT)
    points, stored = draw(near), draw(near)
    balances = (draw(st.sampled_from([points, max(0, points - 1)]) | near), draw(near), draw(near))
    return amount, points, stored, balances


@given(request=any_request(), coupon=COUPONS, tier=TIER_IDS)
def test_what_is_paid_never_exceeds_what_is_due(
    request: tuple[int, int, int, tuple[int, int, int]], coupon: Coupon | None, tier: str
) -> None:
    """Any request at all: refused with a 4xx code, or priced with nothing paid beyond what is due and nothing
    taken beyond what the member holds."""
    amount, points, stored, (held_points, principal, bonus) = request
    try:
        q = priced(amount, tier, coupon, points, stored, (held_points, principal, bonus))
    except KabaoError as exc:
        assert exc.code in REFUSALS
        event(f"refused {exc.code}")
        return
    event("priced")
    due = amount - q.tier_discount - q.coupon_discount
    assert 0 <= q.points_value + stored <= due
    assert points <= held_points and stored <= principal + bonus
    assert q.cash_due == due - q.points_value - stored >= 0


@given(amount=st.integers(1, MAX_AMOUNT), extra=st.integers(1, MAX_AMOUNT), tier=TIER_IDS)
def test_paying_more_never_earns_less(amount: int, extra: int, tier: str) -> None:
    assume(amount + extra <= MAX_AMOUNT)
    small, large = priced(amount, tier), priced(amount + extra, tier)
    assert large.points_earned >= small.points_earned and large.growth_earned >= small.growth_earned
    assert large.cash_due >= small.cash_due
