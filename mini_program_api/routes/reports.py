"""Admin reports (reports/service.py): JSON, or CSV with `Accept: text/csv` (one line per row, the row
model's fields as columns, maps as JSON).

Every report takes `from` and `to` (merchant-local days, YYYY-MM-DD, at most 366 days; each defaults to
today). Models: routes/schemas.py (queries) and routes/responses.py (answers).
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from mini_program_api.platform.errors import KabaoError
from mini_program_api.routes.endpoint import Call, endpoint, model

if TYPE_CHECKING:
    from mini_program_api.reports import read
    from mini_program_api.reports.models import LiabilityCheck

bp = Blueprint(__name__)
RANGE_ERRORS = ("INVALID_DATE_RANGE", "NOT_FOUND")  # NOT_FOUND: the merchant (its time zone) is gone


def _report(call: Call, span: read.Range, row: str, rows: list[dict[str, Any]], **extra: Any) -> Any:
    """The report as JSON, or as CSV when the caller accepts text/csv (not application/json)."""
    accept = call.headers.get("accept", "")
    if "text/csv" not in accept:
        return {"from": span.start.isoformat(), "to": span.end.isoformat(), "rows": rows, **extra}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    fields = list(model(row).model_fields)
    writer.writerow(fields)
    for item in rows:
        writer.writerow(
            [
                json.dumps(item[f], sort_keys=True) if isinstance(item[f], dict) else "" if item[f] is None else item[f]
                for f in fields
            ]
        )
    return Response(body=out.getvalue(), status_code=200, headers={"Content-Type": "text/csv; charset=utf-8"})


def _span(call: Call) -> read.Range:
    from mini_program_api.reports import read

    return read.date_range(call.caller.merchant_id, call.query.start, call.query.end)


@endpoint(
    bp,
    "/v1/admin/reports/funnel",
    "GET",
    role="admin",
    query="RangeQuery",
    response="FunnelReport",
    errors=RANGE_ERRORS,
)
def funnel(call: Call) -> Any:
    """Coupon funnel per template and day: exposures (views, people) -> claims (claimers) -> redemptions."""
    from mini_program_api.reports import service

    span = _span(call)
    return _report(call, span, "FunnelRow", service.funnel(call.caller.merchant_id, span))


@endpoint(
    bp,
    "/v1/admin/reports/sales",
    "GET",
    role="admin",
    query="SalesQuery",
    response="SalesReport",
    errors=RANGE_ERRORS,
)
def sales(call: Call) -> Any:
    """Sales per day, store and staff; refunds on the refund's day."""
    from mini_program_api.reports import service

    span = _span(call)
    return _report(call, span, "SalesRow", service.sales(call.caller.merchant_id, span, call.query.store_id))


@endpoint(
    bp,
    "/v1/admin/reports/stored-value",
    "GET",
    role="admin",
    query="RangeQuery",
    response="StoredValueReport",
    errors=RANGE_ERRORS,
)
def stored_value(call: Call) -> Any:
    """Stored value per day: top-ups, spending, refunds, and the principal and bonus owed at the day's end."""
    from mini_program_api.reports import service

    span = _span(call)
    return _report(call, span, "StoredValueRow", service.stored_value(call.caller.merchant_id, span))


@endpoint(
    bp,
    "/v1/admin/reports/points",
    "GET",
    role="admin",
    query="RangeQuery",
    response="PointsReport",
    errors=RANGE_ERRORS,
)
def points(call: Call) -> Any:
    """Points per day: issued, spent, expired, reversed, returned, outstanding at the day's end."""
    from mini_program_api.reports import service

    span = _span(call)
    return _report(call, span, "PointsRow", service.points(call.caller.merchant_id, span))


@endpoint(
    bp,
    "/v1/admin/reports/members",
    "GET",
    role="admin",
    query="RangeQuery",
    response="MembersReport",
    errors=RANGE_ERRORS,
)
def members(call: Call) -> Any:
    """Members per day and entry scene, sign-ins, and the last tier/active/dormant snapshot."""
    from mini_program_api.reports import service

    span = _span(call)
    return _report(
        call,
        span,
        "MembersRow",
        service.members(call.caller.merchant_id, span),
        snapshot=service.member_snapshot(call.caller.merchant_id),
    )


