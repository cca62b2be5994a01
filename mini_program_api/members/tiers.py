"""Tiers: placement by growth, upgrades in the transaction that earns them (members/upgrades.py writes them), the
annual review.

Qualifying growth is the member's growth minus `tier_base`. Without reviews the
base stays 0 and a tier follows lifetime growth. With the merchant's annual
review, a member keeps a tier for 12 months after reaching it; the review then
places them by the growth earned in the last 12 months and sets the base to the
rest, so later upgrades count only growth since that window began.

Tiers only go up with growth; a refund's clawback never lowers one (the next
review does). Qualifying growth never goes below zero: growth clawed back by a
refund leaves the base when the sale was made before the last review's window
(its growth had been moved into the base), and otherwise leaves qualifying growth
first and the base for whatever qualifying growth cannot cover (`after_clawback`). Upgrades pin the member row
they were computed from (growth, base,
tier): a concurrent change cancels the transaction with CONCURRENT_UPDATE and
the caller computes again, so a threshold crossed by two concurrent postings is
never missed.
"""

from __future__ import annotations

import calendar
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple, TypeVar

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from mini_program_api.db.models import Member, Merchant, Tier
from mini_program_api.platform.errors import KabaoError

REVIEW_JOB = "tier_review"
_ATTEMPTS = 5
T = TypeVar("T")


class Progress(NamedTuple):
    tier: Tier
    next_tier: Tier | None
    growth_to_next: int | None


def ordered(merchant: Merchant) -> list[Tier]:
    return sorted(merchant.tiers, key=lambda t: int(t.threshold))


def entry_tier(merchant: Merchant) -> Tier:
    return ordered(merchant)[0]


def current(merchant: Merchant, tier_id: str | None) -> Tier:
    tiers = ordered(merchant)
    return next((t for t in tiers if t.tier_id == tier_id), tiers[0])


def for_growth(merchant: Merchant, growth: int) -> Tier:
    """The highest tier `growth` reaches; the entry tier below every threshold (any growth value places)."""
    tiers = ordered(merchant)
    return next((t for t in reversed(tiers) if int(t.threshold) <= growth), tiers[0])


def qualifying(member: Member) -> int:
    return max(0, int(member.growth) - int(member.tier_base))


def after_clawback(member: Member, clawed: int, earned_at: datetime) -> list[Action]:
    """Member-row actions that keep the base right when a refund takes back `clawed` growth earned at
    `earned_at` (see the module docstring); none when the base is untouched. Pin the row (`pinned`)."""
    base = int(member.tier_base)
    in_base = member.tier_window_from is not None and earned_at < member.tier_window_from
    off_base = min(base, clawed if in_base else max(0, clawed - qualifying(member)))
    return [Member.tier_base.add(-off_base)] if off_base else []


def progress(merchant: Merchant, member: Member) -> Progress:
    tier = current(merchant, member.tier_id)
    above = [t for t in ordered(merchant) if int(t.threshold) > int(tier.threshold)]
    if not above:
        return Progress(tier, None, None)
    return Progress(tier, above[0], max(0, int(above[0].threshold) - qualifying(member)))


def add_months(at: datetime, months: int) -> datetime:
    month0 = at.month - 1 + months
    year, month = at.year + month0 // 12, month0 % 12 + 1
    return at.replace(year=year, month=month, day=min(at.day, calendar.monthrange(year, month)[1]))


def pinned(member: Member) -> Condition:
    """The member row as read: growth, base and tier unchanged."""
    tier = Member.tier_id == member.tier_id if member.tier_id else Member.tier_id.does_not_exist()
    base = Member.tier_base == int(member.tier_base)
    if not member.tier_base:
        base |= Member.tier_base.does_not_exist()  # rows written before tiers had a base
    return (Member.growth == int(member.growth)) & base & tier


def placed(merchant: Merchant, member: Member, delta: int) -> Tier:
    """The member's tier once `delta` growth is added: growth only ever raises a tier."""
    tier = current(merchant, member.tier_id)
    reached = for_growth(merchant, qualifying(member) + delta)
    return reached if int(reached.threshold) > int(tier.threshold) else tier


def retrying(attempt: Callable[[], T]) -> T:
    """Run an optimistic attempt again (with jitter) while the member row keeps changing under it."""
    for n in range(_ATTEMPTS - 1):
        try:
            return attempt()
        except KabaoError as exc:
            if exc.code != "CONCURRENT_UPDATE":
                raise
        time.sleep(random.uniform(0, 0.02 * 2**n))
    return attempt()
