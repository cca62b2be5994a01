"""Tier placement from growth value (the tier rules themselves grow in a later issue)."""
from __future__ import annotations

from dataclasses import dataclass

from .db.models import Merchant, Tier


@dataclass(frozen=True)
class Progress:
    tier: Tier
    next_tier: Tier | None
    growth_to_next: int | None


def ordered(merchant: Merchant) -> list[Tier]:
    return sorted(merchant.tiers, key=lambda t: int(t.threshold))


def entry_tier(merchant: Merchant) -> Tier:
    return ordered(merchant)[0]


def progress(merchant: Merchant, tier_id: str | None, growth: int) -> Progress:
    tiers = ordered(merchant)
    current = next((t for t in tiers if t.tier_id == tier_id), tiers[0])
    above = [t for t in tiers if int(t.threshold) > int(current.threshold)]
    if not above:
        return Progress(current, None, None)
    return Progress(current, above[0], max(0, int(above[0].threshold) - growth))
