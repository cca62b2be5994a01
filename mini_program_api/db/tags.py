"""A merchant's own tags and the members carrying them (member_care/tags.py).

A family of the table's models (see `models.py`): a module apart, so that a request builds only the model classes
it uses. Keys are documented in `schema.py`.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from mini_program_api.db.models import Item


class TagDef(Item):
    """One of the merchant's own tags (member_care/tags.py): its name and how many members carry it, the count
    moved in each tagging's own transaction."""

    tag_id = UnicodeAttribute()
    name = UnicodeAttribute()
    members = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()


class Tagged(Item):
    """A member carrying a tag, in the tag's partition: the tag's members are one paged Query."""

    member_id = UnicodeAttribute()
    at = UTCDateTimeAttribute()


def tags_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#TAG"


def tagged_pk(merchant_id: str, tag_id: str) -> str:
    return f"MCH#{merchant_id}#TAGGED#{tag_id}"
