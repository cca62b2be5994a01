"""The wallet's items in the single table (keys in db/schema.py's docstring)."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute

from mini_program_api.db.models import DueIndex, Item, Scheduled, lookup_pk, merchant_pk
from mini_program_api.db.schema import TTL_ATTRIBUTE

CARD_SK = "WALLET#CARD"
MEMBER_SK = "WALLET"
SYNC_JOB = "wallet"


class WalletCard(Item):
    """A merchant's member card in WeChat (pk MCH#{mid}, sk WALLET#CARD): the official account that owns
    it (secrets by reference), its look and rules, and what WeChat knows of it (card_id, review state).

    `version` counts admin changes (each pinned to it, audited); `pushed_version` is the change WeChat
    has (card/create or card/update succeeded for it), so a failed push is retried and never forgotten."""

    merchant_id = UnicodeAttribute()
    oa_appid = UnicodeAttribute()
    oa_secret_ref = UnicodeAttribute()
    event_token_ref = UnicodeAttribute()
    aes_key_ref = UnicodeAttribute(null=True)  # EncodingAESKey: set, WeChat's pushes are encrypted
    brand_name = UnicodeAttribute()
    title = UnicodeAttribute()
    logo_url = UnicodeAttribute()
    color = UnicodeAttribute()  # one of WeChat's colour names, Color010 ...
    background_pic_url = UnicodeAttribute(null=True)
    prerogative = UnicodeAttribute()
    notice = UnicodeAttribute()
    description = UnicodeAttribute()
    service_phone = UnicodeAttribute(null=True)
    show_points = BooleanAttribute(default=True)
    show_balance = BooleanAttribute(default=True)
    show_tier = BooleanAttribute(default=True)
    card_id = UnicodeAttribute(null=True)
    review = UnicodeAttribute(default="NOT_CREATED")  # NOT_CREATED | PENDING | APPROVED | REJECTED
    review_reason = UnicodeAttribute(null=True)
    # Review results received (card_pass_check / card_not_pass_check): a push marks the card PENDING only if
    # none arrived since it read the card, as WeChat may review the change before card/update has answered.
    reviews = NumberAttribute(default=0)
    push_error = UnicodeAttribute(null=True)
    # WeChat's one-click activation component parameters (card/membercard/activate/geturl): they depend on
    # the card only, so they are fetched once per push, not once per member who opens the mini program.
    activation_extra = UnicodeAttribute(null=True)  # JSON object
    version = NumberAttribute(default=0)
    pushed_version = NumberAttribute(default=0)
    updated_at = UTCDateTimeAttribute()


class MemberWallet(Item, Scheduled):
    """A member's WeChat card and its sync state (pk member's, sk WALLET); see outbox.py and sync.py.

    One item per member is the outbox: each change ADDs 1 to `version` and puts it on the sync job's list,
    so a burst coalesces into one push of the values current when it is sent. `pushed` is the highest
    version WeChat has been sent (only ever raised); a lease (`lease_holder`, `lease_until`) lets one
    consumer at a time push for the member, so pushes are never sent older-after-newer."""

    due = DueIndex()
    merchant_id = UnicodeAttribute(null=True)
    member_id = UnicodeAttribute(null=True)
    version = NumberAttribute(default=0)
    pushed = NumberAttribute(null=True)
    record_bonus = UnicodeAttribute(null=True)  # what the last change was, for WeChat's change notice
    record_balance = UnicodeAttribute(null=True)
    code = UnicodeAttribute(null=True)  # the WeChat card code; None: not in the member's wallet
    card_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)  # ACTIVE | DELETED
    activated_at = UTCDateTimeAttribute(null=True)
    deleted_at = UTCDateTimeAttribute(null=True)
    lease_holder = UnicodeAttribute(null=True)
    lease_until = UTCDateTimeAttribute(null=True)
    pushed_at = UTCDateTimeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)


class WalletEvent(Item):
    """One WeChat event push received (pk MCH#{mid}#WXEVENT#{hash of FromUserName, CreateTime, Event}):
    written with attribute_not_exists, so a redelivery is answered but not handled twice."""

    event = UnicodeAttribute()
    received_at = UTCDateTimeAttribute()
    expires_ttl = TTLAttribute(null=True, attr_name=TTL_ATTRIBUTE)


def card_key(merchant_id: str) -> tuple[str, str]:
    return merchant_pk(merchant_id), CARD_SK


def code_pk(merchant_id: str, code: str) -> str:
    """The WeChat card code -> member lookup (a db.models.Lookup)."""
    return lookup_pk(merchant_id, "WXCODE", code)


def event_pk(merchant_id: str, digest: str) -> str:
    return f"MCH#{merchant_id}#WXEVENT#{digest}"
