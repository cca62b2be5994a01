"""What a member agreed to and the subscribe messages owed to them (members/consents.py, members/notices.py).

A family of the table's models (see `models.py`): a module apart, so that a request builds only the model classes
it uses. Keys are documented in `schema.py`.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from mini_program_api.db.models import Item


class Notice(Item):
    """One subscribe message owed to a member (sk `NOTICE#{key}`): claimed once, sent at most once."""

    status = UnicodeAttribute()  # SENDING | SENT | FAILED | NO_GRANT
    kind = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    last_error = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()


class Consent(Item):
    """One agreement the member gave (sk `CONSENT#{time}#{rand}`): the membership terms' version, or a
    subscribe-message template accepted or refused. Every one is kept, never overwritten (members/consents.py)."""

    kind = UnicodeAttribute()  # TERMS | SUBSCRIBE
    terms_version = UnicodeAttribute(null=True)
    template_id = UnicodeAttribute(null=True)
    decision = UnicodeAttribute()  # AGREE (terms); ACCEPT | REJECT | BAN | FILTER, as wx.requestSubscribeMessage says
    at = UTCDateTimeAttribute()
