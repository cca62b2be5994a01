"""PynamoDB models over the single table; keys are documented in `schema.py`.

Meta values come from the environment at import, as a Lambda container has it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
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
    ISSUE_JOB_SHARDS,
    LEDGER_INDEX,
    ROSTER_ATTRIBUTES,
    ROSTER_INDEX,
    TTL_ATTRIBUTE,
    shard_of,
)
from mini_program_api.platform.config import settings

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


def get_together(wanted: Sequence[tuple[type[Item], str, str]]) -> list[Item | None]:
    """The items at these keys (model class, pk, sk), each as its model or None where there is none, read in one
    consistent BatchGetItem: one round trip where a request knows several keys up front, instead of one GetItem
    each. Consistent as a `consistent_read=True` GetItem is (per item, not across them: use it only where each
    item's own latest state is what counts). At most 100 keys; keys DynamoDB leaves unprocessed are asked again,
    as PynamoDB's own `batch_get` does, after a pause that grows (AWS's advice for a throttled batch), within the
    Lambda's time as any throttled call is."""
    # A model's own connection (its keys are given typed, so its schema is not consulted): `Item`'s would be
    # cached on the base class, where every model without one of its own would find it, and its indexes missing.
    table = wanted[0][0]._get_connection()
    keys: list[Any] = [{"pk": {"S": pk}, "sk": {"S": sk}} for _, pk, sk in dict.fromkeys(wanted)]  # key maps
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for attempt in itertools.count():
        if attempt:  # DynamoDB left keys unprocessed (throttled): ask again after a growing pause, not at once
            time.sleep(min(0.05 * 2**attempt, 1.0))
        answer = table.batch_get_item(keys, consistent_read=True)
        for raw in answer.get("Responses", {}).get(table.table_name, []):
            found[(raw["pk"]["S"], raw["sk"]["S"])] = raw
        keys = answer.get("UnprocessedKeys", {}).get(table.table_name, {}).get("Keys", [])
        if not keys:
            break
    return [model.from_raw_data(found[(pk, sk)]) if (pk, sk) in found else None for model, pk, sk in wanted]


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


class LedgerEntry(Item):
    """Immutable: written once, with `attribute_not_exists`, never updated or deleted."""

    lsi1 = UnicodeAttribute()
    by_time = LedgerByTime()
    op_key = UnicodeAttribute()
    account = UnicodeAttribute()
    card_id = UnicodeAttribute(null=True)  # punch-card entries: which card
    amount = NumberAttribute()
    kind = UnicodeAttribute()
    fingerprint = UnicodeAttribute()
    memo: MapAttribute[str, Any] = MapAttribute(default=dict)
    created_at = UTCDateTimeAttribute()


class OperationRecord(Item):
    """One per idempotency key (see money/idempotency.py): what the request was and what it did.

    Written once, with `attribute_not_exists`, in the operation's own transaction."""

    op_key = UnicodeAttribute()
    kind = UnicodeAttribute()
    member_id = UnicodeAttribute()
    fingerprint = UnicodeAttribute()
    member_code = UnicodeAttribute(null=True)  # hash of the member code a staff request named its member by
    amounts: MapAttribute[str, int] = MapAttribute(default=dict)  # ledger account -> amount posted
    result: MapAttribute[str, Any] = MapAttribute(default=dict)  # the ids the operation made or touched
    created_at = UTCDateTimeAttribute()
    # A client's key only: forgotten a week after the operation (money/idempotency.py CLIENT_KEY_RETENTION).
    expires_ttl = TTLAttribute(null=True, attr_name=TTL_ATTRIBUTE)


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


