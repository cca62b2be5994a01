"""RFM scoring (reports/rfm.py): a member's recency, frequency and monetary over the 12 merchant-local months up to
today (`values`), the default cut points from a histogram (`quintiles`), the 1-5 score at and around each cut
(`score`: fewer days is better for recency; a value on a cut scores the higher side for F and M, for R "at or
below the first cut is a 5"), the eight segments (`segment_of`, high is 3 or more) and what a sale adds (`paid`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mini_program_api.db.orders import CheckoutOrder
from mini_program_api.reports import rfm, rfm_months
from tests.unit import rows

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = rows.now().astimezone(SHANGHAI).date()
R_CUTS, F_CUTS, M_CUTS = [7, 30, 90, 180], [1, 2, 4, 8], [10000, 50000, 100000, 500000]


def month(months_back: int, day: date = TODAY) -> str:
    """`YYYY-MM` of the month `months_back` before `day`'s."""
    index = day.year * 12 + day.month - 1 - months_back
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def at_local(day: date, hour: int = 12) -> str:
    return datetime.combine(day, time(hour), SHANGHAI).astimezone(UTC).isoformat()


# --- the member's values -------------------------------------------------------------------------------------


def test_values_over_the_last_12_months() -> None:
    history = {
        f"n:{month(0)}": 2,
        f"v:{month(0)}": 3000,
        f"n:{month(11)}": 1,  # the oldest month that counts
        f"v:{month(11)}": 5000,
        f"n:{month(12)}": 7,  # a year ago: dropped
        f"v:{month(12)}": 99999,
        "last": at_local(TODAY - timedelta(days=3)),
        "prev": at_local(TODAY - timedelta(days=40)),
    }
    assert rfm.values(history, TODAY, "Asia/Shanghai") == (3, 3, 8000)


@pytest.mark.parametrize(
    "history",
    [
        None,
        {},
        {f"n:{month(0)}": 1, f"v:{month(0)}": 100},  # no last purchase
        {f"n:{month(12)}": 1, f"v:{month(12)}": 100, "last": at_local(TODAY - timedelta(days=400))},  # too old
        {f"n:{month(1)}": 1, f"v:{month(1)}": 100, "last": at_local(TODAY)}  # refunded since: net zero purchases
        | {f"n:{month(0)}": -1, f"v:{month(0)}": -100},
    ],
)
def test_no_purchase_in_the_window_no_values(history: dict[str, object] | None) -> None:
    assert rfm.values(history, TODAY, "Asia/Shanghai") is None


def test_recency_counts_merchant_local_days() -> None:
    # 16:00 UTC yesterday is 00:00 today in Shanghai: a purchase today.
    midnight = datetime.combine(TODAY, time(0), SHANGHAI)
    history = {f"n:{month(0)}": 1, f"v:{month(0)}": 100}
    assert rfm.values(history | {"last": midnight.astimezone(UTC).isoformat()}, TODAY, "Asia/Shanghai")[0] == 0  # type: ignore[index]
    just_before = (midnight - timedelta(microseconds=1)).astimezone(UTC).isoformat()
    assert rfm.values(history | {"last": just_before}, TODAY, "Asia/Shanghai")[0] == 1  # type: ignore[index]


def test_monetary_never_below_zero() -> None:
    history = {f"n:{month(0)}": 2, f"v:{month(0)}": -500, "last": at_local(TODAY)}
    assert rfm.values(history, TODAY, "Asia/Shanghai") == (0, 2, 0)


@pytest.mark.parametrize("day", [date(TODAY.year, 1, 15), date(TODAY.year, 12, 31), date(TODAY.year, 3, 1)])
def test_the_window_crosses_the_new_year(day: date) -> None:
    """Twelve months back from January is last February: the months are counted across the year's end."""
    history = {f"n:{month(n, day)}": 1 for n in range(14)} | {"last": at_local(day)}
    assert rfm.values(history, day, "Asia/Shanghai") == (0, 12, 0)


# --- scores -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, r",
    [(0, 5), (7, 5), (8, 4), (30, 4), (31, 3), (90, 3), (91, 2), (180, 2), (181, 1), (366, 1)],
)
def test_recency_score(value: int, r: int) -> None:
    assert rfm.score("r", value, R_CUTS) == r


@pytest.mark.parametrize("value, f", [(0, 1), (1, 2), (2, 3), (3, 3), (4, 4), (7, 4), (8, 5), (1000, 5)])
def test_frequency_score(value: int, f: int) -> None:
    assert rfm.score("f", value, F_CUTS) == f


