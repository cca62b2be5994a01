"""WeChat credentials every container shares (wechat/tokens.py).

A family of the table's models (see `models.py`): a module apart, so that a request builds only the model classes
it uses. Keys are documented in `schema.py`.
"""

from __future__ import annotations

from pynamodb.attributes import TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute

from mini_program_api.db.models import Item
from mini_program_api.db.schema import TTL_ATTRIBUTE


class SharedToken(Item):
    """A WeChat credential every container shares (wechat/tokens.py): the value and when it expires;
    under sk LEASE, which container is refreshing it and until when."""

    value = UnicodeAttribute()
    expires_at = UTCDateTimeAttribute()
    expires_ttl = TTLAttribute(null=True, attr_name=TTL_ATTRIBUTE)