class TopupOrder(Item, Scheduled):
    """A stored-value top-up; its id is the WeChat Pay out_trade_no."""

    due = DueIndex()
    merchant_id = UnicodeAttribute()
    order_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    openid = UnicodeAttribute()
    plan_id = UnicodeAttribute(null=True)
    amount = NumberAttribute()
    bonus = NumberAttribute()
    status = UnicodeAttribute()
    idempotency_key = UnicodeAttribute()
    prepay_id = UnicodeAttribute(null=True)
    transaction_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    paid_at = UTCDateTimeAttribute(null=True)
    closed_at = UTCDateTimeAttribute(null=True)
    refund_attempt = NumberAttribute(default=0)
    refund_amount = NumberAttribute(null=True)
    bonus_clawback = NumberAttribute(null=True)
    refund_requested_by = UnicodeAttribute(null=True)
    refunded_at = UTCDateTimeAttribute(null=True)
    refund_error = UnicodeAttribute(null=True)  # WeChat Pay's code when it refused the refund for good


def topup_pk(merchant_id: str, order_id: str) -> str:
    return f"MCH#{merchant_id}#TOPUP#{order_id}"


class CouponTerms(Item):
    """What a template offers and each of its coupons keeps: copied at claim, so editing a
    template never changes a coupon already in a member's hands."""

    name = UnicodeAttribute()
    kind = UnicodeAttribute()  # FULL_REDUCTION | DISCOUNT | GIFT | CASH
    threshold = NumberAttribute(default=0)
    amount = NumberAttribute(default=0)
    rate = NumberAttribute(null=True)  # percent paid: 85 is 八五折
    max_discount = NumberAttribute(null=True)
    gift_name = UnicodeAttribute(null=True)
    store_ids = ListAttribute(of=UnicodeAttribute, default=list)
    daily_window = ListAttribute(of=UnicodeAttribute, null=True)  # ["HH:MM", "HH:MM"] merchant time


COUPON_TERMS = ("name", "kind", "threshold", "amount", "rate", "max_discount", "gift_name", "store_ids", "daily_window")


class CouponTemplate(CouponTerms):
    """All of a merchant's templates share one partition (listing offers is one Query); stock does not."""

    merchant_id = UnicodeAttribute()
    template_id = UnicodeAttribute()
    valid_from = UTCDateTimeAttribute(null=True)
    valid_until = UTCDateTimeAttribute(null=True)
    days_after_claim = NumberAttribute(null=True)
    total_stock = NumberAttribute()
    shards = NumberAttribute()
    per_member_limit = NumberAttribute()
    tier_ids = ListAttribute(of=UnicodeAttribute, default=list)
    points_price = NumberAttribute(null=True)  # set: a points-mall reward, not a free offer
    listed = BooleanAttribute(default=True)  # False: only given (birthday, wake-up), never offered
    active = BooleanAttribute(default=True)  # False: paused or ended, claims refused (coupons/template_admin.py)
    ended_at = UTCDateTimeAttribute(null=True)  # set: ended for good, off the shelf
    version = NumberAttribute(default=0)  # bumped by each admin change, which is pinned to it
    fingerprint = UnicodeAttribute(null=True)  # of the create request, for its retries (coupons.create_template)
    created_at = UTCDateTimeAttribute()


class StockShard(Item):
    left = NumberAttribute()


class Counter(Item):
    n = NumberAttribute(default=0)


class Coupon(CouponTerms, Scheduled):
    """A claimed coupon in its member's partition, with the template's terms copied at claim time.

    While available it sits on the expiry-reminder job's list (due_pk/due_sk). `lsi1` is its place on
    the member's index by state (coupons.state_key): listing and counting read only the state asked for."""

    due = DueIndex()
    lsi1 = UnicodeAttribute(null=True)
    by_state = LedgerByTime()  # the member partition's LSI, shared with ledger entries by prefix
    coupon_id = UnicodeAttribute()
    template_id = UnicodeAttribute()
    valid_from = UTCDateTimeAttribute()
    valid_until = UTCDateTimeAttribute()
    status = UnicodeAttribute(default="AVAILABLE")  # AVAILABLE | USED; expiry is computed on read
    claimed_at = UTCDateTimeAttribute()
    used_at = UTCDateTimeAttribute(null=True)
    used_ref = UnicodeAttribute(null=True)  # the checkout order or redemption that used it
    used_store_id = UnicodeAttribute(null=True)


