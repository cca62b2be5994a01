"""Find and help a member (role admin): search, the member's view with every list paged, and manual
adjustments with a reason. Thin: the rules are in member_care/ and the services it calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from mini_program_api.platform import clock
from mini_program_api.routes.accounts import audit_page
from mini_program_api.routes.endpoint import Call, endpoint
from mini_program_api.routes.views import (
    coupon_view,
    entry_view,
    member_view,
    order_view,
    punch_card_view,
    receipt_view,
    tier_view,
)

if TYPE_CHECKING:  # annotations only: models and domain modules load on first use (endpoint.py)
    from mini_program_api.db.models import Member, Merchant
    from mini_program_api.routes.schemas import (
        AdjustmentBody,
        AdminLedgerQuery,
        CouponsQuery,
        IssueCouponBody,
        MemberSearchQuery,
        PunchVisitsBody,
    )

bp = Blueprint(__name__)


def admin_member_view(merchant: Merchant, member: Member) -> dict[str, Any]:
    from mini_program_api.coupons import held

    return {
        **member_view(merchant, member),
        "coupon_count": held.available_count(merchant.merchant_id, member.member_id),
        "created_at": clock.iso(member.created_at, merchant.timezone),
    }


def _summary(merchant: Merchant, member: Member) -> dict[str, Any]:
    from mini_program_api.platform import pii

    return {
        "member_id": member.member_id,
        "card_number": member.card_number,
        "name": member.name,
        "phone": pii.mask_phone(pii.decrypt_phone(member.phone_enc)) if member.phone_enc else None,
        "tier": tier_view(_tier(merchant, member)),
        "points": int(member.points),
        "balance": int(member.principal) + int(member.bonus),
    }


def _tier(merchant: Merchant, member: Member) -> Any:
    from mini_program_api.members import tiers

    return tiers.current(merchant, member.tier_id)


def _member(call: Call, member_id: str) -> Member:
    """The merchant's member (another merchant's id is simply not found in this merchant's partitions)."""
    from mini_program_api.members import members

    return members.get(call.caller.merchant_id, member_id)


@endpoint(
    bp,
    "/v1/admin/members",
    "GET",
    role="admin",
    query="MemberSearchQuery",
    response="MemberSearchView",
    errors=("NOT_FOUND",),
)
def find(call: Call) -> dict[str, Any]:
    from mini_program_api.member_care import search
    from mini_program_api.merchants import merchants

    q: MemberSearchQuery = call.query
    found = search.find(
        call.caller.merchant_id,
        phone=q.phone,
        card_number=q.card_number,
        member_code=q.member_code,
        member_id=q.member_id,
    )
    merchant = merchants.get(call.caller.merchant_id)
    return {"members": [_summary(merchant, found)] if found else []}


