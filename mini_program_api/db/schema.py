"""The one DynamoDB table, described once for `make dev`, the tests and the deploy template.

Single-table design; every key is a string and every partition belongs to one
merchant, so one merchant's data can never be read with another's ids.

| item                  | pk                              | sk                      |
| --------------------- | ------------------------------- | ----------------------- |
| merchant              | MCH#{merchant_id}               | PROFILE                 |
| appid -> merchant     | APPID#{appid}                   | LOOKUP                  |
| WeChat access token   | WXTOKEN#{appid}_access_token    | ACCESS_TOKEN / LEASE    |
| member                | MCH#{mid}#MEM#{member_id}       | PROFILE                 |
| ledger entry          | MCH#{mid}#MEM#{member_id}       | TXN#{op_key}#{account}  |
| openid -> member      | MCH#{mid}#OPENID#{openid}       | LOOKUP                  |
| phone hash -> member  | MCH#{mid}#PHONE#{hmac}          | LOOKUP                  |
| card number -> member | MCH#{mid}#CARD#{card_number}    | LOOKUP                  |
| member code -> member | MCH#{mid}#CODE#{code}           | LOOKUP (expires_at)     |
| op record (own key)   | MCH#{mid}#MEM#{member_id}       | OP#{scope}:{key} (expires_ttl: a client key) |
| op record (staff key) | MCH#{mid}#OP#{scope}:{key}      | OP (expires_ttl: a client key) |
| top-up order          | MCH#{mid}#TOPUP#{out_trade_no}  | ORDER                   |
| coupon template       | MCH#{mid}#CTPL                  | {template_id}           |
| listed template copy  | MCH#{mid}#SHELF                 | {valid_until}#{tid}     |
| coupon stock shard    | MCH#{mid}#STOCK#{tid}#{shard}   | STOCK                   |
| coupon (claimed)      | MCH#{mid}#MEM#{member_id}       | COUPON#{coupon_id}      |
| claims per template   | MCH#{mid}#MEM#{member_id}       | CLAIMS#{template_id}    |
| exposure counters     | MCH#{mid}#EXPOSED#{shard}       | D#{day}#OFFERS (`t_`,`p_{tid}`: views, people) |
| templates shown today | MCH#{mid}#MEM#{member_id}       | SEEN#{day} (expires_ttl) |
| a listing's key       | MCH#{mid}#MEM#{member_id}       | OP#offers:{key} (expires_ttl) |
| daily exposures (old days) | MCH#{mid}#EXPOSURE#{day}#{shard} | COUNT (`t_`, sets `p_`, `c_{tid}`: read only) |
| claim counters        | MCH#{mid}#CLAIMED#{shard}       | D#{day}#COUPON (`claims_`,`claimers_{tid}`) |
| store                 | MCH#{mid}#STORE                 | {store_id}              |
| staff/admin account   | MCH#{mid}#STAFF                 | {username}              |
| audit record          | MCH#{mid}#AUDIT#{day}#{shard}   | {iso time}#{rand} (staff/audit.py) |
| ... copy, about a member | MCH#{mid}#MEM#{member_id}    | AUDIT#{iso time}#{rand} |
| member's order refs   | MCH#{mid}#MEM#{member_id}       | {kind}#{iso time}#{order_id} (kind CHECKOUT, TOPUP) |
| template used count   | MCH#{mid}#USED#{tid}#{shard}    | COUNT                   |
| punch-card plan       | MCH#{mid}#PUNCHPLAN             | {plan_id}               |
| punch card            | MCH#{mid}#MEM#{member_id}       | PUNCH#{card_id}         |
| checkout order        | MCH#{mid}#CHECKOUT#{order_id}   | ORDER                   |
| store's sales (refs)  | MCH#{mid}#TILLSALES#{store_id}#{local day}#{0..3} | {iso time}#{order_id} |
| job list marker       | MCH#{mid}#MEM#{member_id}       | DUE#{job}               |
| subscribe message     | MCH#{mid}#MEM#{member_id}       | NOTICE#{key}            |
| subscribe grants      | MCH#{mid}#MEM#{member_id}       | GRANT#{template_id}     |
| consent (terms, grant) | MCH#{mid}#MEM#{member_id}      | CONSENT#{iso time}#{rand} |
| invite code -> member | MCH#{mid}#INVITE#{code}         | LOOKUP                  |
| referrals per month   | MCH#{mid}#MEM#{member_id}       | REFERRALS#{yyyy-mm}     |
| spending password     | MCH#{mid}#MEM#{member_id}       | SPENDPWD                |
| pending confirmation  | MCH#{mid}#MEM#{member_id}       | PENDING#{confirmation_id} |
| ... its key's pointer | MCH#{mid}#OP#checkout:{key}     | PENDING                 |
| issue job             | MCH#{mid}#ISSUEJOB              | {job_id}                |
| issue job result      | MCH#{mid}#ISSUEJOB#{job_id}#{shard} | {member_id}         |
| ... before the split  | MCH#{mid}#ISSUEJOB#{job_id}     | {member_id}             |
| issue job counts      | MCH#{mid}#ISSUEJOB#{job_id}#COUNT#{shard} | COUNT         |
| WeChat card set-up    | MCH#{mid}                       | WALLET#CARD             |
| member's WeChat card + sync outbox | MCH#{mid}#MEM#{member_id} | WALLET (due: DUE#wallet#{shard}) |
| WeChat card code -> member | MCH#{mid}#WXCODE#{code}    | LOOKUP                  |
| WeChat event received | MCH#{mid}#WXEVENT#{sha256[:40]} | EVENT (expires_ttl)     |
| card api_ticket       | WXTOKEN#{oa_appid}_wx_card_ticket | ACCESS_TOKEN / LEASE  |
| report counters       | MCH#{mid}#RPT#{shard}           | D#{day}#{dimension} / TOTAL |
| liability check       | MCH#{mid}#RPT#CHECK             | LIABILITY               |
| RFM job / thresholds  | MCH#{mid}#RPT#RFM               | JOB / CONFIG            |
| member in a segment   | MCH#{mid}#MEM#{member_id}       | SEGMENT                 |
| webhook endpoint      | MCH#{mid}#WHEP                  | {endpoint_id}           |
| webhook outbox event  | MCH#{mid}#WHEV#{member_id}      | {time}#{event_id} (due: DUE#webhook_events#{shard}) |
| webhook queue         | MCH#{mid}#WHQ#{eid}#{member_id} | {time}#{event_id} (due: DUE#webhook_sends#{shard}) |
| webhook sent / dead   | MCH#{mid}#WHSENT#{endpoint_id}  | {event_id} (expires_ttl) |
| webhook delivery log  | MCH#{mid}#WHLOG#{endpoint_id}   | {delivery_id} (expires_ttl) |
| tag                   | MCH#{mid}#TAG                   | {tag_id} (`members`: its count) |
| tag name -> tag       | MCH#{mid}#TAGNAME#{normalized}  | LOOKUP                  |
| member carrying a tag | MCH#{mid}#TAGGED#{tag_id}       | {member_id}             |
| member by name        | MCH#{mid}#NAME#{first char}     | {normalized name}#{member_id} |
| member job (tag, export) | MCH#{mid}#MEMBERJOB          | {job_id} (due: DUE#member_job#{shard}) |

An operation record (money/idempotency.py) is the one item per idempotency key that
says "this operation ran": the request's fingerprint and the result, written with
`attribute_not_exists` in the operation's own transaction. `{scope}:{key}` is the op
key: the kind of operation and the client's Idempotency-Key or a natural key (the
day of a sign-in, a WeChat transaction id). A member's own keys live in their
partition; staff and admin keys (checkout, punch-card use, a punch card an admin gives,
gift redemption) get a partition per key, merchant-wide, so one key never serves two members.

Ledger entries live in their member's partition so that one Query proves
"balance = sum of entries"; their sort key is derived from the op key too, with
`attribute_not_exists`, as a second line of defence behind the operation record.

Index `ledger_by_time` (LSI: pk + `lsi1`, projects all): lsi1 is
`LEDGER#{group}#{created_at}#{op_key}#{account}`, so a member's ledger pages
newest first per group (points, balance, growth) with strongly consistent reads.
Coupons share it by prefix: `COUPON#AVAILABLE#{valid_until}#{id}` until used (below
now: expired), `COUPON#USED#{used_at}#{id}` after, so one status is one key range. A merchant's admin jobs
(issue jobs, member jobs, imports) share it in their own partitions: `JOB#{created_at}#{id}`, their list newest
first (jobs/records.py).

Index `due_index` (GSI: `due_pk` + `due_sk`, projects keys only) is sparse: an
item carries `due_pk = DUE#{job}#{shard}` and `due_sk = {ISO time}` only while a
scheduled job owes it work (a PENDING top-up to reconcile, a REFUNDING one to
confirm, an available coupon to remind of, a member's `DUE#{job}` marker for points
expiry, birthdays, wake-ups and tier reviews), so jobs find work with a Query, never a Scan. The shard (hash of the
item key mod `DUE_SHARDS`) keeps one job's writes off a single partition: the 卡包 sync's slot moves on every
balance change, so its list takes about one index write per request (bench/heat.py). A birthday job reads only
the members due by now (a day's birthdays, a million members' ~2 700), one Query per shard, never all members.

Raising a shard count (due lists 4 → 32, roster 4 → 16, report counters 32 → 64, all from bench/heat.py) needs no
migration: an item keeps the shard it was given, which is below the new count, and every reader walks every shard.
Lowering one does (the issue jobs' list 32 → 1): `python -m infra.deploy.upgrade` after the deploy moves the items
of the shards above the new count into the list's one shard.

Index `cardholders` (GSI: `cards_pk` + `cards_sk`, projects keys only) is sparse: a
member row carries `cards_pk = MCH#{mid}#CARDHOLDERS#{shard}` (a hash of the member id mod
`CARDHOLDER_SHARDS`) and `cards_sk = {member_id}` from the transaction that opens the card. It is
how an issue job (coupons/issue_jobs.py) walks a merchant's cardholders for a filter (tier,
dormant, birthday month; later a report's segment), through the one walk every job uses
(members/cardholders.py): a bounded Query per partition per page from a saved cursor, then a
BatchGetItem of those rows and the filter applied to them, so a job reads each of its merchant's
cardholders once over its whole life and never the rest of the table. Keys only, so the index is
written only when a card opens, not on every balance change. Sharded so neither card openings nor a
walk's reads meet on one partition per merchant; cards opened before the split stay on
`MCH#{mid}#CARDHOLDERS`, which the walk reads first. Members whose card opened before the index
existed need `cards_pk`/`cards_sk` set once to be found by filters (infra/deploy/cardholders.py).

Index `roster_index` (GSI: `roster_pk` + `roster_sk`, projects ROSTER_ATTRIBUTES) lists a merchant's
members without a Scan: a member row carries `roster_pk = ROSTER#{mid}#{shard}` (hash of the member id mod
`ROSTER_SHARDS` in reports/roster.py) and `roster_sk = {member_id}`; a member's SEGMENT item carries
`roster_pk = SEG#{mid}#{segment}` and the same sk, so members of one RFM segment are one paged Query.
Report counters are explained in reports/counters.py, the exposure counters and a listing's markers there too
(`exposure`): a listing of offers counts on one of 256 `EXPOSED` shards, and the first listing that shows a member a
template on the merchant's day (their `SEEN#{day}` marker, conditional) counts the person, so no item grows with a
drop's viewers; the old days' `EXPOSURE` items held the people as sets and are only read.

A pending confirmation (till/pending_payments.py) is a counter sale waiting for the member's
spending password; its id is derived from the till's key, and the pointer beside that key's
operation record names the member, so a till retry finds it after the member code expired.

`expires_ttl` is the TTL attribute: DynamoDB may delete expired lookups (member
codes) and pending confirmations (a day after they expire) eventually; correctness never depends on it, expiry
is checked on read.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

LEDGER_INDEX = "ledger_by_time"


def shard_of(key: str, shards: int) -> int:
    """The write shard of `key` among `shards`: a hash, so keys spread evenly and a key's shard never changes
    (every sharded family above but the due lists, which hash with sha1 since their split)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % shards