def template_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#CTPL"


def shelf_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#SHELF"


def stock_pk(merchant_id: str, template_id: str, shard: int) -> str:
    # One partition key per shard: items sharing a key share its partition's write limit.
    return f"MCH#{merchant_id}#STOCK#{template_id}#{shard}"


class Store(Item):
    merchant_id = UnicodeAttribute()
    store_id = UnicodeAttribute()
    name = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    # Set: closed for good. Kept (ids in templates and orders still name it), off the members' list, no logins.
    closed_at = UTCDateTimeAttribute(null=True)


class StaffAccount(Item):
    """A person at the counter (role staff, bound to a store) or in the back office (role admin)."""

    merchant_id = UnicodeAttribute()
    username = UnicodeAttribute()
    role = UnicodeAttribute()
    store_id = UnicodeAttribute(null=True)
    password_hash = UnicodeAttribute()  # scrypt, see staff/accounts.py
    failed_logins = NumberAttribute(default=0)
    locked_until = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    disabled = BooleanAttribute(default=False)
    # Carried in each session token ("ver") and compared on every call: bumping it ends every session at once.
    token_version = NumberAttribute(default=0)


class SpendingPassword(Item):
    """A member's spending password (消费密码) and their password-free limit, in their partition (sk SPENDPWD).

    Its own item, not the member row: wrong guesses are counted on it without touching the row
    that every sale is pinned to."""

    password_hash = UnicodeAttribute(null=True)  # scrypt (platform/passwords.py); None: the member set none
    free_limit = NumberAttribute(default=0)  # fen per payment without the password; 0: always ask
    failed_attempts = NumberAttribute(default=0)
    locked_until = UTCDateTimeAttribute(null=True)
    changed_at = UTCDateTimeAttribute(null=True)


class PendingPayment(Item):
    """A counter sale waiting for the member to confirm it with their password (till/checkout.py).

    In the member's partition (sk PENDING#{confirmation_id}); its id comes from the till's
    Idempotency-Key, so a retry of the sale finds it rather than making another."""

    merchant_id = UnicodeAttribute()
    confirmation_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    store_id = UnicodeAttribute()
    staff_id = UnicodeAttribute()
    op_key = UnicodeAttribute()
    order_id = UnicodeAttribute()
    fingerprint = UnicodeAttribute()
    member_code = UnicodeAttribute(null=True)  # hash, as on the operation record
    amount = NumberAttribute()
    coupon_id = UnicodeAttribute(null=True)
    points = NumberAttribute()
    stored_value = NumberAttribute()
    status = UnicodeAttribute()  # PENDING | DONE | WITHDRAWN (by the till); expiry is computed on read
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    expires_ttl = TTLAttribute(null=True, attr_name=TTL_ATTRIBUTE)


def store_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#STORE"


def staff_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#STAFF"


class AuditRecord(Item):
    """Who did what where: written in the same transaction as the action it records.

    An action about a member is written twice in that transaction: under its day's shard
    (staff/audit.py) and, as a copy, in the member's partition (sk `AUDIT#{time}#{rand}`), so a member's
    trail pages without a scan."""

    member_id = UnicodeAttribute(null=True)
    actor = UnicodeAttribute()
    role = UnicodeAttribute()
    store_id = UnicodeAttribute(null=True)
    action = UnicodeAttribute()
    target = UnicodeAttribute()
    detail: MapAttribute[str, Any] = MapAttribute(default=dict)
    at = UTCDateTimeAttribute()


class PunchPlan(Item):
    """A punch card (次卡) a merchant sells or gives: `visits` uses within `valid_days`."""

    merchant_id = UnicodeAttribute()
    plan_id = UnicodeAttribute()
    name = UnicodeAttribute()
    visits = NumberAttribute()
    price = NumberAttribute(null=True)  # fen of stored value; None: issued by admin only
    valid_days = NumberAttribute()
    store_ids = ListAttribute(of=UnicodeAttribute, default=list)
    created_at = UTCDateTimeAttribute()


