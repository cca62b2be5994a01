"""Views: domain items as the API shows them, money in fen, times ISO-8601 with the merchant's offset.

Each view's shape is declared in `responses.py`; on the local stages the endpoint checks every answer against it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mini_program_api.platform import clock
from mini_program_api.platform.clock import iso

if TYPE_CHECKING:
    from mini_program_api.coupons import template_admin
    from mini_program_api.db.coupon_templates import CouponTemplate
    from mini_program_api.db.coupons import Coupon
    from mini_program_api.db.ledger import LedgerEntry
    from mini_program_api.db.models import Member, Merchant, Tier, TopupPlan
    from mini_program_api.db.orders import CheckoutOrder
    from mini_program_api.db.punch_cards import PunchCard, PunchPlan
    from mini_program_api.db.staff import Store
    from mini_program_api.db.topups import TopupOrder


def tier_view(tier: Tier | None) -> dict[str, Any] | None:
    if tier is None:
        return None
    return {
        "id": tier.tier_id,
        "name": tier.name,
        "threshold": int(tier.threshold),
        "discount_rate": int(tier.discount_rate),
        "points_multiplier": int(tier.points_multiplier),
    }


def admin_tier_view(tier: Tier) -> dict[str, Any]:
    """A tier as PUT /v1/admin/tiers takes it (`tier_id`, where a member's view says `id`), so what is read back
    can be sent again."""
    return {
        "tier_id": tier.tier_id,
        **{k: v for k, v in (tier_view(tier) or {}).items() if k != "id"},
        "birthday_template_id": tier.birthday_template_id,
        "monthly_template_ids": list(tier.monthly_template_ids or []),
    }


def settings_view(merchant: Merchant) -> dict[str, Any]:
    """Every setting PATCH /v1/admin/settings takes, with its current value (null: not set)."""
    from mini_program_api.merchants import configuration

    return {
        k: (v.as_dict() if hasattr(v, "as_dict") else v) for k in configuration.SETTINGS for v in [getattr(merchant, k)]
    }


def merchant_view(merchant: Merchant) -> dict[str, Any]:
    return {"name": merchant.name, "terms_version": merchant.terms_version, "timezone": merchant.timezone}


def member_view(merchant: Merchant, member: Member) -> dict[str, Any]:
    from mini_program_api.members import tiers
    from mini_program_api.platform import pii

    progress = tiers.progress(merchant, member)
    tz = merchant.timezone
    card = None
    if member.card_number:
        card = {
            "number": member.card_number,
            "opened_at": iso(member.card_opened_at, tz) if member.card_opened_at else None,
            "name": member.name,
            "birthday": member.birthday,
        }
    return {
        "member_id": member.member_id,
        "invite_code": member.invite_code,
        "card": card,
        "phone": pii.shown_phone(member.phone_enc, member.phone_masked),
        "tier": tier_view(progress.tier),
        "next_tier": tier_view(progress.next_tier),
        "growth_to_next_tier": progress.growth_to_next,
        "tier_growth": tiers.qualifying(member),
        "growth": int(member.growth),
        "points": int(member.points),
        "principal": int(member.principal),
        "bonus": int(member.bonus),
        "balance": int(member.principal) + int(member.bonus),
        "frozen": frozen_view(member, tz),
    }


def frozen_view(member: Member, tz: str) -> dict[str, Any] | None:
    if member.frozen_at is None:
        return None
    return {"at": iso(member.frozen_at, tz), "reason": member.frozen_reason or ""}


def entry_view(entry: LedgerEntry, tz: str, members_own: bool = False) -> dict[str, Any]:
    """The merchant's view of an entry, or with `members_own` the member's, which names nobody else."""
    view = {
        "id": entry.sk.removeprefix("TXN#"),
        "account": entry.account,
        "card_id": entry.card_id,
        "amount": int(entry.amount),
        "kind": entry.kind,
        "memo": entry.memo.as_dict(),
        "created_at": iso(entry.created_at, tz),
    }
    if members_own:
        from mini_program_api.money import ledger

        view["id"], view["memo"] = ledger.members_entry_id(entry), ledger.members_memo(view["memo"])
    return view


def plan_view(plan: TopupPlan) -> dict[str, Any]:
    return {"plan_id": plan.plan_id, "amount": int(plan.amount), "bonus": int(plan.bonus)}


def order_view(order: TopupOrder, tz: str) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "status": order.status,
        "amount": int(order.amount),
        "bonus": int(order.bonus),
        "plan_id": order.plan_id,
        "created_at": iso(order.created_at, tz),
        "expires_at": iso(order.expires_at, tz),
        "paid_at": iso(order.paid_at, tz) if order.paid_at else None,
        "refund_amount": int(order.refund_amount) if order.refund_amount is not None else None,
        "refund_error": order.refund_error,
    }


def template_view(template: CouponTemplate, tz: str) -> dict[str, Any]:
    from mini_program_api.coupons import templates

    return {
        "template_id": template.template_id,
        **templates.template_terms(template),
        "valid_from": iso(template.valid_from, tz) if template.valid_from else None,
        "valid_until": iso(template.valid_until, tz) if template.valid_until else None,
        "days_after_claim": int(template.days_after_claim) if template.days_after_claim else None,
        "per_member_limit": int(template.per_member_limit),
        "tier_ids": list(template.tier_ids),
        "points_price": int(template.points_price) if template.points_price is not None else None,
    }


def admin_template_view(stocked: template_admin.Stocked, tz: str) -> dict[str, Any]:
    """A template as the back office sees it: its terms, state and live stock (claimed + remaining = stock)."""
    from mini_program_api.coupons import template_admin

    template = stocked.template
    return {
        **template_view(template, tz),
        "status": template_admin.status(template, clock.now()),
        "listed": bool(template.listed),
        "total_stock": int(template.total_stock),
        "stock_shards": int(template.shards),
        "remaining": stocked.remaining,
        "claimed": stocked.claimed,
        "used": stocked.used,
        "created_at": iso(template.created_at, tz),
        "ended_at": iso(template.ended_at, tz) if template.ended_at else None,
    }


def coupon_view(coupon: Coupon, tz: str) -> dict[str, Any]:
    from mini_program_api.coupons import held, templates

    return {
        "coupon_id": coupon.coupon_id,
        "template_id": coupon.template_id,
        **templates.template_terms(coupon),
        "status": held.status(coupon, clock.now()),
        "valid_from": iso(coupon.valid_from, tz),
        "valid_until": iso(coupon.valid_until, tz),
        "claimed_at": iso(coupon.claimed_at, tz),
        "used_at": iso(coupon.used_at, tz) if coupon.used_at else None,
        "used_store_id": coupon.used_store_id,
    }


def punch_plan_view(plan: PunchPlan) -> dict[str, Any]:
    return {
        "plan_id": plan.plan_id,
        "name": plan.name,
        "visits": int(plan.visits),
        "valid_days": int(plan.valid_days),
        "price": int(plan.price) if plan.price is not None else None,
        "store_ids": list(plan.store_ids),
    }


def punch_card_view(card: PunchCard, tz: str) -> dict[str, Any]:
    from mini_program_api.till import punch_cards

    return {
        "card_id": card.card_id,
        "plan_id": card.plan_id,
        "name": card.name,
        "visits": int(card.visits),
        "uses_left": int(card.uses_left),
        "status": punch_cards.status(card),
        "store_ids": list(card.store_ids),
        "valid_until": iso(card.valid_until, tz),
        "issued_at": iso(card.issued_at, tz),
    }


_RECEIPT_FIELDS = (
    "order_id",
    "member_id",
    "store_id",
    "staff_id",
    "status",
    "amount",
    "tier_discount",
    "coupon_id",
    "coupon_discount",
    "points_used",
    "points_value",
    "bonus_used",
    "principal_used",
    "cash_due",
    "points_earned",
    "growth_earned",
    "tier_before",
    "tier_after",
    "points_clawed_back",
    "growth_clawed_back",
    "coupon_restored",
    "principal_over_cap",
    "member_day_id",
    "member_day_multiplier",
)


def receipt_view(order: CheckoutOrder, tz: str) -> dict[str, Any]:
    """A checkout as the till shows it (`ReceiptView`)."""
    from mini_program_api.till import checkout

    view: dict[str, Any] = {}
    for name in _RECEIPT_FIELDS:
        value = getattr(order, name)
        view[name] = int(value) if isinstance(value, float) else value
    view["stored_value_used"] = int(order.bonus_used) + int(order.principal_used)
    view["upgraded"] = order.tier_before != order.tier_after
    # What the till pays back in cash on a refund: the sale's cash, and principal the cap kept off the card.
    refunded = order.status == checkout.REFUNDED
    view["cash_refund"] = int(order.cash_due) + int(order.principal_over_cap or 0) if refunded else None
    view["created_at"] = iso(order.created_at, tz)
    view["refunded_at"] = iso(order.refunded_at, tz) if order.refunded_at else None
    return view


# Pages and places a member and the back office both show (routes/member_info.py and the console's modules): here,
# so that a member's Lambda loads no console route module for them.
def store_view(store: Store, tz: str) -> dict[str, Any]:
    return {
        "store_id": store.store_id,
        "name": store.name,
        "closed_at": clock.iso(store.closed_at, tz) if store.closed_at else None,
    }


def receipt_page(page: Any, tz: str) -> dict[str, Any]:
    return {"orders": [receipt_view(o, tz) for o in page.items], "cursor": page.cursor}


def topup_page(page: Any, tz: str) -> dict[str, Any]:
    return {"topups": [order_view(o, tz) for o in page.items], "cursor": page.cursor}
