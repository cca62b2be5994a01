"""A tier upgrade in the transaction that earns it: the member-row actions pinned to the row they were computed
from, the annual review's date when reviews are on, and the TIER_CHANGED event (see members/tiers.py).

Apart from tiers.py, which places and shows: a member's view reads tiers on every call, and only what earns
growth (a checkout, a sign-in, an adjustment) writes the review's due date and the event beside it.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from mini_program_api.db.models import Member, Merchant, Tier
from mini_program_api.db.transact import Transaction
from mini_program_api.jobs import due
from mini_program_api.members import tiers
from mini_program_api.webhooks import events, outbox


class Placement(NamedTuple):  # not a dataclass: see docs/design.md (a sale's records on a cold start)
    tier: Tier
    upgraded: bool
    actions: list[Action]  # no default: a NamedTuple's would be one list shared by every placement
    condition: Condition | None = None


def after_growth(tx: Transaction, merchant: Merchant, member: Member, delta: int, now: datetime) -> Placement:
    """The tier after adding `delta` growth, with the member-row actions and condition that apply it
    in `tx` (and, with reviews on, the review 12 months after an upgrade)."""
    tier = tiers.current(merchant, member.tier_id)
    reached = tiers.placed(merchant, member, delta)
    if reached is tier:
        return Placement(tier, False, [], tiers.pinned(member))
    if merchant.tier_review:
        due.mark(tx, member.merchant_id, member.member_id, tiers.REVIEW_JOB, tiers.add_months(now, 12))
    outbox.add(tx, merchant, member.member_id, events.TIER_CHANGED, events.tier_changed(member, reached, "GROWTH"))
    return Placement(
        reached, True, [Member.tier_id.set(reached.tier_id), Member.tier_reached_at.set(now)], tiers.pinned(member)
    )
