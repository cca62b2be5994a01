"""PynamoDB models over the single table; keys are documented in `schema.py`.

Here: the base `Item`, the one connection, the indexes and mixins several families share, and what nearly every
request reads (the merchant with its maps, lookups, the member). Every other family is a module of its own beside
this one (`ledger.py`, `orders.py`, `coupons.py`, `staff.py`, ...), imported by name where it is used: PynamoDB's
metaclass inspects each class as it is made (about 0.1-0.3 ms a class), so a cold request builds only the classes
of the families it loads (tests/unit/test_model_families.py).

Meta values come from the environment at import, as a Lambda container has it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.connection.table import TableConnection
from pynamodb.indexes import (
    AllProjection,
    GlobalSecondaryIndex,
    IncludeProjection,
    KeysOnlyProjection,
    LocalSecondaryIndex,
)
from pynamodb.models import Model

from mini_program_api.db.schema import (
    CARDHOLDER_INDEX,
    CARDHOLDER_SHARDS,
    DUE_INDEX,
    LEDGER_INDEX,
    ROSTER_ATTRIBUTES,
    ROSTER_INDEX,
    TTL_ATTRIBUTE,
    shard_of,
)
from mini_program_api.platform.config import settings
from mini_program_api.platform.errors import KabaoError

PROFILE = "PROFILE"
LOOKUP = "LOOKUP"


class _Meta:
    table_name = settings().table_name
    region = settings().region
    host = settings().dynamodb_endpoint
    connect_timeout_seconds = 2
    read_timeout_seconds = 5
    max_retry_attempts = 3
    max_pool_connections = 32  # one client serves every thread of a local server (a Lambda uses one)


_shared: list[Connection] = []
_shared_lock = threading.Lock()


def connection() -> Connection:
    """The one connection, and so the one botocore client, of every model and transaction in the process.

    Left alone, PynamoDB gives each model class its own client, built on the class's first call with
    its own botocore session, which loads the DynamoDB service model from disk again: tens of ms per
    model class on a cold container's first requests, and seconds when the threads of a local server
    meet an unbuilt client together and each builds one. Built once, under a lock."""
    if not _shared:
        with _shared_lock:
            if not _shared:
                shared = Connection(
                    region=_Meta.region,
                    host=_Meta.host,
                    connect_timeout_seconds=_Meta.connect_timeout_seconds,
                    read_timeout_seconds=_Meta.read_timeout_seconds,
                    max_retry_attempts=_Meta.max_retry_attempts,
                    max_pool_connections=_Meta.max_pool_connections,
                )
                shared.client  # noqa: B018 -- built here, once
                _shared.append(shared)
    return _shared[0]


class Item(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)

    @classmethod
    def _get_connection(cls) -> TableConnection:
        table = super()._get_connection()
        table.connection._client = connection().client  # see connection()
        return table


BATCH_ATTEMPTS = 8  # BatchGetItem calls for one `get_together` while DynamoDB leaves keys unprocessed
ItemKey = tuple[type[Item], str, str]  # (model class, pk, sk): one item a request wants
Known = Mapping[tuple[str, str], Item | None]  # items a request has read already, by (pk, sk)


def get_together(wanted: Sequence[ItemKey], known: Known | None = None) -> list[Item | None]:
    """The items at these keys (model class, pk, sk), each as its model or None where there is none, read in one
    consistent BatchGetItem: one round trip where a request knows several keys up front, instead of one GetItem
    each. Consistent as a `consistent_read=True` GetItem is (per item, not across them: use it only where each
    item's own latest state is what counts). At most 100 keys; keys DynamoDB leaves unprocessed are asked again,
    as PynamoDB's own `batch_get` does, after a pause that grows (AWS's advice for a throttled batch), at most
    `BATCH_ATTEMPTS` times in all (about 4.5 s of pauses): then the request answers 503 DATABASE_UNAVAILABLE, as a
    read botocore gave up on does, rather than spend its Lambda's time.
    `known`: what this request already read of them in its first round trip, with the caller's session
    (routes/endpoint.py's `reads`); those keys are not read again."""
    known = known or {}
    # A model's own connection (its keys are given typed, so its schema is not consulted): `Item`'s would be
    # cached on the base class, where every model without one of its own would find it, and its indexes missing.
    table = wanted[0][0]._get_connection()
    keys: list[Any] = [
        {"pk": {"S": pk}, "sk": {"S": sk}} for _, pk, sk in dict.fromkeys(wanted) if (pk, sk) not in known
    ]
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for attempt in itertools.count():
        if not keys:
            break
        if attempt == BATCH_ATTEMPTS:
            raise KabaoError("DATABASE_UNAVAILABLE", "the database did not answer, retry later")
        if attempt:  # DynamoDB left keys unprocessed (throttled): ask again after a growing pause, not at once
            time.sleep(min(0.05 * 2**attempt, 1.0))
        answer = table.batch_get_item(keys, consistent_read=True)
        for raw in answer.get("Responses", {}).get(table.table_name, []):
            found[(raw["pk"]["S"], raw["sk"]["S"])] = raw
        keys = answer.get("UnprocessedKeys", {}).get(table.table_name, {}).get("Keys", [])
    return [
        known[(pk, sk)] if (pk, sk) in known else model.from_raw_data(found[(pk, sk)]) if (pk, sk) in found else None
        for model, pk, sk in wanted
    ]


def merchant_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}"