def sortable(at: datetime) -> str:
    """A time as a key part that sorts as the time does (UTC, fixed width): a shelf's templates by their end, a
    member's coupons by their expiry or use (coupons/shelf.py, coupons/held.py)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


DUE_INDEX = "due_index"
CARDHOLDER_INDEX = "cardholders"
CARDHOLDER_SHARDS = 16  # partitions of one merchant's cardholders (members/cardholders.py)
ISSUE_JOB_SHARDS = 8  # partitions of one issue job's results, and of its counts (coupons/issue_jobs.py)
DUE_SHARDS = 32  # was 4: the wallet sync's slot moves on every balance change (bench/README.md, heat)
# A job whose list takes more: a coupon drop puts every claimed coupon on the reminder list at one instant (a
# fixed window's end), about 50 000 index writes a second at 10x the peak, 1 WCU each: 128 shards at under 40%.
# A list written a few times per job (the issue jobs': a job's slot moves when it is created, deferred, done or
# rechecked) takes one: its every-minute run reads one partition, not 32 (a cold run's 32 queries were most of its
# first run, bench/README.md cold_start). Lowering a list's count needs its old shards moved: infra/deploy/upgrade.py.
ISSUE_JOB_LIST = "issue_job"  # the issue jobs' due list (coupons/issue_jobs.py, functions/issue_jobs.py)
DUE_SHARDS_OF = {"coupon_reminder": 128, ISSUE_JOB_LIST: 1}
ROSTER_INDEX = "roster_index"
# What the reports' member jobs read of each member (reports/liability.py, reports/rfm.py).
ROSTER_ATTRIBUTES = [
    "member_id",
    "principal",
    "bonus",
    "points",
    "tier_id",
    "last_spend_at",
    "rfm",
    "segment",
    "r",
    "f",
    "m",
    "recency_days",
    "frequency",
    "monetary",
]
TTL_ATTRIBUTE = "expires_ttl"
STREAM_SPECIFICATION = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}

KEY_SCHEMA = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
ATTRIBUTE_DEFINITIONS = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "S"},
    {"AttributeName": "lsi1", "AttributeType": "S"},
    {"AttributeName": "due_pk", "AttributeType": "S"},
    {"AttributeName": "due_sk", "AttributeType": "S"},
    {"AttributeName": "cards_pk", "AttributeType": "S"},
    {"AttributeName": "cards_sk", "AttributeType": "S"},
    {"AttributeName": "roster_pk", "AttributeType": "S"},
    {"AttributeName": "roster_sk", "AttributeType": "S"},
]
GLOBAL_SECONDARY_INDEXES = [
    {
        "IndexName": DUE_INDEX,
        "KeySchema": [
            {"AttributeName": "due_pk", "KeyType": "HASH"},
            {"AttributeName": "due_sk", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    },
    {
        "IndexName": CARDHOLDER_INDEX,
        "KeySchema": [
            {"AttributeName": "cards_pk", "KeyType": "HASH"},
            {"AttributeName": "cards_sk", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    },
    {
        "IndexName": ROSTER_INDEX,
        "KeySchema": [
            {"AttributeName": "roster_pk", "KeyType": "HASH"},
            {"AttributeName": "roster_sk", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ROSTER_ATTRIBUTES},
    },
]
LOCAL_SECONDARY_INDEXES = [
    {
        "IndexName": LEDGER_INDEX,
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "lsi1", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
]


def table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable arguments (on-demand billing, as in production)."""
    return {
        "TableName": table_name,
        "KeySchema": KEY_SCHEMA,
        "AttributeDefinitions": ATTRIBUTE_DEFINITIONS,
        "LocalSecondaryIndexes": LOCAL_SECONDARY_INDEXES,
        "GlobalSecondaryIndexes": GLOBAL_SECONDARY_INDEXES,
        "BillingMode": "PAY_PER_REQUEST",
        # The WeChat 卡包 sync consumer reads it (functions/wallet_sync.py); DynamoDB Local has streams too.
        "StreamSpecification": STREAM_SPECIFICATION,
    }


def create_table(client: Any, table_name: str, stream: bool = True) -> bool:
    """Create the table if missing; returns whether it was created. `client` is a boto3 DynamoDB client.
    Without `stream` for tests that never read it: DynamoDB Local slows as a stream grows."""
    definition = table_definition(table_name)
    if not stream:
        del definition["StreamSpecification"]
    try:
        client.create_table(**definition)
    except client.exceptions.ResourceInUseException:
        return False
    client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
    return True
