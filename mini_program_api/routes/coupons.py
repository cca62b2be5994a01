"""Coupons: admin templates, member offers and claims, the member's coupons."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from .. import coupons, merchants
from .endpoint import Call, endpoint
from .schemas import CouponsQuery, CouponTemplateBody
from .views import coupon_view, template_view

bp = Blueprint(__name__)


@endpoint(bp, "/v1/admin/coupon-templates", "POST", role="admin", body=CouponTemplateBody, status=201)
def create_template(call: Call) -> dict[str, Any]:
    body: CouponTemplateBody = call.body
    assert call.principal is not None
    spec = coupons.TemplateSpec(**{**body.model_dump(), "store_ids": tuple(body.store_ids),
                                   "tier_ids": tuple(body.tier_ids)})
    template = coupons.create_template(call.member.merchant_id, spec, call.member, call.idempotency_key)
    merchant = merchants.get(call.principal.merchant_id)
    return {**template_view(template, merchant.timezone), "total_stock": int(template.total_stock),
            "stock_shards": int(template.shards)}


@endpoint(bp, "/v1/coupons/offers", "GET", role="member")
def offers(call: Call) -> dict[str, Any]:
    tz = call.timezone
    listed = coupons.offers(call.member.merchant_id, call.member.subject)
    return {"offers": [{**template_view(o.template, tz), "claimed": o.claimed} for o in listed]}


@endpoint(bp, "/v1/coupons/offers/{template_id}/claim", "POST", role="member")
def claim(call: Call, template_id: str) -> dict[str, Any]:
    coupon = coupons.claim(call.member.merchant_id, call.member.subject, template_id, call.idempotency_key)
    return coupon_view(coupon, call.timezone)


@endpoint(bp, "/v1/me/coupons", "GET", role="member", query=CouponsQuery)
def my_coupons(call: Call) -> dict[str, Any]:
    q: CouponsQuery = call.query
    page = coupons.mine(call.member.merchant_id, call.member.subject, q.status, q.cursor, q.limit)
    tz = call.timezone
    return {"coupons": [coupon_view(c, tz) for c in page.items], "cursor": page.cursor}