def member_pk(merchant_id: str, member_id: str) -> str:
    return f"MCH#{merchant_id}#MEM#{member_id}"


def lookup_pk(merchant_id: str, kind: str, value: str) -> str:
    return f"MCH#{merchant_id}#{kind}#{value}"


class RosterIndex(GlobalSecondaryIndex):
    """A merchant's members, and members per RFM segment (see schema.py): the reports' jobs page it."""

    class Meta:
        index_name = ROSTER_INDEX
        projection = IncludeProjection(ROSTER_ATTRIBUTES)

    roster_pk = UnicodeAttribute(hash_key=True)
    roster_sk = UnicodeAttribute(range_key=True)


class Tier(MapAttribute):
    tier_id = UnicodeAttribute()
    name = UnicodeAttribute()
    threshold = NumberAttribute()
    discount_rate = NumberAttribute(default=100)  # percent paid at checkout: 95 is 九五折
    points_multiplier = NumberAttribute(default=100)  # percent: 150 earns 1.5x points
    birthday_template_id = UnicodeAttribute(null=True)
    monthly_template_ids = ListAttribute(of=UnicodeAttribute, default=list)


class TopupPlan(MapAttribute):
    plan_id = UnicodeAttribute()
    amount = NumberAttribute()
    bonus = NumberAttribute()


class MemberDay(MapAttribute):
    """A member day (会员日): points earned at checkout times `multiplier` percent on its days, in the
    merchant's time zone, for its tiers (none listed: every tier), between `starts_on` and `ends_on`."""

    day_id = UnicodeAttribute()
    name = UnicodeAttribute()
    multiplier = NumberAttribute()  # percent: 200 is double points
    weekdays = ListAttribute(of=NumberAttribute, default=list)  # ISO: 1 Monday .. 7 Sunday
    dates = ListAttribute(of=UnicodeAttribute, default=list)  # YYYY-MM-DD
    tier_ids = ListAttribute(of=UnicodeAttribute, default=list)
    starts_on = UnicodeAttribute(null=True)  # YYYY-MM-DD, first day it applies
    ends_on = UnicodeAttribute(null=True)  # YYYY-MM-DD, last day it applies


class PaySettings(MapAttribute):
    """A merchant's WeChat Pay APIv3 set-up; keys are secret references, never values."""

    mchid = UnicodeAttribute()
    cert_serial_no = UnicodeAttribute()
    private_key_ref = UnicodeAttribute()
    apiv3_key_ref = UnicodeAttribute()
    public_key_ref = UnicodeAttribute(null=True)
    public_key_id = UnicodeAttribute(null=True)


