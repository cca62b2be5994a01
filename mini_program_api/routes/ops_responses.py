"""Response shapes of the operations routes (issue 13: accounts, member care, the counter, member read-backs).

Each route returns its view through `shape`, so what leaves the API is exactly the model: a field the
view forgets is a 500 in the tests, never a silently different contract.
"""
from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

M = TypeVar("M", bound=BaseModel)


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


def shape(model: type[M], view: dict[str, Any]) -> dict[str, Any]:
    """The view validated against its response model, as JSON-ready data."""
    return model.model_validate(view).model_dump(mode="json")


# --- stores, staff accounts, the audit trail ------------------------------------------------------


class StoreOut(Out):
    store_id: str
    name: str
    closed_at: str | None = None


class StaffAccountOut(Out):
    username: str
    role: str
    store_id: str | None
    disabled: bool
    locked_until: str | None
    created_at: str


class AuditRecordOut(Out):
    at: str
    actor: str
    role: str
    store_id: str | None
    action: str
    target: str
    member_id: str | None
    detail: dict[str, Any]


class AuditPage(Out):
    records: list[AuditRecordOut]
    cursor: str | None


# --- members as the back office, the counter and the member see them -------------------------------


class TierOut(Out):
    id: str
    name: str
    threshold: int
    discount_rate: int
    points_multiplier: int


class CardOut(Out):
    number: str
    opened_at: str | None
    name: str | None
    birthday: str | None


class MemberOut(Out):
    """A member as GET /v1/me shows them (phone masked), with what the back office needs besides."""

    member_id: str
    invite_code: str | None
    card: CardOut | None
    phone: str | None
    tier: TierOut | None
    next_tier: TierOut | None
    growth_to_next_tier: int | None
    tier_growth: int
    growth: int
    points: int
    principal: int
    bonus: int
    balance: int
    coupon_count: int
    created_at: str


class MemberSummaryOut(Out):
    """A search hit: enough to tell members apart at the desk, nothing more."""

    member_id: str
    card_number: str | None
    name: str | None
    phone: str | None
    tier: TierOut | None
    points: int
    balance: int


class MemberSearchOut(Out):
    members: list[MemberSummaryOut]


class LedgerEntryOut(Out):
    id: str
    account: str
    card_id: str | None
    amount: int
    kind: str
    memo: dict[str, Any]
    created_at: str


class LedgerPage(Out):
    entries: list[LedgerEntryOut]
    cursor: str | None


class CouponOut(Out):
    coupon_id: str
    template_id: str
    kind: str
    name: str
    threshold: int | None = None
    amount: int | None = None
    rate: int | None = None
    max_discount: int | None = None
    gift_name: str | None = None
    store_ids: list[str]
    daily_window: list[str] | None
    status: str
    valid_from: str
    valid_until: str
    claimed_at: str
    used_at: str | None
    used_store_id: str | None


class CouponPage(Out):
    coupons: list[CouponOut]
    cursor: str | None


class PunchCardOut(Out):
    card_id: str
    plan_id: str
    name: str
    visits: int
    uses_left: int
    status: str
    store_ids: list[str]
    valid_until: str
    issued_at: str


class PunchCardPage(Out):
    punch_cards: list[PunchCardOut]
    cursor: str | None


class ReceiptOut(Out):
    order_id: str
    member_id: str
    store_id: str
    staff_id: str
    status: str
    amount: int
    tier_discount: int
    coupon_id: str | None
    coupon_discount: int
    points_used: int
    points_value: int
    bonus_used: int
    principal_used: int
    cash_due: int
    points_earned: int
    growth_earned: int
    tier_before: str
    tier_after: str
    points_clawed_back: int | None
    growth_clawed_back: int | None
    coupon_restored: bool | None
    principal_over_cap: int | None
    stored_value_used: int
    upgraded: bool
    cash_refund: int | None
    created_at: str
    refunded_at: str | None


class ReceiptPage(Out):
    orders: list[ReceiptOut]
    cursor: str | None


class TopupOrderOut(Out):
    order_id: str
    status: str
    amount: int
    bonus: int
    plan_id: str | None
    created_at: str
    expires_at: str
    paid_at: str | None
    refund_amount: int | None
    refund_error: str | None


class TopupPage(Out):
    topups: list[TopupOrderOut]
    cursor: str | None


class AdjustmentOut(Out):
    adjustment_id: str
    account: str
    amount: int
    reason: str
    replayed: bool
    member: MemberOut


# --- the counter ---------------------------------------------------------------------------------


class CounterMemberOut(Out):
    """What the cashier sees after scanning: the member (masked), tier, balances, what is usable here now."""

    member_id: str
    card_number: str | None
    name: str | None
    phone: str | None
    tier: TierOut | None
    points: int
    principal: int
    bonus: int
    balance: int
    coupons: list[CouponOut]
    coupons_more: bool
    punch_cards: list[PunchCardOut]
    punch_cards_more: bool


class QuoteOut(Out):
    """POST /v1/staff/checkout's price for the same body, computed by the same code, nothing written."""

    member_id: str
    amount: int
    tier_discount: int
    coupon_id: str | None
    coupon_discount: int
    points_used: int
    points_value: int
    bonus_used: int
    principal_used: int
    stored_value_used: int
    cash_due: int
    points_earned: int
    growth_earned: int
    tier_before: str
    tier_after: str
    upgraded: bool
    confirmation_required: bool


# --- member read-backs ---------------------------------------------------------------------------


class StorePage(Out):
    stores: list[StoreOut]
    cursor: str | None


class MessageTemplatesOut(Out):
    """Subscribe-message template ids per notice kind, for wx.requestSubscribeMessage."""

    templates: dict[str, str]