class PunchCard(Item):
    """A member's punch card; `uses_left` is a ledger balance (account punch, per card)."""

    card_id = UnicodeAttribute()
    plan_id = UnicodeAttribute()
    name = UnicodeAttribute()
    visits = NumberAttribute()
    uses_left = NumberAttribute()
    store_ids = ListAttribute(of=UnicodeAttribute, default=list)
    valid_until = UTCDateTimeAttribute()
    issued_at = UTCDateTimeAttribute()


def punch_plan_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#PUNCHPLAN"


class CheckoutOrder(Item):
    """A checkout at the counter and its receipt; its id comes from the staff's Idempotency-Key."""

    merchant_id = UnicodeAttribute()
    order_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    store_id = UnicodeAttribute()
    staff_id = UnicodeAttribute()
    fingerprint = UnicodeAttribute()
    status = UnicodeAttribute()  # PAID | REFUNDED
    amount = NumberAttribute()
    tier_discount = NumberAttribute()
    coupon_id = UnicodeAttribute(null=True)
    coupon_discount = NumberAttribute()
    points_used = NumberAttribute()
    points_value = NumberAttribute()
    bonus_used = NumberAttribute()
    principal_used = NumberAttribute()
    cash_due = NumberAttribute()
    points_earned = NumberAttribute()
    growth_earned = NumberAttribute()
    tier_before = UnicodeAttribute()
    tier_after = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    refunded_at = UTCDateTimeAttribute(null=True)
    refunded_by = UnicodeAttribute(null=True)
    points_clawed_back = NumberAttribute(null=True)
    growth_clawed_back = NumberAttribute(null=True)
    coupon_restored = BooleanAttribute(null=True)
    principal_over_cap = NumberAttribute(null=True)  # refunded principal paid back in cash: the card was full
    member_day_id = UnicodeAttribute(null=True)  # the member day that multiplied its points (merchants/member_days.py)
    member_day_multiplier = NumberAttribute(null=True)  # its percent, as it was at the sale


class OrderRef(Item):
    """A member's checkout or top-up order, listed in their partition (sk `{CHECKOUT|TOPUP}#{time}#{order_id}`),
    written in the order's own transaction: "my orders" pages by time without a scan; the orders are read
    by key for the page."""

    order_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


def checkout_pk(merchant_id: str, order_id: str) -> str:
    return f"MCH#{merchant_id}#CHECKOUT#{order_id}"


class DueMarker(Item, Scheduled):
    """A member's place on one scheduled job's list (sk `DUE#{job}`); see jobs/due.py."""

    due = DueIndex()
    merchant_id = UnicodeAttribute()
    member_id = UnicodeAttribute()


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


class SharedToken(Item):
    """A WeChat credential every container shares (wechat/tokens.py): the value and when it expires;
    under sk LEASE, which container is refreshing it and until when."""

    value = UnicodeAttribute()
    expires_at = UTCDateTimeAttribute()
    expires_ttl = TTLAttribute(null=True, attr_name=TTL_ATTRIBUTE)


class IssueJob(Item, Scheduled):
    """An admin's issue of one coupon template to a list of members or a filter (coupons/issue_jobs.py).

    On the `issue_job` list of `due_index` while it runs; `cursor` is where the next page starts
    (an offset into `member_ids`, or the last member id read from the cardholder index)."""

    due = DueIndex()
    lsi1 = UnicodeAttribute(null=True)  # its place among the merchant's jobs, newest first (jobs/records.py)
    by_time = LedgerByTime()
    merchant_id = UnicodeAttribute()
    job_id = UnicodeAttribute()
    template_id = UnicodeAttribute()
    member_ids = ListAttribute(of=UnicodeAttribute, null=True)
    filter: MapAttribute = MapAttribute(null=True)  # tier_ids, dormant, birthday_month (later: segment)
    status = UnicodeAttribute()  # RUNNING | DONE
    cursor = UnicodeAttribute(null=True)
    scanned = NumberAttribute(default=0)  # members looked at
    # Counts written before the job's counts were sharded; a job with `shards` counts on IssueCount items and
    # the totals are these plus theirs (coupons/issue_jobs.py `counted`).
    issued = NumberAttribute(default=0)  # coupons given: equals the job's coupons members hold
    failed = NumberAttribute(default=0)  # members who could not be given one (see their results)
    sold_out = NumberAttribute(default=0)  # of those, members refused for want of stock: retried when stock comes
    shards = NumberAttribute(null=True)  # its results and counts' partitions; None: a job from before the split
    fingerprint = UnicodeAttribute()
    created_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    finished_at = UTCDateTimeAttribute(null=True)


