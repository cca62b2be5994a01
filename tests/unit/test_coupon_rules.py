"""Coupon rules (coupons/): what each kind takes off (`redemption.discount`), what a template must meet
(`templates.validate`), when a coupon may be used (`redemption.check_usable`), its status and its template's,
who may claim (`eligibility`), how stock is sharded (`stock.shard_sizes`) and a claimed coupon's validity
(`claims.new_coupon`). 满减 FULL_REDUCTION, 折扣 DISCOUNT, 礼品 GIFT, 现金 CASH.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mini_program_api.coupons import claims, eligibility, held, redemption, stock, template_admin, templates
from mini_program_api.coupons.templates import TemplateSpec
from mini_program_api.db.coupons import Coupon
from mini_program_api.db.schema import sortable
from mini_program_api.platform.errors import KabaoError
from tests.unit import rows

SHANGHAI = ZoneInfo("Asia/Shanghai")

# --- the discount each kind gives: never more than the order after its tier, nor half of the order ----------


@pytest.mark.parametrize(
    "terms, amount, order, off",
    [
        ({"kind": "FULL_REDUCTION", "threshold": 5000, "amount": 1000}, 5000, 5000, 1000),
        ({"kind": "FULL_REDUCTION", "threshold": 5000, "amount": 1000}, 80000, 80000, 1000),
        ({"kind": "FULL_REDUCTION", "threshold": 0, "amount": 1000}, 1500, 1500, 750),  # half of the order
        ({"kind": "FULL_REDUCTION", "threshold": 0, "amount": 1000}, 500, 3000, 500),  # all that is left
        ({"kind": "DISCOUNT", "rate": 80, "max_discount": 3000}, 10000, 10000, 2000),
        ({"kind": "DISCOUNT", "rate": 80, "max_discount": 1500}, 10000, 10000, 1500),
        ({"kind": "DISCOUNT", "rate": 99, "max_discount": 3000}, 99, 99, 0),  # 0.99 fen rounds down
        ({"kind": "DISCOUNT", "rate": 99, "max_discount": 3000}, 100, 100, 1),
        ({"kind": "DISCOUNT", "rate": 50, "max_discount": 10**6}, 7, 7, 3),  # 3.5 rounds down, and half is 3
        ({"kind": "DISCOUNT", "rate": 50, "max_discount": 10**6}, 8, 10, 4),  # on the amount after the tier
        ({"kind": "CASH", "amount": 300}, 10000, 10000, 300),
        ({"kind": "CASH", "amount": 300}, 601, 601, 300),
        ({"kind": "CASH", "amount": 300}, 599, 599, 299),
        ({"kind": "CASH", "amount": 300}, 1, 1, 0),
        ({"kind": "CASH", "amount": 300}, 200, 1000, 200),  # never more than is left
    ],
)
def test_discount(terms: dict[str, object], amount: int, order: int, off: int) -> None:
    assert redemption.discount(rows.coupon(**terms), amount, order) == off  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "terms, amount",
    [
        ({"kind": "FULL_REDUCTION", "threshold": 5000, "amount": 1000}, 4999),
        ({"kind": "CASH", "amount": 300, "threshold": 1}, 0),
        ({"kind": "GIFT", "gift_name": "蛋糕"}, 10**6),
    ],
)
def test_discount_refused(terms: dict[str, object], amount: int) -> None:
    with pytest.raises(KabaoError) as exc:
        redemption.discount(rows.coupon(**terms), amount, amount)  # type: ignore[arg-type]
    assert exc.value.code == "COUPON_NOT_APPLICABLE"


ANY_COUPON = st.one_of(
    st.builds(
        lambda t, a: rows.coupon("FULL_REDUCTION", threshold=t, amount=a), st.integers(0, 10**7), st.integers(1, 10**7)
    ),
    st.builds(lambda r, m: rows.coupon("DISCOUNT", rate=r, max_discount=m), st.integers(50, 99), st.integers(1, 10**7)),
    st.builds(lambda a: rows.coupon("CASH", amount=a), st.integers(1, 10**7)),
)


@given(coupon=ANY_COUPON, order=st.integers(1, 10**8), tier_paid=st.integers(50, 100))
def test_a_discount_never_exceeds_half_the_order_nor_what_is_left(coupon: Coupon, order: int, tier_paid: int) -> None:
    amount = order * tier_paid // 100
    try:
        off = redemption.discount(coupon, amount, order)
    except KabaoError as exc:
        assert exc.code == "COUPON_NOT_APPLICABLE" and amount < int(coupon.threshold)
        return
    assert 0 <= off <= min(amount, order // 2)
    if coupon.kind == "DISCOUNT":
        assert off <= int(coupon.max_discount)
    else:
        assert off <= int(coupon.amount)


# --- what a template must meet (400 VALIDATION_ERROR, nothing written) ------------------------------------------

NOW = rows.now()
BASE = TemplateSpec(name="t", kind="CASH", total_stock=100, per_member_limit=1, amount=500, days_after_claim=30)


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"kind": "FULL_REDUCTION", "threshold": 10000, "amount": 5000},  # exactly half of the threshold
        {"kind": "FULL_REDUCTION", "threshold": 10001, "amount": 5000},
        {"kind": "DISCOUNT", "amount": 0, "rate": 50, "max_discount": 1},
        {"kind": "DISCOUNT", "amount": 0, "rate": 99, "max_discount": 1000},
        {"kind": "GIFT", "amount": 0, "gift_name": "咖啡"},
        {"days_after_claim": 3},
        {"days_after_claim": 3650},
        {"days_after_claim": None, "valid_from": NOW, "valid_until": NOW + timedelta(days=3)},
        {"days_after_claim": None, "valid_from": NOW - timedelta(days=30), "valid_until": NOW + timedelta(days=3)},
        {"total_stock": 1, "per_member_limit": 100},
        {"total_stock": 10_000_000},
        {"daily_window": ("09:00", "09:01")},
        {"points_price": 1},
        {"points_price": 10_000_000},
        {"tier_ids": ("silver", "gold")},
    ],
)
def test_template_accepted(change: dict[str, object]) -> None:
    templates.validate(replace(BASE, **change), rows.merchant(), NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "BOGO"},
        {"kind": "FULL_REDUCTION", "threshold": 9999, "amount": 5000},  # more than half of the threshold
        {"kind": "FULL_REDUCTION", "threshold": 0, "amount": 0},
        {"kind": "FULL_REDUCTION", "threshold": 10000, "amount": -1},
        {"kind": "DISCOUNT", "rate": 49, "max_discount": 1000},  # more than half off
        {"kind": "DISCOUNT", "rate": 100, "max_discount": 1000},  # nothing off
        {"kind": "DISCOUNT", "rate": None, "max_discount": 1000},
        {"kind": "DISCOUNT", "rate": 80, "max_discount": None},
        {"kind": "DISCOUNT", "rate": 80, "max_discount": 0},
        {"kind": "GIFT", "gift_name": None},
        {"kind": "GIFT", "gift_name": ""},
        {"kind": "CASH", "amount": 0},
        {"kind": "CASH", "threshold": 1},  # 现金 has no threshold: that is 满减
        {"days_after_claim": 2},
        {"days_after_claim": 3651},
        {"days_after_claim": None},  # no validity at all
        {"valid_from": NOW, "valid_until": NOW + timedelta(days=5)},  # both kinds of validity
        {"days_after_claim": None, "valid_from": NOW, "valid_until": NOW + timedelta(days=3, seconds=-1)},
        {"days_after_claim": None, "valid_from": NOW - timedelta(days=30), "valid_until": NOW + timedelta(days=2)},
        {"days_after_claim": None, "valid_until": NOW + timedelta(days=30)},
        {"total_stock": 0},
        {"total_stock": 10_000_001},
        {"per_member_limit": 0},
        {"per_member_limit": 101},
        {"daily_window": ("10:00", "10:00")},
        {"daily_window": ("22:00", "02:00")},  # a window does not cross midnight
        {"points_price": 0},
        {"points_price": 10_000_001},
        {"tier_ids": ("platinum",)},
    ],
)
def test_template_refused(change: dict[str, object]) -> None:
    with pytest.raises(KabaoError) as exc:
        templates.validate(replace(BASE, **change), rows.merchant(), NOW)  # type: ignore[arg-type]
    assert exc.value.code == "VALIDATION_ERROR"


# --- when a coupon may be used ------------------------------------------------------------------------------


def local(at: datetime, hh: int, mm: int = 0, second: int = 0) -> datetime:
    """`hh:mm:ss` in Shanghai on `at`'s local day, in UTC as the product's clock gives it."""
    return datetime.combine(at.astimezone(SHANGHAI).date(), time(hh, mm, second), SHANGHAI).astimezone(UTC)


def usable(coupon: Coupon, at: datetime, store: str = "s1") -> str | None:
    try:
        redemption.check_usable(coupon, store, at, "Asia/Shanghai")
    except KabaoError as exc:
        return exc.code
    return None


def test_usable_between_valid_from_and_valid_until() -> None:
    start, end = NOW, NOW + timedelta(days=3)
    coupon = rows.coupon("CASH", amount=100, valid_from=start, valid_until=end)
    assert usable(coupon, start) is None
    assert usable(coupon, end - timedelta(microseconds=1)) is None
    assert usable(coupon, end) == "COUPON_EXPIRED"  # valid_until is exclusive
    assert usable(coupon, start - timedelta(microseconds=1)) == "COUPON_NOT_APPLICABLE"


def test_used_coupon_is_refused_first() -> None:
    coupon = rows.coupon("CASH", amount=100, status="USED", valid_until=NOW - timedelta(days=1))
    assert usable(coupon, NOW) == "COUPON_ALREADY_USED"


@pytest.mark.parametrize(
    "stores, store, code", [([], "any", None), (["s1", "s2"], "s2", None), (["s1"], "s9", "COUPON_NOT_APPLICABLE")]
)
def test_store_restriction(stores: list[str], store: str, code: str | None) -> None:
    assert usable(rows.coupon("CASH", amount=100, store_ids=stores), NOW, store) == code


@pytest.mark.parametrize(
    "hh, mm, second, code",
    [
        (10, 59, 59, "COUPON_NOT_APPLICABLE"),
        (11, 0, 0, None),  # the window's start is in it
        (13, 59, 59, None),
        (14, 0, 0, "COUPON_NOT_APPLICABLE"),  # its end is not
        (2, 0, 0, "COUPON_NOT_APPLICABLE"),
    ],
)
def test_daily_window_is_merchant_local_time(hh: int, mm: int, second: int, code: str | None) -> None:
    at = local(NOW + timedelta(days=1), hh, mm, second)
    coupon = rows.coupon("CASH", amount=100, daily_window=["11:00", "14:00"])
    assert usable(coupon, at) == code
    # The same wall-clock time in UTC is eight hours later in Shanghai: outside the window whatever it is.
    assert usable(coupon, at.astimezone(SHANGHAI).replace(tzinfo=UTC)) == "COUPON_NOT_APPLICABLE"


# --- status: available, used, expired; a template's: active, paused, expired, ended ------------------------


@pytest.mark.parametrize(
    "status, until, expected",
    [
        ("AVAILABLE", 1, "available"),
        ("AVAILABLE", 0, "expired"),
        ("AVAILABLE", -1, "expired"),
        ("USED", 1, "used"),
        ("USED", -1, "used"),
    ],
)
def test_coupon_status(status: str, until: int, expected: str) -> None:
    coupon = rows.coupon("CASH", amount=1, status=status, valid_until=NOW + timedelta(seconds=until))
    assert held.status(coupon, NOW) == expected


@pytest.mark.parametrize(
    "fields, expected, closed",
    [
        ({}, "active", None),
        ({"valid_until": NOW + timedelta(seconds=1)}, "active", None),
        ({"valid_until": NOW}, "expired", "OFFER_NOT_AVAILABLE"),
        ({"active": False}, "paused", "OFFER_NOT_AVAILABLE"),
        ({"active": False, "ended_at": NOW}, "ended", "OFFER_NOT_AVAILABLE"),
        ({"ended_at": NOW, "valid_until": NOW - timedelta(days=1)}, "ended", None),  # ended wins in the status
    ],
)
def test_template_status_and_claims(fields: dict[str, object], expected: str, closed: str | None) -> None:
    template = rows.template(**fields)
    assert template_admin.status(template, NOW) == expected
    if expected != "ended" or closed:
        assert eligibility.why_closed(template, NOW) == closed


@pytest.mark.parametrize(
    "tier_ids, member_tier, refusal",
    [
        ([], "normal", None),
        (["gold"], "gold", None),
        (["silver", "gold"], "normal", "TIER_NOT_ELIGIBLE"),
        (["gold"], None, "TIER_NOT_ELIGIBLE"),
    ],
)
def test_tier_only_templates(tier_ids: list[str], member_tier: str | None, refusal: str | None) -> None:
    template = rows.template(tier_ids=tier_ids)
    assert eligibility.why_unclaimable(template, rows.member(tier_id=member_tier), NOW) == refusal
    # A closed template says so before it says the tier is wrong.
    closed = rows.template(tier_ids=tier_ids, active=False)
    assert eligibility.why_unclaimable(closed, rows.member(tier_id=member_tier), NOW) == "OFFER_NOT_AVAILABLE"


# --- stock shards -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "total, sizes",
    [(1, [1]), (2, [1, 1]), (16, [1] * 16), (17, [2] + [1] * 15), (100, [7] * 4 + [6] * 12), (160, [10] * 16)],
)
def test_shard_sizes(total: int, sizes: list[int]) -> None:
    assert stock.shard_sizes(total) == sizes


@given(total=st.integers(1, 10_000_000))
def test_shards_hold_the_whole_stock_evenly(total: int) -> None:
    sizes = stock.shard_sizes(total)
    assert sum(sizes) == total
    assert len(sizes) == stock.shard_count(total)
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize(
    ("total", "shards"),
    [(1, 1), (15, 15), (16, 16), (16_000, 16), (16_001, 17), (100_000, 100), (255_001, 256), (10_000_000, 256)],
)
def test_a_drops_stock_gets_one_shard_per_1000_units_up_to_256(total: int, shards: int) -> None:
    """A big drop's size is its stock: 256 shards carry 50 000 claims/s at under half a partition each
    (bench/README.md, heat); a small stock keeps min(16, total)."""
    assert stock.shard_count(total) == shards


# --- a claimed coupon: the template's terms, valid for its window or N days from the claim -----------------


def test_claimed_coupon_validity_relative() -> None:
    template = rows.template(days_after_claim=7, store_ids=["s1"], daily_window=["09:00", "12:00"])
    coupon = claims.new_coupon("m-unit", "u1", template, "c9", NOW)
    assert (coupon.valid_from, coupon.valid_until) == (NOW, NOW + timedelta(days=7))
    assert (coupon.kind, int(coupon.amount), list(coupon.store_ids), list(coupon.daily_window)) == (
        "CASH",
        500,
        ["s1"],
        ["09:00", "12:00"],
    )
    assert coupon.status == "AVAILABLE" and held.status(coupon, NOW) == "available"
    # On the reminder list three days before it expires.
    assert coupon.due_sk.startswith(sortable(NOW + timedelta(days=4)))


def test_claimed_coupon_validity_fixed() -> None:
    start, end = NOW - timedelta(days=1), NOW + timedelta(days=10)
    coupon = claims.new_coupon("m-unit", "u1", rows.template(valid_from=start, valid_until=end), "c9", NOW)
    assert (coupon.valid_from, coupon.valid_until) == (start, end)


ZONES = st.sampled_from([ZoneInfo(z) for z in ("UTC", "Asia/Shanghai", "America/New_York", "Pacific/Kiritimati")])
# From 1000 on: strftime writes year 999 as "999", not "0999" (no coupon is valid before this year anyway).
TIMES = st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES)


@given(a=TIMES, b=TIMES)
def test_sortable_keys_sort_as_times_do(a: datetime, b: datetime) -> None:
    assert (sortable(a) < sortable(b)) == (a < b)
