"""Stored-value top-up: plans, orders and admin refunds (WeChat Pay's notifies: routes/wechat/topup.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from mini_program_api.routes.endpoint import Call, endpoint
from mini_program_api.routes.views import order_view, plan_view

if TYPE_CHECKING:  # annotations only: models and domain modules load on first use (endpoint.py)
    from mini_program_api.routes.schemas import TopupOrderBody

bp = Blueprint(__name__)


@endpoint(bp, "/v1/topup/plans", "GET", role="member", response="TopupPlansView", errors=("NOT_FOUND",))
def plans(call: Call) -> dict[str, Any]:
    from mini_program_api.merchants import merchants
    from mini_program_api.topup import plans

    merchant = merchants.get(call.caller.merchant_id)
    return {
        "plans": [plan_view(p) for p in plans.listed(merchant)],
        "custom_amount": {"min": int(merchant.topup_min), "max": int(merchant.topup_max)},
        "prepaid_cap": int(merchant.prepaid_cap),
    }


@endpoint(
    bp,
    "/v1/topup/orders",
    "POST",
    role="member",
    body="TopupOrderBody",
    response="TopupOrderCreated",
    idempotent=True,
    errors=(
        "AMOUNT_OUT_OF_RANGE",
        "CARD_NOT_OPEN",
        "MEMBER_NOT_FOUND",
        "NOT_FOUND",
        "ORDER_NOT_FOUND",
        "PAYMENT_NOT_CONFIGURED",
        "PLAN_NOT_FOUND",
        "PREPAID_CAP_EXCEEDED",
        "WECHAT_UNAVAILABLE",
    ),
)
def create_order(call: Call) -> dict[str, Any]:
    from mini_program_api.merchants import merchants
    from mini_program_api.topup import orders

    body: TopupOrderBody = call.body
    order, pay_params = orders.create_order(
        call.caller.merchant_id, call.caller.subject, call.idempotency_key, body.plan_id, body.amount
    )
    merchant = merchants.get(call.caller.merchant_id)
    return {**order_view(order, merchant.timezone), "pay_params": pay_params}


@endpoint(
    bp, "/v1/topup/orders/{order_id}", "GET", role="member", response="TopupOrderView", errors=("ORDER_NOT_FOUND",)
)
def get_order(call: Call, order_id: str) -> dict[str, Any]:
    from mini_program_api.topup import orders

    order = orders.get_order(call.caller.merchant_id, call.caller.subject, order_id)
    return order_view(order, call.timezone)


@endpoint(
    bp,
    "/v1/admin/topup/orders/{order_id}/refund",
    "POST",
    role="admin",
    response="TopupOrderView",
    errors=(
        "INSUFFICIENT_BALANCE",
        "MEMBER_NOT_FOUND",
        "ORDER_NOT_FOUND",
        "ORDER_NOT_REFUNDABLE",
        "PAYMENT_NOT_CONFIGURED",
        "PUNCH_CARD_NOT_FOUND",
        "REFUND_PRINCIPAL_SPENT",
    ),
)
def refund(call: Call, order_id: str) -> dict[str, Any]:
    from mini_program_api.topup import refunds

    assert call.principal is not None
    order = refunds.refund(call.caller, order_id)
    return order_view(order, call.timezone)