class IssueResult(Item):
    """What one member got from one issue job: written once, in the transaction that issues (or fails) it."""

    member_id = UnicodeAttribute()
    status = UnicodeAttribute()  # ISSUED | FAILED
    coupon_id = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    at = UTCDateTimeAttribute()


class IssueCount(Item):
    """One shard of an issue job's counts, moved in the transaction that issues (or fails) a member whose id
    hashes to it: one count item per job took a write per member (bench/README.md, heat)."""

    issued = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    sold_out = NumberAttribute(default=0)


def issue_job_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#ISSUEJOB"


def issue_result_pk(merchant_id: str, job_id: str, shard: int | None = None) -> str:
    """A job's results: one partition of its `shards` (None: the one partition of a job from before the split)."""
    legacy = f"MCH#{merchant_id}#ISSUEJOB#{job_id}"
    return legacy if shard is None else f"{legacy}#{shard}"


def issue_count_pk(merchant_id: str, job_id: str, shard: int) -> str:
    return f"MCH#{merchant_id}#ISSUEJOB#{job_id}#COUNT#{shard}"


def issue_shard(member_id: str, shards: int = ISSUE_JOB_SHARDS) -> int:
    """The shard of a job's results and counts a member's go to (a hash of the id, so a member stays in one)."""
    return shard_of(member_id, shards)


def cardholders_pk(merchant_id: str, member_id: str) -> str:
    """The member's partition of the merchant's `cardholders` index: one of `CARDHOLDER_SHARDS`, from the id,
    so a member stays in one (members/cardholders.py walks them)."""
    return f"MCH#{merchant_id}#CARDHOLDERS#{shard_of(member_id, CARDHOLDER_SHARDS)}"


def cardholder_partitions(merchant_id: str) -> list[str]:
    """Every partition of the merchant's cardholders, in walking order: the one from before the index was
    sharded (`MCH#{mid}#CARDHOLDERS`, still read, no longer written), then the shards."""
    legacy = f"MCH#{merchant_id}#CARDHOLDERS"
    return [legacy, *(f"{legacy}#{n}" for n in range(CARDHOLDER_SHARDS))]


class MemberImport(Item, Scheduled):
    """An admin's import of members from a file (member_import/jobs.py): checked (the dry run), then run.

    On the `member_import` list of `due_index` while a pass over its file is owed; `row`/`offset` are where the
    next page starts (the file's row number and, for a CSV, the byte offset of that row)."""

    due = DueIndex()
    lsi1 = UnicodeAttribute(null=True)  # its place among the merchant's jobs, newest first (jobs/records.py)
    by_time = LedgerByTime()
    merchant_id = UnicodeAttribute()
    import_id = UnicodeAttribute()
    upload_id = UnicodeAttribute()
    file_name = UnicodeAttribute()
    file_format = UnicodeAttribute()  # csv | xlsx
    sha256 = UnicodeAttribute()
    merge_rule = UnicodeAttribute()  # refuse | add
    status = UnicodeAttribute()  # CHECKING | CHECKED | RUNNING | DONE | FAILED
    file_error = UnicodeAttribute(null=True)  # what made the whole file unreadable (FAILED)
    encoding = UnicodeAttribute(null=True)
    columns = ListAttribute(of=UnicodeAttribute, null=True)  # the header, mapped to our column names
    row = NumberAttribute(default=0)  # the last row read (data rows from 1): the next page starts after it
    offset = NumberAttribute(default=0)  # the byte offset after it (CSV)
    # The check's counts (DynamoDB's ADD takes top-level attributes only, so one attribute each) ...
    rows_read = NumberAttribute(default=0)
    valid = NumberAttribute(default=0)
    errors = NumberAttribute(default=0)
    to_create = NumberAttribute(default=0)
    to_merge = NumberAttribute(default=0)
    to_refuse = NumberAttribute(default=0)
    # ... and the run's, each written in the transaction that settles its row.
    imported = NumberAttribute(default=0)
    merged = NumberAttribute(default=0)
    refused = NumberAttribute(default=0)
    skipped = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    created_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    checked_at = UTCDateTimeAttribute(null=True)
    started_at = UTCDateTimeAttribute(null=True)
    finished_at = UTCDateTimeAttribute(null=True)


