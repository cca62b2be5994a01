"""A member's place on a scheduled job's list (jobs/due.py).

A family of the table's models (see `models.py`): a module apart, so that a request builds only the model classes
it uses. Keys are documented in `schema.py`.
"""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute

from mini_program_api.db.models import DueIndex, Item, Scheduled


class DueMarker(Item, Scheduled):
    """A member's place on one scheduled job's list (sk `DUE#{job}`); see jobs/due.py."""

    due = DueIndex()
    merchant_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
