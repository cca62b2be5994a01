"""The counter: staff log in, check out by scanned member code, refund, redeem gifts, punch cards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from mini_program_api.routes.endpoint import Call, endpoint
from mini_program_api.routes.views import coupon_view, punch_card_view, receipt_view

if TYPE_CHECKING:  # annotations only: models and domain modules load on first use (endpoint.py)
    from mini_program_api.routes.schemas import CheckoutBody, GiftRedeemBody, PunchUseBody, StaffLoginBody

bp = Blueprint(__name__)


@endpoint(
    bp,
    "/v1/staff/login",
    "POST",
    role=None,
    body="StaffLoginBody",
    response="StaffLoginView",
    errors=(
        "ACCOUNT_DISABLED",
        "ACCOUNT_LOCKED",
        "INVALID_CREDENTIALS",
        "NOT_FOUND",
        "STORE_CLOSED",
        "STORE_NOT_FOUND",
    ),
)
def login(call: Call) -> dict[str, Any]:
    from mini_program_api.staff import accounts

    body: StaffLoginBody = call.body
    session = accounts.login(body.merchant_id, body.username, body.password)
    return {
        "token": session.token,
        "expires_in": session.expires_in,
        "role": session.principal.role,
        "store_id": session.principal.store_id,
    }


@endpoint(
    bp,
    "/v1/staff/checkout",
    "POST",
    role="staff",
    body="CheckoutBody",
    response="ReceiptView",
    idempotent=True,
    errors=(
        "AMOUNT_OUT_OF_RANGE",
        "CARD_NOT_OPEN",
        "CONFIRMATION_EXPIRED",
        "CONFIRMATION_NOT_FOUND",
        "CONFIRMATION_REQUIRED",
        "COUPON_ALREADY_USED",
        "COUPON_EXPIRED",
        "COUPON_NOT_APPLICABLE",
        "COUPON_NOT_FOUND",
        "INSUFFICIENT_BALANCE",
        "INSUFFICIENT_POINTS",
        "INVALID_CODE",
        "MEMBER_NOT_FOUND",
        "NOT_FOUND",
        "ORDER_NOT_FOUND",
        "PAYMENT_EXCEEDS_DUE",
        "PUNCH_CARD_NOT_FOUND",
        "SPENDING_LOCKED",
        "SPENDING_PASSWORD_NOT_SET",
        "SPENDING_PASSWORD_WRONG",
        "TILL_PASSWORD_NOT_ALLOWED",
        "WECHAT_UNAVAILABLE",
    ),
)
def do_checkout(call: Call) -> dict[str, Any]:
    from mini_program_api import checkout

    body: CheckoutBody = call.body
    request = checkout.Request(body.amount, body.coupon_id, body.points, body.stored_value)
    order = checkout.checkout(call.member, body.member_code, request, call.idempotency_key, body.spending_password)
    return receipt_view(order, call.timezone)


@endpoint(
    bp,
    "/v1/staff/orders/{order_id}",
    "GET",
    role=("staff", "admin"),
    response="ReceiptView",
    errors=("ORDER_NOT_FOUND",),
)
def get_order(call: Call, order_id: str) -> dict[str, Any]:
    from mini_program_api import checkout

    return receipt_view(checkout.order_for(call.member, order_id), call.timezone)


@endpoint(
    bp,
    "/v1/staff/orders/{order_id}/refund",
    "POST",
    role=("staff", "admin"),
    response="ReceiptView",
    errors=("COUPON_NOT_FOUND", "MEMBER_NOT_FOUND", "ORDER_NOT_FOUND", "PUNCH_CARD_NOT_FOUND"),
)
def refund(call: Call, order_id: str) -> dict[str, Any]:
    from mini_program_api import checkout

    return receipt_view(checkout.refund(call.member, order_id), call.timezone)


@endpoint(
    bp,
    "/v1/staff/coupons/redeem",
    "POST",
    role="staff",
    body="GiftRedeemBody",
    response="CouponView",
    idempotent=True,
    errors=("COUPON_ALREADY_USED", "COUPON_EXPIRED", "COUPON_NOT_APPLICABLE", "COUPON_NOT_FOUND", "NOT_FOUND"),
)
def redeem_gift(call: Call) -> dict[str, Any]:
    from mini_program_api.coupons import redemption

    body: GiftRedeemBody = call.body
    coupon = redemption.redeem_gift(call.member, body.member_code, body.coupon_id, call.idempotency_key)
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
    from mini_program_api import punch_cards

    body: PunchUseBody = call.body
    card = punch_cards.use(call.member, body.member_code, body.card_id, call.idempotency_key)
    return punch_card_view(card, call.timezone)
