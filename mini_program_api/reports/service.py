"""The admin reports, each a list of flat rows (so JSON and CSV show the same thing), from the counters.

Every number here is a sum of counters staged in the transactions of the events (counters.py), so
each report equals its recomputation from the ledger and the orders; tests/integration/test_reports.py checks
exactly that after randomized concurrent traffic.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from mini_program_api.platform import clock
from mini_program_api.reports import counters, read
from mini_program_api.reports.liability import last
from mini_program_api.reports.models import LiabilityCheck

EXPIRED = "POINTS_EXPIRED"
REFUND = "_REFUND"  # a refund's ledger kind (CHECKOUT_REFUND): what it gives back and takes back
Row = dict[str, Any]


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def funnel(merchant_id: str, span: read.Range) -> list[Row]:
    """Per template and day: exposures (views, people) -> claims (claimers) -> redemptions.

    Redemptions and discount are net of coupons given back by a refund (counted on the refund's day)."""
    rows = read.rows(merchant_id, span.start.isoformat(), span.end.isoformat())
    out: list[Row] = []
    exposures = read.exposure(merchant_id, span.days())
    claimed = counters.claim_rows(merchant_id, span.start.isoformat(), span.end.isoformat())
    for day in span.days():
        seen = exposures[day]
        coupon, got = rows.get((day, "COUPON"), {}), claimed.get(day, {})
        templates = set(seen) | {_template_of(k) for k in [*coupon, *got]} - {None}
        for tid in sorted(t for t in templates if t):
            views = seen.get(tid, {})
            # claims: the report shards before claims had their own (counters.claimed), and theirs since
            claims = coupon.get(f"claims_{tid}", 0) + got.get(f"claims_{tid}", 0)
            claimers = views.get("claimers", 0) + got.get(f"claimers_{tid}", 0)
            redemptions = coupon.get(f"redemptions_{tid}", 0) - coupon.get(f"restored_{tid}", 0)
            discount = coupon.get(f"discount_{tid}", 0) - coupon.get(f"restored_discount_{tid}", 0)
            out.append(
                {
                    "day": day,
                    "template_id": tid,
                    "views": views.get("views", 0),
                    "people": views.get("people", 0),
                    "claims": claims,
                    "claimers": claimers,
                    "redemptions": redemptions,
                    "discount": discount,
                    "claim_conversion": _ratio(claimers, views.get("people", 0)),
                    "redemption_rate": _ratio(redemptions, claims),
                    "cost_per_redemption": discount // redemptions if redemptions > 0 else None,
                }
            )
    return out


_COUPON_MEASURES = ("claims_", "claimers_", "redemptions_", "restored_discount_", "restored_", "discount_")


def _template_of(measure: str) -> str | None:
    for prefix in _COUPON_MEASURES:
        if measure.startswith(prefix):
            return measure[len(prefix) :]
    return None


SALE_FIELDS = (
    "orders",
    "gross",
    "tier_discount",
    "coupon_discount",
    "points_value",
    "bonus_used",
    "principal_used",
    "cash",
    "refunds",
    "refund_gross",
    "refund_cash",
    "refund_bonus",
    "refund_principal",
)


def sales(merchant_id: str, span: read.Range, store_id: str | None = None) -> list[Row]:
    """Per day, store and staff: sales and (on the refund's day) refunds."""
    rows = read.rows(merchant_id, span.start.isoformat(), span.end.isoformat())
    out = []
    for (day, dimension), measures in sorted(rows.items()):
        if not dimension.startswith("SALE#"):
            continue
        _, store, staff = dimension.split("#", 2)
        if store_id is not None and store != store_id:
            continue
        out.append({"day": day, "store_id": store, "staff_id": staff, **{f: measures.get(f, 0) for f in SALE_FIELDS}})
    return out


def _kinds(measures: dict[str, int], sign: str, account: str) -> dict[str, int]:
    prefix = f"{sign}_{account}_"
    return {k.removeprefix(prefix): v for k, v in measures.items() if k.startswith(prefix)}


def _ledger_days(merchant_id: str, span: read.Range) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """LEDGER rows of the span, and of every day after it (for the closing balances)."""
    future = clock.local_date("UTC") + timedelta(days=2)
    rows = read.rows(merchant_id, span.start.isoformat(), max(span.end, future).isoformat())
    inside: dict[str, dict[str, Any]] = {}
    later: dict[str, dict[str, Any]] = {}
    for (day, dimension), measures in rows.items():
        if dimension == "LEDGER":
            (inside if date.fromisoformat(day) <= span.end else later)[day] = dict(measures)
    return inside, later


def stored_value(merchant_id: str, span: read.Range) -> list[Row]:
    """Per day: top-ups (principal, bonus), spending, refunds, and what the merchant owes at the day's end."""
    ledger, later = _ledger_days(merchant_id, span)
    closing = read.outstanding(merchant_id, span.days(), ledger, later)
    out = []
    for day in span.days():
        m = ledger.get(day, {})
        out.append(
            {
                "day": day,
                "topup_principal": m.get("p_principal_TOPUP", 0),
                "topup_bonus": m.get("p_bonus_TOPUP", 0),
                "spent_principal": m.get("n_principal_CHECKOUT", 0),
                "spent_bonus": m.get("n_bonus_CHECKOUT", 0),
                "sale_refund_principal": m.get("p_principal_CHECKOUT_REFUND", 0),
                "sale_refund_bonus": m.get("p_bonus_CHECKOUT_REFUND", 0),
                "topup_refund_principal": m.get("n_principal_TOPUP_REFUND", 0),
                "topup_refund_bonus": m.get("n_bonus_TOPUP_REFUND", 0),
                # A refund WeChat Pay refused for good gives the value back (on the day it is known).
                "topup_refund_reversed_principal": m.get("p_principal_TOPUP_REFUND_REVERSAL", 0),
                "topup_refund_reversed_bonus": m.get("p_bonus_TOPUP_REFUND_REVERSAL", 0),
                # Opening balances a member import brought (ledger kind IMPORT): liability not paid in here.
                "imported_principal": m.get("p_principal_IMPORT", 0),
                "imported_bonus": m.get("p_bonus_IMPORT", 0),
                "principal_in": sum(_kinds(m, "p", "principal").values()),
                "principal_out": sum(_kinds(m, "n", "principal").values()),
                "bonus_in": sum(_kinds(m, "p", "bonus").values()),
                "bonus_out": sum(_kinds(m, "n", "bonus").values()),
                "outstanding_principal": closing[day]["principal"],
                "outstanding_bonus": closing[day]["bonus"],
            }
        )
    return out


def points(merchant_id: str, span: read.Range) -> list[Row]:
    """Per day: points issued, spent, expired, taken back by a refund (`reversed`: the points a refunded sale
    had earned, clawed back), given back by a refund (`returned`: the points a refunded sale had spent), and
    outstanding at the day's end; every ledger kind in `by_kind` (+credits, -debits).

    A refund's credits are what it gave back and its debits what it took back (two ledger entries, see
    till/checkout.py), so outstanding = the day before + issued - spent - expired - reversed + returned.
    Refunds made before the two entries existed posted one netted entry: it shows as returned or reversed."""
    ledger, later = _ledger_days(merchant_id, span)
    closing = read.outstanding(merchant_id, span.days(), ledger, later)
    out = []
    for day in span.days():
        m = ledger.get(day, {})
        given, taken = _kinds(m, "p", "points"), _kinds(m, "n", "points")
        returned = sum(v for k, v in given.items() if k.endswith(REFUND))
        reversed_ = sum(v for k, v in taken.items() if k.endswith(REFUND))
        out.append(
            {
                "day": day,
                "issued": sum(given.values()) - returned,
                "expired": taken.get(EXPIRED, 0),
                "spent": sum(taken.values()) - taken.get(EXPIRED, 0) - reversed_,
                "reversed": reversed_,
                "returned": returned,
                "imported": given.get("IMPORT", 0),
                "outstanding": closing[day]["points"],
                "by_kind": {**{f"+{k}": v for k, v in given.items()}, **{f"-{k}": v for k, v in taken.items()}},
            }
        )
    return out


def members(merchant_id: str, span: read.Range) -> list[Row]:
    """Per day: a `*` row with the day's totals and sign-ins, then one row per entry scene (`-`: none)
    with its new members and cards opened (`sign_ins` null: a sign-in has no scene)."""
    rows = read.rows(merchant_id, span.start.isoformat(), span.end.isoformat())
    out = []
    for day in span.days():
        m = rows.get((day, "MEMBERS"), {})
        scenes = sorted({k.split("_", 1)[1] for k in m if k.startswith(("new_", "cards_"))})
        out.append(
            {
                "day": day,
                "scene": "*",
                "sign_ins": rows.get((day, "LEDGER"), {}).get("ops_SIGN_IN", 0),
                "new_members": sum(v for k, v in m.items() if k.startswith("new_")),
                "cards_opened": sum(v for k, v in m.items() if k.startswith("cards_")),
            }
        )
        out += [
            {
                "day": day,
                "scene": scene,
                "new_members": m.get(f"new_{scene}", 0),
                "cards_opened": m.get(f"cards_{scene}", 0),
                "sign_ins": None,
            }
            for scene in scenes
        ]
    return out


def member_snapshot(merchant_id: str) -> Row | None:
    """Tier distribution and active/dormant members as the last liability check counted them."""
    check: LiabilityCheck | None = last(merchant_id)
    if check is None or check.finished_at is None:
        return None
    return {
        "counted_at": check.finished_at.isoformat(),
        "members": int(check.sums.as_dict().get("members", 0)),
        "tiers": {k: int(v) for k, v in check.tiers.as_dict().items()},
        "active": int(check.active),
        "dormant": int(check.dormant),
    }


def repurchase(merchant_id: str, span: read.Range) -> dict[str, Any]:
    """Share of the window's buyers with 2 or more purchases in it, and the median days between two
    consecutive purchases of one member inside it.

    Bounded: each sale counted, on its day, the days back to the member's previous purchase and the one
    before (`rep_{gap1}_{gap2}`, counters.sale). For a window starting `from`, a sale on day d at offset
    o = d - from is a buyer's first in the window when gap1 > o (or none), their second when
    gap1 <= o < gap2, and gap1 is a gap inside the window when gap1 <= o: one pass over days x shards.
    A refunded sale still counts as a visit here (RFM's monetary takes it out)."""
    rows = read.rows(merchant_id, span.start.isoformat(), span.end.isoformat())
    buyers = repeaters = 0
    gaps: dict[int, int] = {}
    for offset, day in enumerate(span.days()):
        for name, n in rows.get((day, "REPEAT"), {}).items():
            if not name.startswith("rep_"):
                continue
            first, second = (int(g) if g != "x" else None for g in name[4:].split("_"))
            if first is None or first > offset:
                buyers += n
            else:
                gaps[first] = gaps.get(first, 0) + n
                if second is None or second > offset:
                    repeaters += n
    ordered = [gap for gap in sorted(gaps) for _ in range(gaps[gap])]
    return {
        "buyers": buyers,
        "repeat_buyers": repeaters,
        "repeat_share": _ratio(repeaters, buyers),
        "median_days_between": ordered[(len(ordered) - 1) // 2] if ordered else None,
    }
