"""Items of the reports: counter rows, the liability check's state and snapshot, RFM state.

Keys are in db/schema.py's table. Counter rows carry one numeric attribute per measure, named at run
time (`claims_{template_id}`, `p_points_SIGN_IN`), so they are read raw, not through model attributes.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)

from mini_program_api.db.models import Item
from mini_program_api.db.schema import TTL_ATTRIBUTE


class ReportCounter(Item):
    """A counter row: `pk` = MCH#{mid}#RPT#{shard}, `sk` = D#{day}#{dimension} or TOTAL."""


class LiabilityCheck(Item):
    """The liability check's progress and last result, one per merchant: resumable across invocations."""

    status = UnicodeAttribute()  # RUNNING | MATCH | MISMATCH | INCONCLUSIVE
    shard = NumberAttribute(default=0)
    cursor = UnicodeAttribute(null=True)
    sums: MapAttribute[str, Any] = MapAttribute(default=dict)  # principal, bonus, points, members summed so far
    tiers: MapAttribute[str, Any] = MapAttribute(default=dict)  # tier id -> members
    active = NumberAttribute(default=0)
    dormant = NumberAttribute(default=0)
    totals_at_start: MapAttribute[str, Any] = MapAttribute(default=dict)
    expected: MapAttribute[str, Any] = MapAttribute(default=dict)
    started_at = UTCDateTimeAttribute()
    finished_at = UTCDateTimeAttribute(null=True)


class Seen(Item):
    """What a listing of offers remembers in the member's own partition (reports/counters.py `exposure`): at
    `SEEN#{day}` the templates shown to the member on that merchant-local day (so each counts the person once),
    and at a listing key's `OP#offers:{key}` that the listing was counted. Both expire (TTL)."""

    templates = UnicodeSetAttribute(null=True)
    expires_ttl = TTLAttribute(null=True, attr_name=TTL_ATTRIBUTE)