class ImportRow(Item):
    """One row of an import: what the check found (`action`, `errors`) and what the run did (`outcome`)."""

    row = NumberAttribute()
    phone_masked = UnicodeAttribute(null=True)
    action = UnicodeAttribute()  # CREATE | MERGE | REFUSE | ERROR
    errors: ListAttribute[Any] = ListAttribute(null=True)  # [{column, code, message}]
    outcome = UnicodeAttribute(null=True)  # IMPORTED | MERGED | REFUSED | FAILED
    outcome_code = UnicodeAttribute(null=True)
    member_id = UnicodeAttribute(null=True)
    at = UTCDateTimeAttribute()


def member_import_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#IMPORT"


def import_row_pk(merchant_id: str, import_id: str) -> str:
    return f"MCH#{merchant_id}#IMPORT#{import_id}"


def import_phone_pk(merchant_id: str, import_id: str) -> str:
    return f"MCH#{merchant_id}#IMPORT#{import_id}#PHONE"


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


class NameEntry(Item):
    """A member under their normalized name (member_care/names.py), in the partition of its first character."""

    member_id = UnicodeAttribute()


class MemberJob(Item, Scheduled):
    """An admin's job over many members (member_care/member_jobs.py): tag or untag a filter's members, or
    export them. On the `member_job` list of `due_index` while it runs; `cursor` is the last member id read."""

    due = DueIndex()
    lsi1 = UnicodeAttribute(null=True)  # its place among the merchant's jobs, newest first (jobs/records.py)
    by_time = LedgerByTime()
    merchant_id = UnicodeAttribute()
    job_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # TAG | UNTAG | EXPORT
    params: MapAttribute[str, Any] = MapAttribute(default=dict)  # tag_id; export format, unmasked
    filter: MapAttribute[str, Any] = MapAttribute(default=dict)  # issue_jobs.Filter, stored
    status = UnicodeAttribute()  # RUNNING | DONE | FAILED
    cursor = UnicodeAttribute(null=True)
    scanned = NumberAttribute(default=0)  # cardholders looked at
    matched = NumberAttribute(default=0)  # of those, members the filter chose
    changed = NumberAttribute(default=0)  # tag jobs: members tagged or untagged, counted in each one's transaction
    pages = NumberAttribute(default=0)  # pages done: an export's parts are numbered by it
    walked = BooleanAttribute(default=False)  # every page done: an export's file is put together next
    file_key = UnicodeAttribute(null=True)  # an export's file (member_care/export_files.py)
    fingerprint = UnicodeAttribute()
    created_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    finished_at = UTCDateTimeAttribute(null=True)
    error = UnicodeAttribute(null=True)


def tags_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#TAG"


def tagged_pk(merchant_id: str, tag_id: str) -> str:
    return f"MCH#{merchant_id}#TAGGED#{tag_id}"


def names_pk(merchant_id: str, first: str) -> str:
    return f"MCH#{merchant_id}#NAME#{first}"


def member_jobs_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#MEMBERJOB"
