"""Response shapes: money in fen, times ISO-8601 with the merchant's offset."""
from __future__ import annotations

from typing import Any

from .. import pii, tiers
from ..clock import iso
from ..db.models import LedgerEntry, Member, Merchant, Tier, TopupOrder, TopupPlan


def tier_view(tier: Tier | None) -> dict[str, Any] | None:
    if tier is None:
        return None
    return {"id": tier.tier_id, "name": tier.name, "threshold": int(tier.threshold)}


def merchant_view(merchant: Merchant) -> dict[str, Any]:
    return {"name": merchant.name, "terms_version": merchant.terms_version, "timezone": merchant.timezone}


def member_view(merchant: Merchant, member: Member) -> dict[str, Any]:
    progress = tiers.progress(merchant, member.tier_id, int(member.growth))
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
        "card": card,
        "phone": pii.mask_phone(pii.decrypt_phone(member.phone_enc)) if member.phone_enc else None,
        "tier": tier_view(progress.tier),
        "next_tier": tier_view(progress.next_tier),
        "growth_to_next_tier": progress.growth_to_next,
        "growth": int(member.growth),
        "points": int(member.points),
        "principal": int(member.principal),
        "bonus": int(member.bonus),
        "balance": int(member.principal) + int(member.bonus),
    }


def entry_view(entry: LedgerEntry, tz: str) -> dict[str, Any]:
    return {
        "id": f"{entry.op_key}#{entry.account}",
        "account": entry.account,
        "amount": int(entry.amount),
        "kind": entry.kind,
        "memo": entry.memo.as_dict(),
        "created_at": iso(entry.created_at, tz),
    }


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
    }
