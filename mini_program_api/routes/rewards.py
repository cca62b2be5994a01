"""Points mall and punch cards, as the member sees them."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from mini_program_api.routes.endpoint import Call, endpoint
from mini_program_api.routes.views import coupon_view, punch_card_view, punch_plan_view, template_view

bp = Blueprint(__name__)


@endpoint(
    bp,
    "/v1/points/rewards",
    "GET",
    role="member",
    response="RewardsView",
    errors=("MEMBER_NOT_FOUND", "NOT_FOUND", "OFFER_NOT_AVAILABLE", "TIER_NOT_ELIGIBLE"),
)
def rewards(call: Call) -> dict[str, Any]:
    from mini_program_api.coupons import shelf

    listed, tz = shelf.offers(call.caller.merchant_id, call.caller.subject, rewards=True), call.timezone
    return {
        "rewards": [
            {**template_view(o.template, tz), "reward_id": o.template.template_id, "redeemed": o.claimed}
            for o in listed
        ]
    }


@endpoint(
    bp,
    "/v1/points/rewards/{reward_id}/redeem",
    "POST",
    role="member",
    response="CouponView",
    idempotent=True,
    errors=(
        "CARD_NOT_OPEN",
        "CLAIM_LIMIT_REACHED",
        "COUPON_NOT_FOUND",
        "INSUFFICIENT_POINTS",
        "MEMBER_FROZEN",
        "MEMBER_NOT_FOUND",
        "OFFER_NOT_AVAILABLE",
        "OFFER_NOT_FOUND",
        "PUNCH_CARD_NOT_FOUND",
        "REWARD_NOT_FOUND",
        "SOLD_OUT",
        "TIER_NOT_ELIGIBLE",
    ),
)
def redeem(call: Call, reward_id: str) -> dict[str, Any]:
    from mini_program_api.coupons import claims

    coupon = claims.redeem_reward(call.caller.merchant_id, call.caller.subject, reward_id, call.idempotency_key)
    return coupon_view(coupon, call.timezone)


@endpoint(bp, "/v1/punch-cards/plans", "GET", role="member", response="PunchPlansView")
def plans(call: Call) -> dict[str, Any]:
    from mini_program_api.till import punch_cards

    return {"plans": [punch_plan_view(p) for p in punch_cards.plans(call.caller.merchant_id)]}


@endpoint(
    bp,
    "/v1/punch-cards/plans/{plan_id}/buy",
    "POST",
    role="member",
    body="PunchBuyBody",
    response="PunchCardView",
    idempotent=True,
    errors=(
        "CARD_NOT_OPEN",
        "INSUFFICIENT_BALANCE",
        "MEMBER_FROZEN",
        "MEMBER_NOT_FOUND",
        "PUNCH_CARD_NOT_APPLICABLE",
        "PUNCH_CARD_NOT_FOUND",
        "PUNCH_PLAN_NOT_FOUND",
        "SPENDING_LOCKED",
        "SPENDING_PASSWORD_NOT_SET",
        "SPENDING_PASSWORD_WRONG",
        "VERIFICATION_REQUIRED",
    ),
)
def buy(call: Call, plan_id: str) -> dict[str, Any]:
    from mini_program_api.till import punch_cards

    card = punch_cards.buy(
        call.caller.merchant_id, call.caller.subject, plan_id, call.idempotency_key, call.body.password
    )
    return punch_card_view(card, call.timezone)


@endpoint(bp, "/v1/me/punch-cards", "GET", role="member", query="PageQuery", response="PunchCardPage")
def my_cards(call: Call) -> dict[str, Any]:
    from mini_program_api.till import punch_cards

    page = punch_cards.mine(call.caller.merchant_id, call.caller.subject, call.query.cursor, call.query.limit)
    tz = call.timezone
    return {"punch_cards": [punch_card_view(c, tz) for c in page.items], "cursor": page.cursor}