@pytest.mark.parametrize(
    "value, m", [(0, 1), (9999, 1), (10000, 2), (49999, 2), (50000, 3), (100000, 4), (499999, 4), (500000, 5)]
)
def test_monetary_score(value: int, m: int) -> None:
    assert rfm.score("m", value, M_CUTS) == m


def test_equal_cut_points() -> None:
    """Cut points may repeat (most members bought once): a value on them scores once, not in between."""
    assert [rfm.score("f", v, [1, 1, 1, 3]) for v in (0, 1, 2, 3)] == [1, 4, 4, 5]
    assert [rfm.score("r", v, [0, 0, 30, 30]) for v in (0, 1, 30, 31)] == [5, 3, 3, 1]


CUTS = st.lists(st.integers(0, 10**6), min_size=4, max_size=4).map(sorted)


@given(kind=st.sampled_from("rfm"), a=st.integers(0, 10**7), b=st.integers(0, 10**7), cuts=CUTS)
def test_scores_are_1_to_5_and_ordered(kind: str, a: int, b: int, cuts: list[int]) -> None:
    low, high = sorted((a, b))
    score_low, score_high = rfm.score(kind, low, cuts), rfm.score(kind, high, cuts)
    assert 1 <= score_low <= 5 and 1 <= score_high <= 5
    if kind == "r":
        assert score_low >= score_high  # more days since the last purchase never scores better
    else:
        assert score_low <= score_high


# --- segments ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "r, f, m, segment",
    [
        (5, 5, 5, "重要价值"),
        (3, 3, 3, "重要价值"),  # 3 is high
        (2, 3, 3, "重要保持"),
        (3, 2, 3, "重要发展"),
        (2, 2, 3, "重要挽留"),
        (3, 3, 2, "一般价值"),
        (1, 5, 1, "一般保持"),
        (5, 1, 2, "一般发展"),
        (1, 1, 1, "一般挽留"),
    ],
)
def test_segment_of(r: int, f: int, m: int, segment: str) -> None:
    assert rfm.segment_of(r, f, m) == segment


@given(r=st.integers(1, 5), f=st.integers(1, 5), m=st.integers(1, 5))
def test_every_score_has_one_known_segment(r: int, f: int, m: int) -> None:
    assert rfm.segment_of(r, f, m) in rfm.SEGMENTS


# --- default cut points ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, histogram, cuts",
    [
        ("f", {}, [0, 0, 0, 0]),
        ("f", {"1": 100}, [1, 1, 1, 1]),
        ("f", {"1": 50, "2": 30, "5": 20}, [1, 1, 2, 2]),
        ("f", {"1": 20, "2": 20, "3": 20, "4": 20, "10": 20}, [1, 2, 3, 4]),
        ("r", {"0": 1, "3": 1, "30": 1, "200": 1, "366": 1}, [0, 3, 30, 200]),
        ("m", {"10": 50, "12": 50}, [2047, 2047, 8191, 8191]),  # a log bucket's upper bound: 2^(b+1) - 1
    ],
)
def test_quintiles(kind: str, histogram: dict[str, int], cuts: list[int]) -> None:
    assert rfm.quintiles(histogram, kind) == cuts


@given(
    kind=st.sampled_from("rf"),
    histogram=st.dictionaries(st.integers(0, 366).map(str), st.integers(1, 1000), min_size=1),
)
def test_quintiles_are_four_ascending_values_seen(kind: str, histogram: dict[str, int]) -> None:
    cuts = rfm.quintiles(histogram, kind)
    assert len(cuts) == 4 and cuts == sorted(cuts)
    assert set(cuts) <= {int(b) for b in histogram}
    total = sum(histogram.values())
    # At least a fifth of the members are at or below the first cut, four fifths at or below the last.
    assert 5 * sum(n for b, n in histogram.items() if int(b) <= cuts[0]) >= total
    assert 5 * sum(n for b, n in histogram.items() if int(b) <= cuts[3]) >= 4 * total


# --- what a sale adds -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount, tier_discount, coupon_discount, paid", [(10000, 0, 0, 10000), (10000, 1200, 500, 8300), (1, 0, 0, 1)]
)
def test_paid_is_the_order_after_discounts_however_it_was_paid(
    amount: int, tier_discount: int, coupon_discount: int, paid: int
) -> None:
    order = CheckoutOrder(
        "o",
        "ORDER",
        amount=amount,
        tier_discount=tier_discount,
        coupon_discount=coupon_discount,
        points_value=100,
        bonus_used=200,
        principal_used=300,
    )
    assert rfm_months.paid(order) == paid
