"""Admin reports (reports/service.py): JSON by default, CSV with `?format=csv` or `Accept: text/csv`.

Every report takes `from` and `to` (merchant-local days, YYYY-MM-DD, at most 366 days; both default to
today). Each response model below is the report's shape; CSV has one line per row, its columns the row
model's fields.
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any, Literal

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from ..errors import KabaoError
from ..reports import liability, read, rfm, service
from .endpoint import Call, endpoint

bp = Blueprint(__name__)


class RangeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: str | None = Field(default=None, alias="from", max_length=10)
    end: str | None = Field(default=None, alias="to", max_length=10)
    format: Literal["json", "csv"] | None = None


class SalesQuery(RangeQuery):
    store_id: str | None = Field(default=None, min_length=1, max_length=64)


class FunnelRow(BaseModel):
    day: str
    template_id: str
    views: int
    people: int
    claims: int
    claimers: int
    redemptions: int
    discount: int
    claim_conversion: float | None
    redemption_rate: float | None
    cost_per_redemption: int | None


class SalesRow(BaseModel):
    day: str
    store_id: str
    staff_id: str
    orders: int
    gross: int
    tier_discount: int
    coupon_discount: int
    points_value: int
    bonus_used: int
    principal_used: int
    cash: int
    refunds: int
    refund_gross: int
    refund_cash: int
    refund_bonus: int
    refund_principal: int


class StoredValueRow(BaseModel):
    day: str
    topup_principal: int
    topup_bonus: int
    spent_principal: int
    spent_bonus: int
    sale_refund_principal: int
    sale_refund_bonus: int
    topup_refund_principal: int
    topup_refund_bonus: int
    topup_refund_reversed_principal: int
    topup_refund_reversed_bonus: int
    principal_in: int
    principal_out: int
    bonus_in: int
    bonus_out: int
    outstanding_principal: int
    outstanding_bonus: int


class PointsRow(BaseModel):
    day: str
    issued: int
    spent: int
    expired: int
    reversed: int
    outstanding: int
    by_kind: dict[str, int]


class MembersRow(BaseModel):
    day: str
    scene: str
    new_members: int
    cards_opened: int
    sign_ins: int | None


class RepurchaseRow(BaseModel):
    buyers: int
    repeat_buyers: int
    repeat_share: float | None
    median_days_between: int | None


class MemberSnapshot(BaseModel):
    counted_at: str
    members: int
    tiers: dict[str, int]
    active: int
    dormant: int


class Report(BaseModel):
    start: str = Field(serialization_alias="from")
    end: str = Field(serialization_alias="to")


class FunnelReport(Report):
    rows: list[FunnelRow]


class SalesReport(Report):
    rows: list[SalesRow]


class StoredValueReport(Report):
    rows: list[StoredValueRow]


class PointsReport(Report):
    rows: list[PointsRow]


class MembersReport(Report):
    rows: list[MembersRow]
    snapshot: MemberSnapshot | None


class SegmentCounts(BaseModel):
    segments: dict[str, int]
    thresholds: dict[str, list[int]]
    finished_at: str | None
    phase: str


class SegmentMember(BaseModel):
    member_id: str
    segment: str
    r: int
    f: int
    m: int
    recency_days: int
    frequency: int
    monetary: int


class SegmentMembers(BaseModel):
    members: list[SegmentMember]
    cursor: str | None


class SegmentQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment: str = Field(max_length=8)
    cursor: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=20, ge=1, le=100)


class Thresholds(BaseModel):
    """Four ascending cut points per measure; an omitted measure uses the merchant's own quintiles."""

    model_config = ConfigDict(extra="forbid", strict=True)

    r: list[int] | None = Field(default=None, min_length=4, max_length=4)
    f: list[int] | None = Field(default=None, min_length=4, max_length=4)
    m: list[int] | None = Field(default=None, min_length=4, max_length=4)


class RepurchaseReport(Report):
    rows: list[RepurchaseRow]  # one row: the whole window


class LiabilityCheckView(BaseModel):
    status: str
    expected: dict[str, int]
    summed: dict[str, int]
    members: int
    started_at: str
    finished_at: str | None


def _respond(call: Call, span: read.Range, model: type[Report], row: type[BaseModel], rows: list[dict[str, Any]],
             **extra: Any) -> Any:
    report = model.model_validate({"start": span.start.isoformat(), "end": span.end.isoformat(), "rows": rows,
                                   **extra})
    wants_csv = call.query.format == "csv" or (call.query.format is None
                                               and "text/csv" in call.headers.get("accept", ""))
    if not wants_csv:
        return report.model_dump(by_alias=True)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    fields = list(row.model_fields)
    writer.writerow(fields)
    for item in getattr(report, "rows"):
        values = item.model_dump()
        writer.writerow([json.dumps(values[f], sort_keys=True) if isinstance(values[f], dict)
                         else "" if values[f] is None else values[f] for f in fields])
    return Response(body=out.getvalue(), status_code=200, headers={"Content-Type": "text/csv; charset=utf-8"})


