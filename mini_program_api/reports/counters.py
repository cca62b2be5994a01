"""Report counters, staged into the transaction of the event they count: the one place that knows them.

Every counted event already commits one TransactWriteItems that money/idempotency.py makes exactly-once (its
operation record is in it). Counters ride that transaction as unconditional ADDs (`Transaction.count`,
merged per item), so a retry that replays writes nothing and a cancelled attempt counts nothing:
counters can neither double count nor miss, and no caller can count on its own.

Layout (a bounded read: one Query per shard over the date range):

- `pk = MCH#{mid}#RPT#{shard}`, `SHARDS` partitions; the shard is a hash of the operation's key, so
  every attempt of one operation hits the same item, and a busy day's writes spread over `SHARDS`
  partitions instead of one hot key.
- `sk = D#{local day}#{dimension}`, one numeric attribute per measure:
  LEDGER (`p_{account}_{kind}` / `n_{account}_{kind}`: credits / debits per ledger account and kind,
  `ops_{kind}`: operations), SALE#{store}#{staff}, COUPON, MEMBERS, REPEAT (see reports/README.md).
- `sk = TOTAL`: `net_{account}` since the beginning; outstanding at a day's end = TOTAL minus what
  the days after it added, so no report sums history.

Claims and offer exposures are not here: a coupon drop claims and lists at 10x the peak, so each has shards of
its own (`claimed`, `exposure`; listing offers is a read path, counted in its own one write).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from mini_program_api.db.models import member_pk
from mini_program_api.db.schema import shard_of
from mini_program_api.db.transact import Cancelled, Transaction
from mini_program_api.merchants import merchants
from mini_program_api.money.idempotency import CLIENT_KEY_RETENTION, Key
from mini_program_api.platform import clock
from mini_program_api.reports.models import ReportCounter, Seen

if TYPE_CHECKING:
    from mini_program_api.db.orders import CheckoutOrder

SHARDS = 64  # a busy day: under half a partition each at 5000 requests/s (bench/README.md, heat); was 32
BALANCES = ("points", "principal", "bonus")  # accounts whose outstanding total is kept


def shard(key: str, shards: int = SHARDS) -> int:
    return shard_of(key, shards)


def row_pk(merchant_id: str, n: int) -> str:
    return f"MCH#{merchant_id}#RPT#{n}"


def day_of(merchant_id: str, at: datetime) -> str:
    return clock.local_date(merchants.get(merchant_id).timezone, at).isoformat()


def _add(
    tx: Transaction, merchant_id: str, op_key: str, at: datetime, dimension: str, measures: dict[str, int]
) -> None:
    pk = row_pk(merchant_id, shard(op_key))
    tx.count(ReportCounter, pk, f"D#{day_of(merchant_id, at)}#{dimension}", measures)


class _Posting(Protocol):
    @property
    def account(self) -> str: ...
    @property
    def amount(self) -> int: ...


class _Operation(Protocol):
    @property
    def op_key(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def postings(self) -> Sequence[_Posting]: ...


def ledger(tx: Transaction, merchant_id: str, member_id: str, op: _Operation, at: datetime) -> None:
    """A ledger operation (ledger.Operation) for one member: credits and debits per account and kind."""
    kind, op_key = op.kind, f"{member_id}:{op.op_key}"
    measures: dict[str, int] = {f"ops_{kind}": 1}
    totals: dict[str, int] = {}
    for posting in op.postings:
        account, amount = str(posting.account), posting.amount
        name = f"{'p' if amount > 0 else 'n'}_{account}_{kind}"
        measures[name] = measures.get(name, 0) + abs(amount)
        if account in BALANCES:
            totals[f"net_{account}"] = totals.get(f"net_{account}", 0) + amount
    _add(tx, merchant_id, op_key, at, "LEDGER", measures)
    if totals:
        tx.count(ReportCounter, row_pk(merchant_id, shard(op_key)), "TOTAL", totals)


def sale(
    tx: Transaction,
    order: CheckoutOrder,
    template_id: str | None,
    op_key: str,
    history: tuple[datetime | None, datetime | None] = (None, None),
) -> None:
    """A checkout, per store and staff; its coupon's redemption in the funnel; its place in the member's
    purchases (`history`: their last and the one before, rfm_months.history) for the repurchase report."""
    merchant_id, at = str(order.merchant_id), order.created_at
    day = clock.local_date(merchants.get(merchant_id).timezone, at)
    gaps = [_gap(merchant_id, day, before) for before in history]
    _add(tx, merchant_id, op_key, at, "REPEAT", {f"rep_{gaps[0]}_{gaps[1]}": 1})
    _add(
        tx,
        merchant_id,
        op_key,
        at,
        f"SALE#{order.store_id}#{order.staff_id}",
        {
            "orders": 1,
            "gross": int(order.amount),
            "tier_discount": int(order.tier_discount),
            "coupon_discount": int(order.coupon_discount),
            "points_value": int(order.points_value),
            "bonus_used": int(order.bonus_used),
            "principal_used": int(order.principal_used),
            "cash": int(order.cash_due),
        },
    )
    if template_id:
        redeemed(tx, merchant_id, op_key, at, template_id, int(order.coupon_discount))


MAX_GAP = 367  # days; any longer gap is "before every window" (a window is at most 366 days)


def _gap(merchant_id: str, day: date, before: datetime | None) -> str:
    """Days from an earlier purchase to `day` (capped), or `x` for none."""
    if before is None:
        return "x"
    return str(min(MAX_GAP, (day - clock.local_date(merchants.get(merchant_id).timezone, before)).days))


def refund(
    tx: Transaction, order: CheckoutOrder, template_id: str | None, restored: bool, op_key: str, at: datetime
) -> None:
    """A checkout refunded, counted on the refund's day against the sale's store and staff."""
    merchant_id = str(order.merchant_id)
    _add(
        tx,
        merchant_id,
        op_key,
        at,
        f"SALE#{order.store_id}#{order.staff_id}",
        {
            "refunds": 1,
            "refund_gross": int(order.amount),
            "refund_cash": int(order.cash_due),
            "refund_bonus": int(order.bonus_used),
            "refund_principal": int(order.principal_used),
        },
    )
    if template_id and restored:
        _add(
            tx,
            merchant_id,
            op_key,
            at,
            "COUPON",
            {f"restored_{template_id}": 1, f"restored_discount_{template_id}": int(order.coupon_discount)},
        )


def redeemed(tx: Transaction, merchant_id: str, op_key: str, at: datetime, template_id: str, discount: int) -> None:
    _add(tx, merchant_id, op_key, at, "COUPON", {f"redemptions_{template_id}": 1, f"discount_{template_id}": discount})


# Claims: a drop's claims come at 10x the peak (50 000/s), beyond what the 64 report shards carry, so they are
# counted on their own `CLAIM_SHARDS` partitions (`MCH#{mid}#CLAIMED#{n}`, sk `D#{day}#COUPON`), read back by
# `claim_rows`. A distinct claimer is counted by the claim that is the member's first coupon of the template on
# the merchant's day: coupons/claims.py knows it from the member's own CLAIMS#{tid} item, in the same
# transaction, so no item grows with the drop (the exposure item's set of claimers `c_{tid}` did, and is now
# only read for the days before this change).
CLAIM_SHARDS = 256


def claim_pk(merchant_id: str, n: int) -> str:
    return f"MCH#{merchant_id}#CLAIMED#{n}"


def claimed(tx: Transaction, merchant_id: str, op_key: str, at: datetime, template_id: str, first: bool) -> None:
    """A coupon issued (claimed, redeemed for points, or given); `first`: the member's first of the template
    on the merchant's day, so one more distinct claimer."""
    measures = {f"claims_{template_id}": 1}
    if first:
        measures[f"claimers_{template_id}"] = 1
    pk = claim_pk(merchant_id, shard(op_key, CLAIM_SHARDS))
    tx.count(ReportCounter, pk, f"D#{day_of(merchant_id, at)}#COUPON", measures)


