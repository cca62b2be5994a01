"""The till (role staff): the scanned member and what is usable here now, a sale's price before it is charged,
checkout by scanned member code, the sale's refund, gift redemption and punch-card use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from mini_program_api.routes.endpoint import Call, endpoint
from mini_program_api.routes.views import coupon_view, punch_card_view, receipt_view, tier_view

if TYPE_CHECKING:  # annotations only: models and domain modules load on first use (endpoint.py)
    from mini_program_api.db.models import ItemKey
    from mini_program_api.routes.schemas import CheckoutBody, GiftRedeemBody, PunchUseBody, QuoteBody, StoreSalesQuery

bp = Blueprint(__name__)


def _sale_reads(call: Call) -> list[ItemKey]:
    """What a sale by scanned code reads first, read with the staff session (endpoint.py's `reads`)."""
    from mini_program_api.till import checkout

    return checkout.first_reads(call.caller, call.body.member_code, call.idempotency_key)


def _gift_reads(call: Call) -> list[ItemKey]:
    from mini_program_api.coupons import redemption

    return redemption.gift_first_reads(call.caller, call.body.member_code, call.idempotency_key)


@endpoint(
    bp,
    "/v1/staff/checkout",
    "POST",
    role="staff",
    body="CheckoutBody",
    response="ReceiptView",
    idempotent=True,
    reads=_sale_reads,
    errors=(
        "AMOUNT_OUT_OF_RANGE",
        "CARD_NOT_OPEN",
        "CONFIRMATION_EXPIRED",
        "CONFIRMATION_NOT_FOUND",
        "CONFIRMATION_REQUIRED",
        "CONFIRMATION_WITHDRAWN",
        "COUPON_ALREADY_USED",
        "COUPON_EXPIRED",
        "COUPON_NOT_APPLICABLE",
        "COUPON_NOT_FOUND",
        "INSUFFICIENT_BALANCE",
        "INSUFFICIENT_POINTS",
        "MEMBER_FROZEN",
        "MEMBER_NOT_FOUND",
        "NOT_FOUND",
        "ORDER_NOT_FOUND",
        "PAYMENT_EXCEEDS_DUE",
        "PUNCH_CARD_NOT_FOUND",
        "SPENDING_LOCKED",
        "SPENDING_PASSWORD_NOT_SET",
        "SPENDING_PASSWORD_WRONG",
        "TILL_PASSWORD_NOT_ALLOWED",
    ),
)
def do_checkout(call: Call) -> dict[str, Any]:
    from mini_program_api.till import checkout

    body: CheckoutBody = call.body
    request = checkout.Request(body.amount, body.coupon_id, body.points, body.stored_value)
    order = checkout.checkout(
        call.caller, body.member_code, request, call.idempotency_key, body.spending_password, call.known
    )
    return receipt_view(order, call.timezone)


@endpoint(
    bp,
    "/v1/staff/checkout/withdraw",
    "POST",
    role="staff",
    response="WithdrawnView",
    idempotent=True,
    errors=("CONFIRMATION_NOT_FOUND", "ORDER_NOT_FOUND"),
)
def withdraw(call: Call) -> dict[str, Any]:
    """The sale waiting under this Idempotency-Key (the checkout's own) is withdrawn from the member's phone."""
    from mini_program_api.till import checkout

    status, order = checkout.withdraw(call.caller, call.idempotency_key)
    return {"status": status, "receipt": receipt_view(order, call.timezone) if order is not None else None}


@endpoint(bp, "/v1/staff/orders", "GET", role="staff", query="StoreSalesQuery", response="ReceiptPage")
def store_orders(call: Call) -> dict[str, Any]:
    """This store's sales of a day, newest first: the till's recent orders, each with its refund."""
    from mini_program_api.platform import clock
    from mini_program_api.till import checkout, store_sales

    query: StoreSalesQuery = call.query
    day = query.day or clock.local_date(call.timezone)
    page = store_sales.page(call.caller.merchant_id, checkout.store_of(call.caller), day, query.cursor, query.limit)
    return {"orders": [receipt_view(o, call.timezone) for o in page.items], "cursor": page.cursor}


@endpoint(
    bp,
    "/v1/staff/orders/{order_id}",
    "GET",
    role=("staff", "admin"),
    response="ReceiptView",
    errors=("ORDER_NOT_FOUND",),
)
def get_order(call: Call, order_id: str) -> dict[str, Any]:
    from mini_program_api.till import checkout

    return receipt_view(checkout.order_for(call.caller, order_id), call.timezone)


@endpoint(
    bp,
    "/v1/staff/orders/{order_id}/refund",
    "POST",
    role=("staff", "admin"),
    response="ReceiptView",
    errors=("COUPON_NOT_FOUND", "MEMBER_NOT_FOUND", "ORDER_NOT_FOUND", "PUNCH_CARD_NOT_FOUND"),
)
def refund(call: Call, order_id: str) -> dict[str, Any]:
    from mini_program_api.till import checkout

    return receipt_view(checkout.refund(call.caller, order_id), call.timezone)


@endpoint(
    bp,
    "/v1/staff/coupons/redeem",
    "POST",
    role="staff",
    body="GiftRedeemBody",
    response="CouponView",
    idempotent=True,
    reads=_gift_reads,
    errors=("COUPON_ALREADY_USED", "COUPON_EXPIRED", "COUPON_NOT_APPLICABLE", "COUPON_NOT_FOUND", "NOT_FOUND"),
)
def redeem_gift(call: Call) -> dict[str, Any]:
    from mini_program_api.coupons import redemption

    body: GiftRedeemBody = call.body
    coupon = redemption.redeem_gift(call.caller, body.member_code, body.coupon_id, call.idempotency_key, call.known)
    return coupon_view(coupon, call.timezone)


@endpoint(
    bp,
    "/v1/staff/punch-cards/use",
    "POST",
    role="staff",
    body="PunchUseBody",
    response="PunchCardView",
    idempotent=True,
    errors=(
        "MEMBER_NOT_FOUND",
        "NOT_FOUND",
        "PUNCH_CARD_EXPIRED",
        "PUNCH_CARD_NOT_APPLICABLE",
        "PUNCH_CARD_NOT_FOUND",
        "PUNCH_CARD_USED_UP",
    ),
)
def use_punch_card(call: Call) -> dict[str, Any]:
    from mini_program_api.till import punch_cards

    body: PunchUseBody = call.body
    card = punch_cards.use(call.caller, body.member_code, body.card_id, call.idempotency_key)
    return punch_card_view(card, call.timezone)


@endpoint(
    bp,
    "/v1/staff/member",
    "GET",
    role="staff",
    query="CounterQuery",
    response="CounterMemberView",
    errors=("CARD_NOT_OPEN", "MEMBER_NOT_FOUND", "NOT_FOUND"),
)
def scanned_member(call: Call) -> dict[str, Any]:
    from mini_program_api.members import tiers
    from mini_program_api.platform import pii
    from mini_program_api.till import scan

    seen = scan.scanned(call.caller, call.query.member_code)
    member, tz = seen.member, seen.merchant.timezone
    return {
        "member_id": member.member_id,
        "card_number": member.card_number,
        "name": member.name,
        "phone": pii.shown_phone(member.phone_enc, member.phone_masked),
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
        "MEMBER_FROZEN",
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
    from mini_program_api.till import checkout

    body: QuoteBody = call.body
    req = checkout.Request(body.amount, body.coupon_id, body.points, body.stored_value)
    seen = checkout.preview(call.caller, body.member_code, req)
    q = seen.quote
    return {
        "member_id": seen.member.member_id,
        "amount": body.amount,
        "coupon_id": body.coupon_id,
        "points_used": body.points,
        **q._asdict(),
        "stored_value_used": q.bonus_used + q.principal_used,
        "tier_before": seen.tier_before,
        "tier_after": seen.tier_after,
        "upgraded": seen.tier_before != seen.tier_after,
        "confirmation_required": seen.confirmation_required,
    }
