"""The webhooks' items in the single table (keys in db/schema.py's docstring).

Five kinds, each in its own partition so each list is one Query:
- `WebhookEndpoint` (pk MCH#{mid}#WHEP, sk {endpoint_id}): where and what to send, the secret encrypted;
- `WebhookEvent` (pk MCH#{mid}#WHEV#{member_id}, sk {time}#{event_id}): the outbox, put in the event's own
  transaction, on the `webhook_events` due list until the job fans it out (then deleted);
- `WebhookSend` (pk MCH#{mid}#WHQ#{endpoint_id}#{member_id}, sk {time}#{event_id}): one endpoint's queue for
  one member, on the `webhook_sends` due list; only its first item is ever sent (order per member);
- `WebhookSent` (pk MCH#{mid}#WHSENT#{endpoint_id}, sk {event_id}): what left the queue, delivered or
  dead-lettered, with its body for a manual redeliver (kept 30 days);
- `WebhookAttempt` (pk MCH#{mid}#WHLOG#{endpoint_id}, sk {delivery_id}): the delivery log, one per attempt.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)

from mini_program_api.db.models import DueIndex, Item, Scheduled
from mini_program_api.db.schema import TTL_ATTRIBUTE

EVENTS_JOB = "webhook_events"
SENDS_JOB = "webhook_sends"
TEST_MEMBER = "_test"  # the queue a test event goes through: no member's order waits on it


class WebhookEndpoint(Item):
    merchant_id = UnicodeAttribute()
    endpoint_id = UnicodeAttribute()
    url = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    events = ListAttribute(of=UnicodeAttribute, default=list)
    enabled = BooleanAttribute(default=True)
    secret_enc = UnicodeAttribute()  # Fernet under a key derived from the PII master key (platform/pii.py)
    secret_hint = UnicodeAttribute()  # `whsec_` and its first 4 characters: which secret, never the secret
    # The secret a rotation replaced, still signing beside the new one until `previous_until` (endpoints.py).
    previous_secret_enc = UnicodeAttribute(null=True)
    previous_until = UTCDateTimeAttribute(null=True)
    version = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class WebhookEvent(Item, Scheduled):
    due = DueIndex()
    merchant_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    event_id = UnicodeAttribute()
    type = UnicodeAttribute()
    payload = UnicodeAttribute()  # the body every attempt sends, byte for byte (it is what is signed)
    created_at = UTCDateTimeAttribute()


class WebhookSend(Item, Scheduled):
    due = DueIndex()
    merchant_id = UnicodeAttribute()
    endpoint_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    event_id = UnicodeAttribute()
    type = UnicodeAttribute()
    payload = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    first_attempt_at = UTCDateTimeAttribute(null=True)
    lease_until = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()


class WebhookSent(Item):
    merchant_id = UnicodeAttribute()
    endpoint_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    event_id = UnicodeAttribute()
    type = UnicodeAttribute()
    payload = UnicodeAttribute()
    status = UnicodeAttribute()  # DELIVERED | DEAD
    at = UTCDateTimeAttribute()
    expires_ttl = TTLAttribute(null=True, attr_name=TTL_ATTRIBUTE)


class WebhookAttempt(Item):
    delivery_id = UnicodeAttribute()
    endpoint_id = UnicodeAttribute()
    event_id = UnicodeAttribute()
    type = UnicodeAttribute()
    member_id = UnicodeAttribute()
    status = UnicodeAttribute()  # DELIVERED | FAILED | DEAD
    response_code = NumberAttribute(null=True)
    latency_ms = NumberAttribute()
    attempt = NumberAttribute()
    error = UnicodeAttribute(null=True)
    at = UTCDateTimeAttribute()
    expires_ttl = TTLAttribute(null=True, attr_name=TTL_ATTRIBUTE)


def endpoints_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#WHEP"


def events_pk(merchant_id: str, member_id: str) -> str:
    return f"MCH#{merchant_id}#WHEV#{member_id}"


def queue_pk(merchant_id: str, endpoint_id: str, member_id: str) -> str:
    return f"MCH#{merchant_id}#WHQ#{endpoint_id}#{member_id}"


def sent_pk(merchant_id: str, endpoint_id: str) -> str:
    return f"MCH#{merchant_id}#WHSENT#{endpoint_id}"


def log_pk(merchant_id: str, endpoint_id: str) -> str:
    return f"MCH#{merchant_id}#WHLOG#{endpoint_id}"
