"""Members' RFM segments (reports/rfm.py scores them; an issue job can target one).

A family of the table's models (see `models.py`): a module apart, so that a request builds only the model classes
it uses. Keys are documented in `schema.py`.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from mini_program_api.db.models import Item, RosterIndex

# The eight RFM segments. reports/rfm.py scores members into them; an issue job (coupons/issue_jobs.py) can target
# one. Here, below both capabilities, since neither may import the other (.importlinter).
RFM_SEGMENTS = ("重要价值", "重要保持", "重要发展", "重要挽留", "一般价值", "一般保持", "一般发展", "一般挽留")


def segment_pk(merchant_id: str, segment: str) -> str:
    """The roster index's partition of one segment's members."""
    return f"SEG#{merchant_id}#{segment}"


class Segment(Item):
    """A member's place in a segment (sk SEGMENT, their partition); the roster index lists it by segment."""

    roster = RosterIndex()
    roster_pk = UnicodeAttribute()
    roster_sk = UnicodeAttribute()
    member_id = UnicodeAttribute()
    segment = UnicodeAttribute()
    r = NumberAttribute()
    f = NumberAttribute()
    m = NumberAttribute()
    recency_days = NumberAttribute()
    frequency = NumberAttribute()
    monetary = NumberAttribute()
    scored_at = UTCDateTimeAttribute()