@endpoint(
    bp,
    "/v1/admin/reports/repurchase",
    "GET",
    role="admin",
    query="RangeQuery",
    response="RepurchaseReport",
    errors=RANGE_ERRORS,
)
def repurchase(call: Call) -> Any:
    """Share of the window's buyers with 2+ purchases in it, median days between purchases (one row)."""
    from mini_program_api.reports import service

    span = _span(call)
    return _report(call, span, "RepurchaseRow", [service.repurchase(call.caller.merchant_id, span)])


@endpoint(
    bp, "/v1/admin/reports/liability-check", "GET", role="admin", response="LiabilityCheckView", errors=("NOT_FOUND",)
)
def liability_check(call: Call) -> dict[str, Any]:
    """The last stored-value liability check: counters vs the sum of every member row."""
    from mini_program_api.reports import liability

    check: LiabilityCheck | None = liability.last(call.caller.merchant_id)
    if check is None:
        raise KabaoError("NOT_FOUND", "the liability check has not run yet")
    sums = {k: int(v) for k, v in check.sums.as_dict().items()}
    return {
        "status": check.status,
        "expected": {k: int(v) for k, v in check.expected.as_dict().items()},
        "summed": {a: sums.get(a, 0) for a in liability.ACCOUNTS},
        "members": sums.get("members", 0),
        "started_at": check.started_at.isoformat(),
        "finished_at": check.finished_at.isoformat() if check.finished_at else None,
    }


@endpoint(
    bp, "/v1/admin/reports/rfm-segments", "GET", role="admin", response="SegmentCountsView", errors=("NOT_FOUND",)
)
def rfm_segments(call: Call) -> dict[str, Any]:
    """Members per RFM segment as the last nightly scoring filed them, with its thresholds."""
    from mini_program_api.reports import rfm

    counted = rfm.counts(call.caller.merchant_id)
    if counted is None:
        raise KabaoError("NOT_FOUND", "RFM scoring has not run yet")
    return counted


@endpoint(bp, "/v1/admin/reports/rfm-members", "GET", role="admin", query="SegmentQuery", response="SegmentMembersView")
def rfm_members(call: Call) -> dict[str, Any]:
    """One page of a segment's members."""
    from mini_program_api.reports import rfm

    page = rfm.segment_members(call.caller.merchant_id, call.query.segment, call.query.cursor, call.query.limit)
    return {
        "members": [
            {
                "member_id": s.member_id,
                "segment": s.segment,
                "r": int(s.r),
                "f": int(s.f),
                "m": int(s.m),
                "recency_days": int(s.recency_days),
                "frequency": int(s.frequency),
                "monetary": int(s.monetary),
            }
            for s in page.items
        ],
        "cursor": page.cursor,
    }


def _thresholds(config: Any) -> dict[str, Any]:
    return {
        k: [int(x) for x in getattr(config, k)] if config is not None and getattr(config, k) else None for k in "rfm"
    }


@endpoint(bp, "/v1/admin/reports/rfm-thresholds", "GET", role="admin", response="ThresholdsView")
def rfm_thresholds(call: Call) -> dict[str, Any]:
    """The RFM thresholds the merchant set (null: its own quintiles)."""
    from mini_program_api.reports import rfm

    return _thresholds(rfm.config(call.caller.merchant_id))


@endpoint(
    bp,
    "/v1/admin/reports/rfm-thresholds",
    "PUT",
    role="admin",
    body="ThresholdsBody",
    response="ThresholdsView",
    errors=("NOT_FOUND",),
)
def set_rfm_thresholds(call: Call) -> dict[str, Any]:
    """Replace the RFM thresholds (the whole configuration: `{}` is quintiles for all three); audited."""
    from mini_program_api.reports import rfm

    return _thresholds(rfm.configure(call.caller, call.body.r, call.body.f, call.body.m))