def claim_rows(merchant_id: str, first: str, last: str) -> dict[str, dict[str, int]]:
    """Claims and claimers per day (ISO) and template measure, summed over the claim shards."""
    return _shard_rows(claim_pk, CLAIM_SHARDS, merchant_id, first, last)


def _shard_rows(
    pk_of: Callable[[str, int], str], shards: int, merchant_id: str, first: str, last: str
) -> dict[str, dict[str, int]]:
    """A sharded family's day rows summed per day (ISO) and measure: one Query per shard over the range, run
    `_READERS` at a time (an admin's report; 256 Queries of a few items)."""
    table = ReportCounter._get_connection()

    def one(n: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        start = None
        while True:
            answer = table.query(
                pk_of(merchant_id, n),
                ReportCounter.sk.between(f"D#{first}", f"D#{last}#\uffff"),
                consistent_read=True,
                exclusive_start_key=start,
            )
            items.extend(answer.get("Items", []))
            start = answer.get("LastEvaluatedKey")
            if not start:
                return items

    summed: dict[str, dict[str, int]] = {}
    with ThreadPoolExecutor(_READERS) as pool:
        for items in pool.map(one, range(shards)):
            for item in items:
                day = item["sk"]["S"].split("#")[1]
                row = summed.setdefault(day, {})
                for name, value in item.items():
                    if "N" in value:
                        row[name] = row.get(name, 0) + int(value["N"])
    return summed


_READERS = 8


def member(tx: Transaction, merchant_id: str, member_id: str, what: str, scene: str | None, at: datetime) -> None:
    """A new member (`new`) or a card opened (`cards`), per entry scene."""
    _add(tx, merchant_id, f"{what}:{member_id}", at, "MEMBERS", {f"{what}_{scene or '-'}": 1})


def member_claimed(tx: Transaction, merchant_id: str, member_id: str, scene: str | None, created_at: datetime) -> None:
    """A first login's empty member whose login moved onto an imported member (members/enrolment.py
    `_claim_imported`): it was counted new on the day it was made, and the person is the imported member, whom
    the import counted; its count is taken back on its own day, in the claim's transaction, so one person who
    logs in to an imported card is one new member."""
    _add(tx, merchant_id, f"new:{member_id}", created_at, "MEMBERS", {f"new_{scene or '-'}": -1})


# Exposures (listing offers, `exposure`): a drop lists the offers as often as it claims (50 000 listings/s at 10x
# the peak), so views and distinct people are counted like claims, on `EXPOSURE_SHARDS` partitions of their own
# (`MCH#{mid}#EXPOSED#{n}`, sk `D#{day}#OFFERS`: `t_{tid}` views, `p_{tid}` people), read back by `exposure_rows`.
# A person is counted by the listing that first shows them the template on the merchant's day, known from their
# own day marker (`Seen`, `SEEN#{day}` in their partition: the templates shown to them that day), written in the
# same transaction on condition that the template is not in it yet. So no item grows with the viewers; before
# this, one item per day and member shard (`exposure_pk`, 8 of them) held the views and a set of people per
# template, and grew with every viewer (and, before claims were counted apart, every claimer: `c_{tid}`):
# `exposure_items` reads those old days.
EXPOSURE_SHARDS = 256  # 50 000 listings/s, 2 WCU each (a transaction): 391 WCU/s a shard (bench/README.md, heat)
SEEN_KEPT = timedelta(days=2)  # a day marker is read only on its day; then DynamoDB's TTL may delete it


def exposed_pk(merchant_id: str, n: int) -> str:
    return f"MCH#{merchant_id}#EXPOSED#{n}"


def seen_sk(day: str) -> str:
    return f"SEEN#{day}"


def exposure(
    merchant_id: str, member_id: str, template_ids: list[str], at: datetime, request: Key | None = None
) -> None:
    """Count one listing of offers: one view of each template shown, and one person for each the member had not
    been shown yet that day. One BatchGetItem of the member's own markers, then ONE TransactWriteItems of at most
    three small items, whatever the number of viewers: the counter shard, the member's day marker (only when
    something is new to them) and, with a key, the listing's marker.

    `request` (the listing's Idempotency-Key) counts it once: its marker is put where every client key is
    remembered (`Key.item_key`, for CLIENT_KEY_RETENTION), on condition that it is not there, in the transaction
    that counts, so a resend after a lost answer counts nothing (and writes nothing when the read already finds
    the marker). Without one, every listing counts."""
    day = day_of(merchant_id, at)
    mpk, sk = member_pk(merchant_id, member_id), seen_sk(day)
    keys = [(mpk, sk), *([request.item_key] if request is not None else [])]
    found = {str(s.sk): s for s in Seen.batch_get(keys)}  # eventually consistent: the conditions below decide
    if request is not None and request.item_key[1] in found:
        return  # this listing was counted already (a resend)
    seen = set(found[sk].templates or ()) if sk in found else set()
    pk = exposed_pk(merchant_id, shard(request.op_key if request is not None else uuid.uuid4().hex, EXPOSURE_SHARDS))
    while True:
        new = sorted(set(template_ids) - seen)
        tx = Transaction()
        if request is not None:
            marker = Seen(*request.item_key, expires_ttl=at + CLIENT_KEY_RETENTION)
            tx.put("listing", marker, Seen.sk.does_not_exist())
        if new:
            unseen = [Seen.templates.does_not_exist() | ~Seen.templates.contains(t) for t in new]
            condition = unseen[0]
            for more in unseen[1:]:
                condition &= more
            tx.update(
                "person",
                Seen(mpk, sk),
                [Seen.templates.add(set(new)), Seen.expires_ttl.set(at + SEEN_KEPT)],
                condition,
            )
        tx.count(
            ReportCounter, pk, f"D#{day}#OFFERS", {**{f"t_{t}": 1 for t in template_ids}, **{f"p_{t}": 1 for t in new}}
        )
        try:
            tx.commit()
            return
        except Cancelled as exc:
            if "listing" in exc.failed:
                return  # a resend that the read did not see yet: counted already
            # Another listing of this member showed them one of `new` meanwhile: it counted that person. The set
            # only grows, so each round has fewer new templates: at most len(template_ids) rounds.
            seen = _seen(mpk, sk)


def _seen(mpk: str, sk: str) -> set[str]:
    try:
        return set(Seen.get(mpk, sk, consistent_read=True).templates or ())
    except Seen.DoesNotExist:
        return set()


def exposure_rows(merchant_id: str, first: str, last: str) -> dict[str, dict[str, int]]:
    """Views (`t_{tid}`) and people (`p_{tid}`) per day (ISO), summed over the exposure shards."""
    return _shard_rows(exposed_pk, EXPOSURE_SHARDS, merchant_id, first, last)


def exposure_pk(merchant_id: str, day: str, member_id: str | None = None, n: int | None = None) -> str:
    """An old day's exposure item (before `exposure_rows`): one per day and member shard, 8 shards."""
    n = shard(member_id, OLD_EXPOSURE_SHARDS) if member_id is not None else n
    return f"MCH#{merchant_id}#EXPOSURE#{day}#{n}"


OLD_EXPOSURE_SHARDS = 8


def person(member_id: str) -> str:
    """How an old day's sets named a member: 8 hex characters of sha256(member id)."""
    return hashlib.sha256(member_id.encode()).hexdigest()[:8]


def exposure_items(merchant_id: str, days: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The days' old exposure items (day -> items): views `t_{tid}` and sets of people `p_{tid}` (and claimers
    `c_{tid}`), written before `exposure` counted on shards. Raw: their attributes are per template, not model
    attributes. BatchGetItem, 100 keys a call: a year is about 30 calls."""
    from mini_program_api.db.counters import Counter  # here: counting (a sale, a notify) never reads the old days

    table = Counter._get_connection()
    keys = [
        {"pk": exposure_pk(merchant_id, day, n=n), "sk": "COUNT"} for day in days for n in range(OLD_EXPOSURE_SHARDS)
    ]
    found: dict[str, list[dict[str, Any]]] = {day: [] for day in days}
    for i in range(0, len(keys), 100):
        pending: list[dict[str, str]] = keys[i : i + 100]
        while pending:
            # pynamodb's hint says str keys; the connection takes (and Model.batch_get passes) key dicts
            answer = table.batch_get_item(pending, consistent_read=True)  # type: ignore[arg-type]
            for item in answer.get("Responses", {}).get(table.table_name, []):
                found[item["pk"]["S"].split("#")[3]].append(item)
            unprocessed = answer.get("UnprocessedKeys", {}).get(table.table_name, {}).get("Keys", [])
            pending = [{"pk": k["pk"]["S"], "sk": k["sk"]["S"]} for k in unprocessed]
    return found


def views(merchant_id: str, template_id: str, day: str) -> int:
    """How often offers listed the template on the merchant's `day`: the shards' views and an old day's item's."""
    name = f"t_{template_id}"
    old = sum(int(item[name]["N"]) for item in exposure_items(merchant_id, [day])[day] if name in item)
    return old + exposure_rows(merchant_id, day, day).get(day, {}).get(name, 0)
