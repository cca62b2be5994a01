"""The counter (role staff): the scanned member and what is usable here now, and a sale's price before
it is charged. Both write nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from mini_program_api.routes.endpoint import Call, endpoint
from mini_program_api.routes.views import coupon_view, punch_card_view, tier_view

if TYPE_CHECKING:  # annotations only: models and domain modules load on first use (endpoint.py)
    from mini_program_api.routes.schemas import QuoteBody

bp = Blueprint(__name__)


@endpoint(
    bp,
    "/v1/staff/member",
    "GET",
    role="staff",
    query="CounterQuery",
    response="CounterMemberView",
    errors=(
        "CARD_NOT_OPEN",
        "COUPON_ALREADY_USED",
        "COUPON_EXPIRED",
        "COUPON_NOT_APPLICABLE",
        "MEMBER_NOT_FOUND",
        "NOT_FOUND",
    ),
)
def scanned_member(call: Call) -> dict[str, Any]:
    from mini_program_api import counter
    from mini_program_api.members import tiers
    from mini_program_api.platform import pii

    seen = counter.scanned(call.member, call.query.member_code)
    member, tz = seen.member, seen.merchant.timezone
    return {
        "member_id": member.member_id,
        "card_number": member.card_number,
        "name": member.name,
        "phone": pii.mask_phone(pii.decrypt_phone(member.phone_enc)) if member.phone_enc else None,
        "tier": tier_view(tiers.current(seen.merchant, member.tier_id)),
        "points": int(member.points),
        "principal": int(member.principal),
        "bonus": int(member.bonus),
        "balance": int(member.principal) + int(member.bonus),
        "coupons": [coupon_view(c, tz) for c in seen.coupons],
        "coupons_more": seen.coupons_more,
        "punch_cards": [punch_card_view(c, tz) for c in seen.punch_cards],
        "punch_cards_more": seen.punch_cards_more,
    }


@endpoint(
    bp,
    "/v1/staff/checkout/quote",
    "POST",
    role="staff",
    body="QuoteBody",
    response="QuoteView",
    errors=(
        "AMOUNT_OUT_OF_RANGE",
        "CARD_NOT_OPEN",
        "COUPON_ALREADY_USED",
        "COUPON_EXPIRED",
        "COUPON_NOT_APPLICABLE",
        "COUPON_NOT_FOUND",
        "INSUFFICIENT_BALANCE",
        "INSUFFICIENT_POINTS",
        "MEMBER_NOT_FOUND",
        "NOT_FOUND",
        "PAYMENT_EXCEEDS_DUE",
        "SPENDING_LOCKED",
        "SPENDING_PASSWORD_NOT_SET",
        "SPENDING_PASSWORD_WRONG",
        "TILL_PASSWORD_NOT_ALLOWED",
    ),
)
def quote(call: Call) -> dict[str, Any]:
    from mini_program_api import checkout

    body: QuoteBody = call.body
    req = checkout.Request(body.amount, body.coupon_id, body.points, body.stored_value)
    seen = checkout.preview(call.member, body.member_code, req)
    q = seen.quote
    return {
        "member_id": seen.member.member_id,
        "amount": body.amount,
        "coupon_id": body.coupon_id,
        "points_used": body.points,
        **q.__dict__,
        "stored_value_used": q.bonus_used + q.principal_used,
        "tier_before": seen.tier_before,
        "tier_after": seen.tier_after,
        "upgraded": seen.tier_before != seen.tier_after,
        "confirmation_required": seen.confirmation_required,
    }
