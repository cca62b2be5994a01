"""Coupons: admin templates, member offers and claims, the member's coupons."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from mini_program_api.routes.endpoint import Call, endpoint
from mini_program_api.routes.views import admin_template_view, coupon_view, template_view

if TYPE_CHECKING:  # annotations only: models and domain modules load on first use (endpoint.py)
    from mini_program_api.routes.schemas import CouponsQuery, CouponTemplateBody

bp = Blueprint(__name__)


@endpoint(
    bp,
    "/v1/admin/coupon-templates",
    "POST",
    role="admin",
    body="CouponTemplateBody",
    status=201,
    response="CreatedTemplateView",
    idempotent=True,
    errors=("NOT_FOUND", "STORE_NOT_FOUND"),
)
def create_template(call: Call) -> dict[str, Any]:
    from mini_program_api.coupons import templates
    from mini_program_api.merchants import merchants

    body: CouponTemplateBody = call.body
    assert call.principal is not None
    spec = templates.TemplateSpec(
        **{**body.model_dump(), "store_ids": tuple(body.store_ids), "tier_ids": tuple(body.tier_ids)}
    )
    template = templates.create_template(call.caller.merchant_id, spec, call.caller, call.idempotency_key)
    merchant = merchants.get(call.principal.merchant_id)
    return {
        **template_view(template, merchant.timezone),
        "total_stock": int(template.total_stock),
        "stock_shards": int(template.shards),
    }


@endpoint(bp, "/v1/admin/coupon-templates", "GET", role="admin", query="PageQuery", response="AdminTemplatePage")
def list_templates(call: Call) -> dict[str, Any]:
    from mini_program_api.coupons import template_admin

    page = template_admin.page(call.caller.merchant_id, call.query.cursor, call.query.limit)
    return {"templates": [admin_template_view(t, call.timezone) for t in page.items], "cursor": page.cursor}


@endpoint(
    bp,
    "/v1/admin/coupon-templates/{template_id}",
    "GET",
    role="admin",
    response="AdminTemplateView",
    errors=("TEMPLATE_NOT_FOUND",),
)
def get_template(call: Call, template_id: str) -> dict[str, Any]:
    from mini_program_api.coupons import template_admin

    return admin_template_view(template_admin.stocked(call.caller.merchant_id, template_id), call.timezone)


@endpoint(
    bp,
    "/v1/admin/coupon-templates/{template_id}",
    "PATCH",
    role="admin",
    body="TemplatePatchBody",
    response="AdminTemplateView",
    errors=("TEMPLATE_ENDED", "TEMPLATE_NOT_FOUND"),
)
def change_template(call: Call, template_id: str) -> dict[str, Any]:
    from mini_program_api.coupons import template_admin

    spec = template_admin.TemplateChange(**call.body.model_dump())
    return _admin_view(call, template_admin.change(call.caller, template_id, spec))


@endpoint(
    bp,
    "/v1/admin/coupon-templates/{template_id}/pause",
    "POST",
    role="admin",
    response="AdminTemplateView",
    errors=("TEMPLATE_ENDED", "TEMPLATE_NOT_FOUND"),
)
def pause_template(call: Call, template_id: str) -> dict[str, Any]:
    from mini_program_api.coupons import template_admin

    return _admin_view(call, template_admin.pause(call.caller, template_id))


@endpoint(
    bp,
    "/v1/admin/coupon-templates/{template_id}/resume",
    "POST",
    role="admin",
    response="AdminTemplateView",
    errors=("TEMPLATE_ENDED", "TEMPLATE_NOT_FOUND"),
)
def resume_template(call: Call, template_id: str) -> dict[str, Any]:
    from mini_program_api.coupons import template_admin

    return _admin_view(call, template_admin.resume(call.caller, template_id))


@endpoint(
    bp,
    "/v1/admin/coupon-templates/{template_id}/end",
    "POST",
    role="admin",
    response="AdminTemplateView",
    errors=("TEMPLATE_NOT_FOUND",),
)
def end_template(call: Call, template_id: str) -> dict[str, Any]:
    from mini_program_api.coupons import template_admin

    return _admin_view(call, template_admin.end(call.caller, template_id))


def _admin_view(call: Call, template: Any) -> dict[str, Any]:
    """What a change returns: the template as GET shows it after the change, live stock included."""
    from mini_program_api.coupons import template_admin

    return admin_template_view(template_admin.with_stock(call.caller.merchant_id, [template])[0], call.timezone)


@endpoint(
    bp,
    "/v1/coupons/offers",
    "GET",
    role="member",
    response="OffersView",
    idempotent=True,
    errors=("MEMBER_NOT_FOUND", "NOT_FOUND", "OFFER_NOT_AVAILABLE", "TIER_NOT_ELIGIBLE"),
)
def offers(call: Call) -> dict[str, Any]:
    """The offers; an Idempotency-Key (optional) makes a resend of one listing count one view."""
    from mini_program_api.coupons import shelf

    tz = call.timezone
    listed = shelf.offers(call.caller.merchant_id, call.caller.subject, idempotency_key=call.idempotency_key)
    return {"offers": [{**template_view(o.template, tz), "claimed": o.claimed} for o in listed]}


@endpoint(
    bp,
    "/v1/coupons/offers/{template_id}/claim",
    "POST",
    role="member",
    response="CouponView",
    idempotent=True,
    errors=(
        "CARD_NOT_OPEN",
        "CLAIM_LIMIT_REACHED",
        "COUPON_NOT_FOUND",
        "MEMBER_NOT_FOUND",
        "OFFER_NOT_AVAILABLE",
        "OFFER_NOT_FOUND",
        "PUNCH_CARD_NOT_FOUND",
        "REWARD_NOT_FOUND",
        "SOLD_OUT",
        "TIER_NOT_ELIGIBLE",
    ),
)
def claim(call: Call, template_id: str) -> dict[str, Any]:
    from mini_program_api.coupons import claims

    coupon = claims.claim(call.caller.merchant_id, call.caller.subject, template_id, call.idempotency_key)
    return coupon_view(coupon, call.timezone)


@endpoint(bp, "/v1/me/coupons", "GET", role="member", query="CouponsQuery", response="CouponPage")
def my_coupons(call: Call) -> dict[str, Any]:
    from mini_program_api.coupons import held

    q: CouponsQuery = call.query
    page = held.mine(call.caller.merchant_id, call.caller.subject, q.status, q.cursor, q.limit)
    tz = call.timezone
    return {"coupons": [coupon_view(c, tz) for c in page.items], "cursor": page.cursor}