class Merchant(Item):
    roster = RosterIndex()  # every merchant is on partition MERCHANTS: the nightly report jobs walk it
    roster_pk = UnicodeAttribute(null=True)
    roster_sk = UnicodeAttribute(null=True)
    merchant_id = UnicodeAttribute()
    name = UnicodeAttribute()
    appid = UnicodeAttribute()
    app_secret_ref = UnicodeAttribute()
    timezone = UnicodeAttribute(default="Asia/Shanghai")
    terms_version = UnicodeAttribute(default="1")
    sign_in_points = NumberAttribute(default=10)
    sign_in_growth = NumberAttribute(default=5)
    prepaid_cap = NumberAttribute(default=500000)
    tiers = ListAttribute(of=Tier, default=list)
    topup_plans = ListAttribute(of=TopupPlan, default=list)
    topup_min = NumberAttribute(default=100)
    topup_max = NumberAttribute(default=500000)
    pay = PaySettings(null=True)
    # Checkout: what a point is worth when paying, and what a yuan actually paid earns.
    points_per_yuan = NumberAttribute(default=100)
    earn_points_per_yuan = NumberAttribute(default=1)
    growth_per_yuan = NumberAttribute(default=1)
    # Life cycle (see members/lifecycle.py): points expiry NONE | ROLLING | YEAR_END, tier review, gifts.
    points_expiry = UnicodeAttribute(default="NONE")
    points_expiry_days = NumberAttribute(default=365)
    tier_review = BooleanAttribute(default=False)
    referral_points = NumberAttribute(default=0)
    referral_monthly_cap = NumberAttribute(default=10)
    birthday_on = UnicodeAttribute(default="MONTH")  # MONTH | DAY
    dormant_days = NumberAttribute(default=90)
    wakeup_cooldown_days = NumberAttribute(default=60)
    wakeup_template_id = UnicodeAttribute(null=True)
    # notice kind -> subscribe-message template id
    message_templates: MapAttribute[str, str] = MapAttribute(default=dict)
    # Spending password (till/spending_password.py): required of every member, or only of those who set one;
    # the most a member may let go without one per payment (fen); whether a till may take it typed in.
    spending_password_required = BooleanAttribute(default=False)
    password_free_max = NumberAttribute(default=20000)
    till_password = BooleanAttribute(default=False)
    # Welcome gift (members/welcome_gift.py): given once, in the card opening's transaction.
    welcome_points = NumberAttribute(default=0)
    # Whether staff at the till may freeze a member's balances (admins always may): member_care/freeze.py.
    staff_may_freeze = BooleanAttribute(default=False)
    welcome_template_ids = ListAttribute(of=UnicodeAttribute, default=list)
    member_days = ListAttribute(of=MemberDay, default=list)  # merchants/member_days.py
    # Webhook endpoints registered (webhooks/endpoints.py): 0 spares every event its outbox write (webhooks/outbox.py).
    webhook_endpoints = NumberAttribute(default=0)
    version = NumberAttribute(default=0)  # bumped by each audited admin change (merchants/changes.py)
    created_at = UTCDateTimeAttribute()


class Lookup(Item):
    """A claimed unique value (appid, openid, phone, card number, member code) -> its owner."""

    target = UnicodeAttribute()
    expires_at = UTCDateTimeAttribute(null=True)
    expires_ttl = TTLAttribute(null=True, attr_name=TTL_ATTRIBUTE)


class CardholderIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = CARDHOLDER_INDEX
        projection = KeysOnlyProjection()

    cards_pk = UnicodeAttribute(hash_key=True)
    cards_sk = UnicodeAttribute(range_key=True)