def _span(call: Call) -> read.Range:
    return read.date_range(call.member.merchant_id, call.query.start, call.query.end)


@endpoint(bp, "/v1/admin/reports/funnel", "GET", role="admin", query=RangeQuery)
def funnel(call: Call) -> Any:
    span = _span(call)
    return _respond(call, span, FunnelReport, FunnelRow, service.funnel(call.member.merchant_id, span))


@endpoint(bp, "/v1/admin/reports/sales", "GET", role="admin", query=SalesQuery)
def sales(call: Call) -> Any:
    span = _span(call)
    return _respond(call, span, SalesReport, SalesRow,
                    service.sales(call.member.merchant_id, span, call.query.store_id))


@endpoint(bp, "/v1/admin/reports/stored-value", "GET", role="admin", query=RangeQuery)
def stored_value(call: Call) -> Any:
    span = _span(call)
    return _respond(call, span, StoredValueReport, StoredValueRow,
                    service.stored_value(call.member.merchant_id, span))


@endpoint(bp, "/v1/admin/reports/points", "GET", role="admin", query=RangeQuery)
def points(call: Call) -> Any:
    span = _span(call)
    return _respond(call, span, PointsReport, PointsRow, service.points(call.member.merchant_id, span))


@endpoint(bp, "/v1/admin/reports/members", "GET", role="admin", query=RangeQuery)
def members(call: Call) -> Any:
    span = _span(call)
    return _respond(call, span, MembersReport, MembersRow, service.members(call.member.merchant_id, span),
                    snapshot=service.member_snapshot(call.member.merchant_id))


@endpoint(bp, "/v1/admin/reports/repurchase", "GET", role="admin", query=RangeQuery)
def repurchase(call: Call) -> Any:
    span = _span(call)
    return _respond(call, span, RepurchaseReport, RepurchaseRow, [service.repurchase(call.member.merchant_id, span)])


@endpoint(bp, "/v1/admin/reports/liability-check", "GET", role="admin")
def liability_check(call: Call) -> dict[str, Any]:
    check = liability.last(call.member.merchant_id)
    if check is None:
        raise KabaoError("NOT_FOUND", "the liability check has not run yet")
    sums = {k: int(v) for k, v in check.sums.as_dict().items()}
    return LiabilityCheckView(
        status=check.status, expected={k: int(v) for k, v in check.expected.as_dict().items()},
        summed={a: sums.get(a, 0) for a in liability.ACCOUNTS}, members=sums.get("members", 0),
        started_at=check.started_at.isoformat(),
        finished_at=check.finished_at.isoformat() if check.finished_at else None).model_dump()


@endpoint(bp, "/v1/admin/reports/rfm-segments", "GET", role="admin")
def rfm_segments(call: Call) -> dict[str, Any]:
    counted = rfm.counts(call.member.merchant_id)
    if counted is None:
        raise KabaoError("NOT_FOUND", "RFM scoring has not run yet")
    return SegmentCounts.model_validate(counted).model_dump()


@endpoint(bp, "/v1/admin/reports/rfm-members", "GET", role="admin", query=SegmentQuery)
def rfm_members(call: Call) -> dict[str, Any]:
    page = rfm.segment_members(call.member.merchant_id, call.query.segment, call.query.cursor, call.query.limit)
    return SegmentMembers(members=[SegmentMember(
        member_id=s.member_id, segment=s.segment, r=int(s.r), f=int(s.f), m=int(s.m),
        recency_days=int(s.recency_days), frequency=int(s.frequency), monetary=int(s.monetary))
        for s in page.items], cursor=page.cursor).model_dump()


def _thresholds_view(config: Any) -> dict[str, Any]:
    return Thresholds(**{k: [int(x) for x in getattr(config, k)] if config is not None and getattr(config, k)
                         else None for k in "rfm"}).model_dump()


@endpoint(bp, "/v1/admin/reports/rfm-thresholds", "GET", role="admin")
def rfm_thresholds(call: Call) -> dict[str, Any]:
    return _thresholds_view(rfm.config(call.member.merchant_id))


@endpoint(bp, "/v1/admin/reports/rfm-thresholds", "PUT", role="admin", body=Thresholds)
def set_rfm_thresholds(call: Call) -> dict[str, Any]:
    """The whole configuration (PUT): `{}` is a valid body and means "quintiles for all three"."""
    body: Thresholds = call.body
    return _thresholds_view(rfm.configure(call.member, body.r, body.f, body.m))
