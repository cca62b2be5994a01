"""Members under their normalized names, for the console's search (members/names.py).

A family of the table's models (see `models.py`): a module apart, so that a request builds only the model classes
it uses. Keys are documented in `schema.py`.
"""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute

from mini_program_api.db.models import Item


class NameEntry(Item):
    """A member under their normalized name (member_care/names.py), in the partition of its first character."""

    member_id = UnicodeAttribute()


def names_pk(merchant_id: str, first: str) -> str:
    return f"MCH#{merchant_id}#NAME#{first}"