class Member(Item):
    cardholders = CardholderIndex()
    # Set when the card opens (members.open_card): the member's place on the merchant's cardholder index.
    cards_pk = UnicodeAttribute(null=True)
    cards_sk = UnicodeAttribute(null=True)
    roster = RosterIndex()
    roster_pk = UnicodeAttribute(null=True)
    roster_sk = UnicodeAttribute(null=True)
    rfm: MapAttribute[str, Any] = MapAttribute(null=True)  # see reports/rfm.py
    merchant_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    openid = UnicodeAttribute(null=True)  # None only for a member imported (member_import/) and not yet logged in
    phone_enc = UnicodeAttribute(null=True)
    phone_hash = UnicodeAttribute(null=True)
    # pii.mask_phone of the number, written and removed in the same write as `phone_enc`: a view shows it without
    # the key or cryptography (a cold container's first request). Rows bound before it have none (pii.shown_phone).
    phone_masked = UnicodeAttribute(null=True)
    card_number = UnicodeAttribute(null=True)
    card_opened_at = UTCDateTimeAttribute(null=True)
    terms_version = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    birthday = UnicodeAttribute(null=True)
    tier_id = UnicodeAttribute(null=True)
    invited_by = UnicodeAttribute(null=True)
    invite_code = UnicodeAttribute(null=True)
    scene = UnicodeAttribute(null=True)
    tier_reached_at = UTCDateTimeAttribute(null=True)
    # Growth that no longer counts toward tiers after an annual review (see members/tiers.py).
    tier_base = NumberAttribute(default=0)
    # Start of the last review's 12-month window: growth earned before it is in `tier_base`.
    tier_window_from = UTCDateTimeAttribute(null=True)
    last_spend_at = UTCDateTimeAttribute(null=True)
    points = NumberAttribute(default=0)
    principal = NumberAttribute(default=0)
    bonus = NumberAttribute(default=0)
    growth = NumberAttribute(default=0)
    # Principal promised by unpaid top-up orders: the prepaid cap counts it (see topup/orders.py).
    pending_topup = NumberAttribute(default=0)
    # Frozen (member_care/freeze.py): while `frozen_at` is set nothing spends points or stored value
    # (money/frozen.py puts that condition in every spending transaction).
    frozen_at = UTCDateTimeAttribute(null=True)
    frozen_reason = UnicodeAttribute(null=True)
    frozen_by = UnicodeAttribute(null=True)
    # The merchant's tags on this member, by id (member_care/tags.py): a rename never rewrites members.
    tag_ids = UnicodeSetAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    # Set: the member's personal data was erased on their request (data_rights/erasure.py). The row stays, under
    # its random id, for the ledger and reports; no credit reaches it and its tokens are refused.
    erased_at = UTCDateTimeAttribute(null=True)
    erasure: MapAttribute[str, Any] = MapAttribute(null=True)  # what the erasure forfeited, for its retries
    # From a member import (member_import/): the import that created the member, the merchant's own id for them
    # in its old system and the day they joined there (the file's tags are tags: `tag_ids`).
    imported_by = UnicodeAttribute(null=True)
    external_id = UnicodeAttribute(null=True)
    joined_on = UnicodeAttribute(null=True)
    # Imported points with an expiry date of their own, until that date passes (members/lifecycle.py): import id ->
    # {points, expires_at, credited_at, points_before}, written in the import's transaction.
    point_lots: MapAttribute[str, Any] = MapAttribute(null=True)
    # A first login's empty member whose phone found an imported card: the login moved to that member.
    claimed = UnicodeAttribute(null=True)


class LedgerByTime(LocalSecondaryIndex):
    class Meta:
        index_name = LEDGER_INDEX
        projection = AllProjection()

    pk = UnicodeAttribute(hash_key=True)
    lsi1 = UnicodeAttribute(range_key=True)


class Scheduled:
    """What an item a scheduled job owes work carries (see jobs/due.py): its place on the job's list, and
    while the job keeps failing on it, when the work first fell due and how often it failed (backoff)."""

    due_pk = UnicodeAttribute(null=True)
    due_sk = UnicodeAttribute(null=True)
    due_since = UnicodeAttribute(null=True)
    due_attempts = NumberAttribute(null=True)
    due_error = UnicodeAttribute(null=True)


class DueIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = DUE_INDEX
        projection = KeysOnlyProjection()

    due_pk = UnicodeAttribute(hash_key=True)
    due_sk = UnicodeAttribute(range_key=True)


def cardholders_pk(merchant_id: str, member_id: str) -> str:
    """The member's partition of the merchant's `cardholders` index: one of `CARDHOLDER_SHARDS`, from the id,
    so a member stays in one (members/cardholders.py walks them)."""
    return f"MCH#{merchant_id}#CARDHOLDERS#{shard_of(member_id, CARDHOLDER_SHARDS)}"


def cardholder_partitions(merchant_id: str) -> list[str]:
    """Every partition of the merchant's cardholders, in walking order: the one from before the index was
    sharded (`MCH#{mid}#CARDHOLDERS`, still read, no longer written), then the shards."""
    legacy = f"MCH#{merchant_id}#CARDHOLDERS"
    return [legacy, *(f"{legacy}#{n}" for n in range(CARDHOLDER_SHARDS))]