@endpoint(
    bp, "/v1/admin/members/{member_id}", "GET", role="admin", response="AdminMemberView", errors=("MEMBER_NOT_FOUND",)
)
def view(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.merchants import merchants

    return admin_member_view(merchants.get(call.caller.merchant_id), _member(call, member_id))


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/ledger",
    "GET",
    role="admin",
    query="AdminLedgerQuery",
    response="LedgerPage",
    errors=("MEMBER_NOT_FOUND",),
)
def member_ledger(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.money import ledger

    q: AdminLedgerQuery = call.query
    _member(call, member_id)
    page = ledger.history(call.caller.merchant_id, member_id, q.account, q.cursor, q.limit)
    return {"entries": [entry_view(e, call.timezone) for e in page.items], "cursor": page.cursor}


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/coupons",
    "GET",
    role="admin",
    query="CouponsQuery",
    response="CouponPage",
    errors=("MEMBER_NOT_FOUND",),
)
def member_coupons(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.coupons import held

    q: CouponsQuery = call.query
    _member(call, member_id)
    page = held.mine(call.caller.merchant_id, member_id, q.status, q.cursor, q.limit)
    return {"coupons": [coupon_view(c, call.timezone) for c in page.items], "cursor": page.cursor}


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/punch-cards",
    "GET",
    role="admin",
    query="PageQuery",
    response="PunchCardPage",
    errors=("MEMBER_NOT_FOUND",),
)
def member_punch_cards(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.till import punch_cards

    _member(call, member_id)
    page = punch_cards.mine(call.caller.merchant_id, member_id, call.query.cursor, call.query.limit)
    return {"punch_cards": [punch_card_view(c, call.timezone) for c in page.items], "cursor": page.cursor}


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/orders",
    "GET",
    role="admin",
    query="PageQuery",
    response="ReceiptPage",
    errors=("MEMBER_NOT_FOUND",),
)
def member_orders(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.members import order_refs

    _member(call, member_id)
    page = order_refs.checkouts(call.caller.merchant_id, member_id, call.query.cursor, call.query.limit)
    return receipt_page(page, call.timezone)


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/topups",
    "GET",
    role="admin",
    query="PageQuery",
    response="TopupPage",
    errors=("MEMBER_NOT_FOUND",),
)
def member_topups(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.members import order_refs

    _member(call, member_id)
    page = order_refs.topups(call.caller.merchant_id, member_id, call.query.cursor, call.query.limit)
    return topup_page(page, call.timezone)


def receipt_page(page: Any, tz: str) -> dict[str, Any]:
    return {"orders": [receipt_view(o, tz) for o in page.items], "cursor": page.cursor}


def topup_page(page: Any, tz: str) -> dict[str, Any]:
    return {"topups": [order_view(o, tz) for o in page.items], "cursor": page.cursor}


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/audit",
    "GET",
    role="admin",
    query="PageQuery",
    response="AuditDayView",
    errors=("MEMBER_NOT_FOUND",),
)
def member_audit(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.staff import audit

    _member(call, member_id)
    return audit_page(
        audit.about_member(call.caller.merchant_id, member_id, call.query.cursor, call.query.limit), call.timezone
    )


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/adjustments",
    "POST",
    role="admin",
    body="AdjustmentBody",
    response="AdjustmentView",
    idempotent=True,
    errors=(
        "CARD_NOT_OPEN",
        "INSUFFICIENT_BALANCE",
        "INSUFFICIENT_GROWTH",
        "INSUFFICIENT_POINTS",
        "MEMBER_NOT_FOUND",
        "PUNCH_CARD_NOT_FOUND",
    ),
)
def adjust(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.member_care import adjustments
    from mini_program_api.merchants import merchants

    body: AdjustmentBody = call.body
    done = adjustments.adjust(call.caller, member_id, body.account, body.amount, body.reason, call.idempotency_key)
    posted = done.posted
    merchant = merchants.get(call.caller.merchant_id)
    return {
        "adjustment_id": posted.op_key,
        "account": body.account,
        "amount": sum(posted.amounts.values()),
        "reason": done.reason,
        "replayed": posted.replayed,
        "member": admin_member_view(merchant, _member(call, member_id)),
    }


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/coupons",
    "POST",
    role="admin",
    body="IssueCouponBody",
    status=201,
    response="CouponView",
    idempotent=True,
    errors=(
        "CARD_NOT_OPEN",
        "CLAIM_LIMIT_REACHED",
        "COUPON_NOT_FOUND",
        "MEMBER_NOT_FOUND",
        "OFFER_NOT_AVAILABLE",
        "PUNCH_CARD_NOT_FOUND",
        "SOLD_OUT",
        "TEMPLATE_NOT_FOUND",
        "TIER_NOT_ELIGIBLE",
    ),
)
def issue_coupon(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.member_care import adjustments

    body: IssueCouponBody = call.body
    coupon = adjustments.issue_coupon(call.caller, member_id, body.template_id, body.reason, call.idempotency_key)
    return coupon_view(coupon, call.timezone)


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/punch-cards/{card_id}/visits",
    "POST",
    role="admin",
    body="PunchVisitsBody",
    response="PunchCardView",
    idempotent=True,
    errors=("MEMBER_NOT_FOUND", "PUNCH_CARD_NOT_FOUND", "PUNCH_CARD_EXPIRED"),
)
def give_visits(call: Call, member_id: str, card_id: str) -> dict[str, Any]:
    from mini_program_api.member_care import adjustments

    body: PunchVisitsBody = call.body
    card = adjustments.give_visits(call.caller, member_id, card_id, body.visits, body.reason, call.idempotency_key)
    return punch_card_view(card, call.timezone)
