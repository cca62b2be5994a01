"""Who may claim a template now: open (active and not ended), and for a tier-only template one of its tiers.

The same rule twice: as answers (`why_closed`, `why_unclaimable`) for listing and for saying why, and as a
condition on the member item (`condition`) that a claim's transaction checks instead of reading the member.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.expressions.condition import Condition

from mini_program_api.db.coupon_templates import CouponTemplate
from mini_program_api.db.models import Member
from mini_program_api.members import members
from mini_program_api.platform.errors import KabaoError


def why_closed(template: CouponTemplate, now: datetime) -> str | None:
    """Why nobody can claim this template now, or None."""
    if not template.active:
        return "OFFER_NOT_AVAILABLE"
    if template.valid_until is not None and now >= template.valid_until:
        return "OFFER_NOT_AVAILABLE"
    return None


def why_unclaimable(template: CouponTemplate, member: Member, now: datetime) -> str | None:
    """Why this member cannot claim now, or None."""
    refusal = why_closed(template, now)
    if refusal is None and template.tier_ids and member.tier_id not in template.tier_ids:
        return "TIER_NOT_ELIGIBLE"
    return refusal


def refusal_error(refusal: str) -> KabaoError:
    return KabaoError(
        refusal,
        "this offer cannot be claimed now"
        if refusal != "TIER_NOT_ELIGIBLE"
        else "this offer is for other membership tiers",
    )


def condition(template: CouponTemplate) -> Condition:
    """What `why_unclaimable` and `members.require_card` ask of the member, as a condition on its item."""
    condition = Member.card_number.exists()
    if template.tier_ids:
        condition &= Member.tier_id.is_in(*(str(t) for t in template.tier_ids))
    return condition


def why_ineligible(merchant_id: str, member_id: str, template: CouponTemplate, now: datetime) -> KabaoError:
    """The member check in a claim's transaction failed: read the member once to say why."""
    member = members.get(merchant_id, member_id)
    members.require_card(member)
    refusal = why_unclaimable(template, member, now)
    if refusal:
        return refusal_error(refusal)
    return KabaoError("CONCURRENT_UPDATE", "the member changed during the claim, retry")
