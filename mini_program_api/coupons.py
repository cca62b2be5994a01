"""Coupon templates, offers and claims, with stock that holds under any concurrency.

Shard rule: a template's stock is split over `min(16, total_stock)` shard items,
each under its own partition key (`MCH#{mid}#STOCK#{tid}#{i}`), as evenly as
possible (the first `total % shards` get one more). A claim reads only the template,
then tries to take one unit from a random shard in the same TransactWriteItems that
writes the coupon and bumps the member's claim count; only when that shard is empty
does it read every shard (one BatchGetItem) and try the non-empty ones, so a drop's
claims cost one read until the stock runs low:

- stock: `left >= 1` on the shard, so the sum over shards never goes below zero
  and exactly `total_stock` coupons can exist;
- per-member limit: `n < limit` on the member's CLAIMS#{tid} counter;
- the member: an open card (and, for a tier-only template, one of its tiers) is a
  condition check on the member item in the same transaction, not a read before it;
  the member is read only to say why that check failed;
- idempotency: a claim or reward is one operation per Idempotency-Key (idempotency.py,
  its record in the same transaction); the coupon's id comes from the key too.

One DynamoDB item takes about 1000 WCU/s and a transactional write costs 2, so
one stock item would cap a drop near 500 claims/s; 16 shards lift that to the
table's limit (see bench/coupon_drop.py).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pynamodb.expressions.condition import Condition

from mini_program_api.db.models import (
    COUPON_TERMS,
    PROFILE,
    Counter,
    Coupon,
    CouponTemplate,
    CouponTerms,
    Member,
    Merchant,
    StockShard,
    member_pk,
    shelf_pk,
    stock_pk,
    template_pk,
)
from mini_program_api.db.transact import Cancelled, Transaction
from mini_program_api.jobs import due
from mini_program_api.members import member_codes, members
from mini_program_api.merchants import merchants
from mini_program_api.money import idempotency, ledger
from mini_program_api.money.idempotency import Request
from mini_program_api.money.ledger import Account, Operation
from mini_program_api.platform import clock, ids, paging
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.reports import counters
from mini_program_api.staff import audit, stores
from mini_program_api.telemetry import metrics

KINDS = ("FULL_REDUCTION", "DISCOUNT", "GIFT", "CASH")
MAX_STOCK_SHARDS = 16
MIN_VALID_DAYS = 3  # WeChat's rule: every coupon is usable for at least 3 days, fixed window or relative
MAX_DISCOUNT_SHARE = 0.5  # a coupon may take at most half of an order


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    kind: str
    total_stock: int
    per_member_limit: int
    threshold: int = 0
    amount: int = 0
    rate: int | None = None
    max_discount: int | None = None
    gift_name: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    days_after_claim: int | None = None
    store_ids: tuple[str, ...] = ()
    daily_window: tuple[str, str] | None = None
    tier_ids: tuple[str, ...] = ()
    points_price: int | None = None  # set: a points-mall reward (redeemed for points, not claimed)
    listed: bool = True  # False: a gift the merchant gives (birthday, wake-up), never listed or claimed


def _invalid(message: str) -> KabaoError:
    return KabaoError("VALIDATION_ERROR", message)


def validate(spec: TemplateSpec, merchant: Merchant, now: datetime) -> None:
    """Every rule a template must meet; a broken one is a 400 and nothing is written."""
    if spec.kind not in KINDS:
        raise _invalid(f"kind must be one of {', '.join(KINDS)}")
    if spec.kind == "FULL_REDUCTION":
        if not 0 < spec.amount <= spec.threshold * MAX_DISCOUNT_SHARE:
            raise _invalid("满减: amount must be positive and at most half of the threshold")
    elif spec.kind == "DISCOUNT":
        if spec.rate is None or not 100 * (1 - MAX_DISCOUNT_SHARE) <= spec.rate < 100:
            raise _invalid("折扣: rate is the percent paid, from 50 to 99")
        if spec.max_discount is None or spec.max_discount <= 0:
            raise _invalid("折扣: max_discount (fen) is required")
    elif spec.kind == "GIFT":
        if not spec.gift_name:
            raise _invalid("兑换/礼品: gift_name is required")
    elif spec.kind == "CASH" and (spec.amount <= 0 or spec.threshold):
        raise _invalid("现金: amount must be positive, with no threshold")
    fixed = spec.valid_from is not None or spec.valid_until is not None
    if fixed == (spec.days_after_claim is not None):
        raise _invalid("validity is either valid_from/valid_until or days_after_claim")
    if fixed and (
        spec.valid_from is None
        or spec.valid_until is None
        or spec.valid_until - max(spec.valid_from, now) < timedelta(days=MIN_VALID_DAYS)
    ):
        raise _invalid(f"valid_until must be at least {MIN_VALID_DAYS} days after valid_from and after now")
    if spec.days_after_claim is not None and not MIN_VALID_DAYS <= spec.days_after_claim <= 3650:
        raise _invalid(f"days_after_claim must be at least {MIN_VALID_DAYS}")
    if not 1 <= spec.total_stock <= 10_000_000 or not 1 <= spec.per_member_limit <= 100:
        raise _invalid("total_stock is 1..10000000 and per_member_limit 1..100")
    if spec.daily_window is not None:
        start, end = (time.fromisoformat(t) for t in spec.daily_window)
        if start >= end:
            raise _invalid("daily_window start must be before its end")
    if spec.points_price is not None and not 1 <= spec.points_price <= 10_000_000:
        raise _invalid("points_price is 1..10000000 points")
    unknown = set(spec.tier_ids) - {t.tier_id for t in merchant.tiers}
    if unknown:
        raise _invalid(f"unknown tiers: {', '.join(sorted(unknown))}")


def shard_sizes(total: int) -> list[int]:
    shards = min(MAX_STOCK_SHARDS, total)
    return [total // shards + (1 if i < total % shards else 0) for i in range(shards)]


def create_template(
    merchant_id: str, spec: TemplateSpec, actor: Principal | None = None, idempotency_key: str | None = None
) -> CouponTemplate:
    """`actor` is the admin (audited); None only for seeding and benchmarks.

    With an Idempotency-Key the template id derives from it: the same key and spec again (a client
    retry after a lost answer) returns the template made the first time; another spec is 422."""
    merchant = merchants.get(merchant_id)
    now = clock.now()
    validate(spec, merchant, now)
    stores.require_stores(merchant_id, spec.store_ids)
    fingerprint = hashlib.sha256(json.dumps(asdict(spec), default=str, sort_keys=True).encode()).hexdigest()
    if idempotency_key is None:
        template_id = "CT" + ids.new_id()[:16]
    else:
        template_id = idempotency.client_key(merchant_id, "template", idempotency_key).derived_id("CT")
    sizes = shard_sizes(spec.total_stock)
    template = CouponTemplate(
        template_pk(merchant_id),
        template_id,
        merchant_id=merchant_id,
        template_id=template_id,
        name=spec.name,
        kind=spec.kind,
        threshold=spec.threshold,
        amount=spec.amount,
        rate=spec.rate,
        max_discount=spec.max_discount,
        gift_name=spec.gift_name,
        valid_from=spec.valid_from,
        valid_until=spec.valid_until,
        days_after_claim=spec.days_after_claim,
        store_ids=list(spec.store_ids),
        daily_window=list(spec.daily_window) if spec.daily_window else None,
        total_stock=spec.total_stock,
        shards=len(sizes),
        per_member_limit=spec.per_member_limit,
        tier_ids=list(spec.tier_ids),
        points_price=spec.points_price,
        listed=spec.listed,
        fingerprint=fingerprint,
        created_at=now,
    )
    tx = Transaction()  # template, shelf copy, shards and audit together or not at all (at most 19 of 100 items)
    tx.put("template", template, condition=CouponTemplate.sk.does_not_exist())
    if spec.listed:
        tx.put("shelf", shelf_copy(template))
    for i, left in enumerate(sizes):
        tx.put(f"shard:{i}", StockShard(stock_pk(merchant_id, template_id, i), "STOCK", left=left))
    if actor is not None:
        audit.record(tx, actor, "COUPON_TEMPLATE_CREATED", template_id, {"name": spec.name, "stock": spec.total_stock})
    try:
        tx.commit()
    except Cancelled as exc:
        existing = CouponTemplate.get(template_pk(merchant_id), template_id, consistent_read=True)
        if existing.fingerprint != fingerprint:
            raise KabaoError(
                "IDEMPOTENCY_KEY_REUSED", "this idempotency key was already used for another template"
            ) from exc
        return existing
    return template


def get_template(merchant_id: str, template_id: str, reward: bool = False) -> CouponTemplate:
    """An offer (free to claim) or, with `reward`, a points-mall reward; never one for the other."""
    try:
        template = CouponTemplate.get(template_pk(merchant_id), template_id)
    except CouponTemplate.DoesNotExist:
        template = None
    if template is None or not template.listed or (template.points_price is not None) != reward:
        raise KabaoError(
            "REWARD_NOT_FOUND" if reward else "OFFER_NOT_FOUND", "no such reward" if reward else "no such coupon offer"
        )
    return template


def _available(template: CouponTemplate, now: datetime) -> str | None:
    """Why nobody can claim this template now, or None."""
    if not template.active:
        return "OFFER_NOT_AVAILABLE"
    if template.valid_until is not None and now >= template.valid_until:
        return "OFFER_NOT_AVAILABLE"
    return None


def _claimable(template: CouponTemplate, member: Member, now: datetime) -> str | None:
    """Why this member cannot claim now, or None."""
    refusal = _available(template, now)
    if refusal is None and template.tier_ids and member.tier_id not in template.tier_ids:
        return "TIER_NOT_ELIGIBLE"
    return refusal


def _refuse(refusal: str) -> KabaoError:
    return KabaoError(
        refusal,
        "this offer cannot be claimed now"
        if refusal != "TIER_NOT_ELIGIBLE"
        else "this offer is for other membership tiers",
    )


def _eligible(template: CouponTemplate) -> Condition:
    """What `_claimable` and `members.require_card` ask of the member, as a condition on its item."""
    condition = Member.card_number.exists()
    if template.tier_ids:
        condition &= Member.tier_id.is_in(*(str(t) for t in template.tier_ids))
    return condition


def _why_ineligible(merchant_id: str, member_id: str, template: CouponTemplate, now: datetime) -> KabaoError:
    """The member check in a claim's transaction failed: read the member once to say why."""
    member = members.get(merchant_id, member_id)
    members.require_card(member)
    refusal = _claimable(template, member, now)
    if refusal:
        return _refuse(refusal)
    return KabaoError("CONCURRENT_UPDATE", "the member changed during the claim, retry")


@dataclass(frozen=True)
class Offer:
    template: CouponTemplate
    claimed: int


def _sortable(at: datetime) -> str:
    """A time as a key part that sorts as the time does (UTC, fixed width)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


_OPEN_ENDED = "9999-12-31T23:59:59.999999"


def shelf_sk(template: CouponTemplate) -> str:
    """A listed template's place on the shelf: by the end of its window, so ended ones are never read."""
    end = _sortable(template.valid_until) if template.valid_until else _OPEN_ENDED
    return f"{end}#{template.template_id}"


def template_attributes(template: CouponTemplate) -> dict[str, Any]:
    """Every attribute but the key: what a copy of the template (or its next version) starts from."""
    return {name: getattr(template, name) for name in CouponTemplate.get_attributes() if name not in ("pk", "sk")}


def shelf_copy(template: CouponTemplate) -> CouponTemplate:
    """The template's copy on the offer shelf, at its place by end (`shelf_sk`)."""
    return CouponTemplate(shelf_pk(template.merchant_id), shelf_sk(template), **template_attributes(template))


def offers(merchant_id: str, member_id: str, rewards: bool = False) -> list[Offer]:
    """Templates this member can claim now (or, with `rewards`, redeem for points); each listing
    counts as an exposure for the funnel.

    Reads only the shelf's templates whose window has not ended (a copy of each listed template
    is kept there, keyed by its end), and writes one exposure counter item per call."""
    member = members.get(merchant_id, member_id)
    now = clock.now()
    running = CouponTemplate.query(shelf_pk(merchant_id), CouponTemplate.sk > _sortable(now))
    templates = [t for t in running if (t.points_price is not None) == rewards and _claimable(t, member, now) is None]
    mpk = member_pk(merchant_id, member_id)
    counts = (
        {
            c.sk.removeprefix("CLAIMS#"): int(c.n)
            for c in Counter.batch_get([(mpk, f"CLAIMS#{t.template_id}") for t in templates])
        }
        if templates
        else {}
    )
    listed = [Offer(t, counts.get(t.template_id, 0)) for t in templates]
    if listed:
        counters.exposure(merchant_id, member_id, [o.template.template_id for o in listed], now)
    return listed


def exposures(merchant_id: str, template_id: str, day: str) -> int:
    """How often offers listed this template on the merchant's `day` (the funnel's views)."""
    return counters.views(merchant_id, template_id, day)


def coupon_id_for(op_key: str) -> str:
    return "C" + hashlib.sha256(op_key.encode()).hexdigest()[:24]


REMINDER_JOB = "coupon_reminder"
REMIND_BEFORE = timedelta(days=3)


def reminder_slot(coupon_id: str, valid_until: datetime) -> tuple[str, str]:
    """The coupon's place on the expiry-reminder job's list (see functions/lifecycle.py)."""
    return due.slot(REMINDER_JOB, coupon_id, valid_until - REMIND_BEFORE)


def claim(merchant_id: str, member_id: str, template_id: str, idempotency_key: str | None) -> Coupon:
    """Claim one free offer (see the module docstring for what holds under concurrency)."""
    key = idempotency.client_key(merchant_id, "claim", idempotency_key, member_id)
    req = idempotency.request(key, member_id, "CLAIM", {"template_id": template_id})
    coupon_id = key.derived_id("C")
    return idempotency.once(
        req,
        lambda: issue(merchant_id, member_id, get_template(merchant_id, template_id), coupon_id, idem=req),
        lambda _: owned(merchant_id, member_id, coupon_id),
    )


def redeem_reward(merchant_id: str, member_id: str, template_id: str, idempotency_key: str | None) -> Coupon:
    """Points mall: the points leave and the reward (a coupon, or a GIFT coupon for a gift) arrives
    in one transaction; no stock or too few points and nothing changes."""
    key = idempotency.client_key(merchant_id, "reward", idempotency_key, member_id)
    req = idempotency.request(key, member_id, "REWARD", {"template_id": template_id})
    coupon_id = key.derived_id("C")

    def run() -> Coupon:
        template = get_template(merchant_id, template_id, reward=True)
        op = Operation(
            key.op_key,
            req.kind,
            ledger.postings({Account.POINTS: -int(template.points_price)}),
            memo={"template_id": template_id, "name": template.name, "coupon_id": coupon_id},
            idem=req,
        )
        return issue(merchant_id, member_id, template, coupon_id, points=op)

    return idempotency.once(req, run, lambda _: owned(merchant_id, member_id, coupon_id))


def stocked_shards(merchant_id: str, template: CouponTemplate) -> list[int]:
    """The template's shards that held stock when read, in random order (where to try to take one)."""
    candidates = [shard for shard, left in _stock(merchant_id, template).items() if left > 0]
    random.shuffle(candidates)
    return candidates


def take(tx: Transaction, label: str, merchant_id: str, template_id: str, shard: int) -> None:
    """Take one unit of stock from `shard` in `tx`; a shard run dry since it was read cancels it (`label`)."""
    tx.update(
        label,
        StockShard(stock_pk(merchant_id, template_id, shard), "STOCK"),
        actions=[StockShard.left.add(-1)],
        condition=StockShard.left >= 1,
    )


def new_coupon(merchant_id: str, member_id: str, template: CouponTemplate, coupon_id: str, now: datetime) -> Coupon:
    """A coupon of `template` for the member as claimed `now`: terms copied, on the reminder job's list."""
    valid_from = template.valid_from or now
    valid_until = template.valid_until or now + timedelta(days=int(template.days_after_claim))
    due_pk, due_sk = reminder_slot(coupon_id, valid_until)
    return Coupon(
        member_pk(merchant_id, member_id),
        f"COUPON#{coupon_id}",
        coupon_id=coupon_id,
        template_id=template.template_id,
        valid_from=valid_from,
        valid_until=valid_until,
        claimed_at=now,
        due_pk=due_pk,
        due_sk=due_sk,
        lsi1=state_key(AVAILABLE, valid_until, coupon_id),
        **{term: getattr(template, term) for term in COUPON_TERMS},
    )


def issue(
    merchant_id: str,
    member_id: str,
    template: CouponTemplate,
    coupon_id: str,
    points: Operation | None = None,
    per_member_limit: bool = True,
    idem: Request | None = None,
    also: Callable[[Transaction], None] | None = None,
) -> Coupon:
    """Issue one coupon of `template` from its stock, exactly once per `coupon_id`.

    `points` is a ledger operation paid in the same transaction (a reward's price, which
    carries its operation record); `idem` is the record of a claim without one. Gifts the
    merchant sends (birthday, wake-up, an admin's, issue jobs) skip the per-member claim limit.
    `also` adds the caller's own writes to the issuing transaction (an admin's audit record, an
    issue job's result and count): they commit with the coupon or not at all, so a coupon issued
    before is never audited or counted again.

    Without `points` the member is not read: its card and tier are a condition check in the
    transaction. With `points` the ledger writes the member item in that transaction (an item
    is touched once per transaction), so the member is read and checked first.
    """
    template_id = template.template_id
    mpk = member_pk(merchant_id, member_id)
    now = clock.now()
    if points is None:
        refusal = _available(template, now)
    else:
        member = members.get(merchant_id, member_id)
        members.require_card(member)
        refusal = _claimable(template, member, now)
    if refusal:
        raise _refuse(refusal)
    coupon = new_coupon(merchant_id, member_id, template, coupon_id, now)
    limit = int(template.per_member_limit)
    tried: set[int] = set()
    if points is None:
        shard: int | None = random.randrange(int(template.shards))  # a guess, read nothing: most shards have stock
    else:  # a reward weighs the member's points in its transaction: sold out must be answered before that
        left = [i for i, n in _stock(merchant_id, template).items() if n > 0]
        shard = random.choice(left) if left else None
    while shard is not None:
        tried.add(shard)
        tx = Transaction()
        take(tx, "stock", merchant_id, template_id, shard)
        tx.put("coupon", coupon, condition=Coupon.sk.does_not_exist())
        counters.claimed(tx, merchant_id, member_id, coupon_id, now, template_id)
        if points is None:
            tx.check("member", Member, mpk, PROFILE, _eligible(template))
        if per_member_limit:
            tx.update(
                "limit",
                Counter(mpk, f"CLAIMS#{template_id}"),
                actions=[Counter.n.add(1)],
                condition=Counter.n.does_not_exist() | (Counter.n < limit),
            )
        if idem is not None:
            idempotency.stage(tx, idem, {"coupon_id": coupon_id, "template_id": template_id}, at=now)
        if also is not None:
            also(tx)
        try:
            if points is None:
                tx.commit()
            elif ledger.post(merchant_id, member_id, points, tx=tx).replayed:
                return _existing(mpk, coupon_id, template_id) or coupon
            if idem is not None:  # a member's claim (rewards and gifts come with no claim record)
                metrics.count(metrics.COUPON_CLAIMED, template_id=template_id)
            return coupon
        except Cancelled as exc:
            if "coupon" in exc.failed:
                return _existing(mpk, coupon_id, template_id) or coupon
            if "member" in exc.failed:
                raise _why_ineligible(merchant_id, member_id, template, now) from exc
            if "limit" in exc.failed:
                raise KabaoError("CLAIM_LIMIT_REACHED", f"at most {limit} of this coupon per member") from exc
            if "stock" not in exc.failed:
                raise  # e.g. one of the caller's own (`also`) writes was refused
            # That shard is empty: read them all (only now) and try a random one that is not.
            left = [i for i, n in _stock(merchant_id, template).items() if n > 0 and i not in tried]
            shard = random.choice(left) if left else None
    # A retry of a claim that won the last unit finds no stock: it still gets its coupon back.
    replay = _existing(mpk, coupon_id, template_id)
    if replay is not None:
        return replay
    metrics.count(metrics.SOLD_OUT, template_id=template_id)
    raise KabaoError("SOLD_OUT", "this offer is sold out")


def _existing(mpk: str, coupon_id: str, template_id: str) -> Coupon | None:
    try:
        coupon = Coupon.get(mpk, f"COUPON#{coupon_id}", consistent_read=True)
    except Coupon.DoesNotExist:
        return None
    if coupon.template_id != template_id:
        raise KabaoError("IDEMPOTENCY_KEY_REUSED", "this idempotency key was already used for another offer")
    return coupon


def status(coupon: Coupon, now: datetime) -> str:
    """available | used | expired, computed at read time: nothing depends on TTL deleting anything."""
    if coupon.status == "USED":
        return "used"
    return "expired" if now >= coupon.valid_until else "available"


AVAILABLE, USED = "AVAILABLE", "USED"


def state_key(state: str, at: datetime, coupon_id: str) -> str:
    """The coupon's `lsi1`: `COUPON#AVAILABLE#{valid_until}#{id}` until used (those below now have
    expired), then `COUPON#USED#{used_at}#{id}`. A member's coupons of one state are one key range."""
    return f"COUPON#{state}#{_sortable(at)}#{coupon_id}"


def _range(wanted: str, now: datetime) -> tuple[Condition, bool]:
    """The key range of one status on the member's index, and whether it is read oldest first."""
    available, cut = f"COUPON#{AVAILABLE}#", f"COUPON#{AVAILABLE}#{_sortable(now)}#~"
    if wanted == "available":  # soonest to expire first
        return Coupon.lsi1.between(cut, available + "~"), True
    if wanted == "expired":  # most recently expired first
        return Coupon.lsi1.between(available, cut), False
    return Coupon.lsi1.startswith(f"COUPON#{USED}#"), False  # most recently used first


def mine(
    merchant_id: str, member_id: str, wanted: str, cursor: str | None = None, limit: int = 100
) -> paging.Page[Coupon]:
    """One page of the member's coupons in one status: reads only that page, whatever else they hold."""
    condition, oldest_first = _range(wanted, clock.now())
    return paging.query(
        Coupon.by_state.query,
        member_pk(merchant_id, member_id),
        {"sk": "COUPON#", "lsi1": f"COUPON#{USED if wanted == 'used' else AVAILABLE}#"},
        cursor,
        limit,
        range_key_condition=condition,
        scan_index_forward=oldest_first,
    )


def available_count(merchant_id: str, member_id: str) -> int:
    """Coupons usable now or later (not used, not expired): a Select=COUNT over their key range only."""
    condition, _ = _range("available", clock.now())
    return Coupon.by_state.count(member_pk(merchant_id, member_id), condition, consistent_read=True)


def _stock(merchant_id: str, template: CouponTemplate) -> dict[int, int]:
    """Units left per shard, all shards in one consistent BatchGetItem."""
    keys = [(stock_pk(merchant_id, template.template_id, i), "STOCK") for i in range(int(template.shards))]
    return {int(s.pk.rsplit("#", 1)[1]): int(s.left) for s in StockShard.batch_get(keys, consistent_read=True)}


def remaining_stock(merchant_id: str, template: CouponTemplate) -> int:
    return sum(_stock(merchant_id, template).values())


def template_terms(template: CouponTerms) -> dict[str, Any]:
    terms: dict[str, Any] = {"kind": template.kind, "name": template.name}
    if template.kind in ("FULL_REDUCTION", "CASH"):
        terms.update(threshold=int(template.threshold), amount=int(template.amount))
    elif template.kind == "DISCOUNT":
        terms.update(rate=int(template.rate or 0), max_discount=int(template.max_discount or 0))
    else:
        terms.update(gift_name=template.gift_name)
    terms.update(store_ids=list(template.store_ids), daily_window=list(template.daily_window or []) or None)
    return terms


# --- at the counter ------------------------------------------------------------------------------


def owned(merchant_id: str, member_id: str, coupon_id: str) -> Coupon:
    """The member's own coupon: another member's coupon id is simply not found in this partition."""
    try:
        return Coupon.get(member_pk(merchant_id, member_id), f"COUPON#{coupon_id}", consistent_read=True)
    except Coupon.DoesNotExist:
        raise KabaoError("COUPON_NOT_FOUND", "this member has no such coupon") from None


def check_usable(coupon: Coupon, store_id: str, now: datetime, tz: str) -> None:
    """Status, validity, store and daily window: what any use of a coupon must pass."""
    if coupon.status == "USED":
        raise KabaoError("COUPON_ALREADY_USED", "this coupon has been used")
    if now >= coupon.valid_until:
        raise KabaoError("COUPON_EXPIRED", "this coupon has expired")
    if now < coupon.valid_from:
        raise KabaoError("COUPON_NOT_APPLICABLE", "this coupon is not valid yet")
    if coupon.store_ids and store_id not in coupon.store_ids:
        raise KabaoError("COUPON_NOT_APPLICABLE", "this coupon is not usable at this store")
    if coupon.daily_window:
        start, end = (time.fromisoformat(str(t)) for t in coupon.daily_window)
        local = now.astimezone(ZoneInfo(tz)).time()
        if not start <= local < end:
            raise KabaoError(
                "COUPON_NOT_APPLICABLE",
                f"this coupon is usable between {coupon.daily_window[0]} and {coupon.daily_window[1]}",
            )


def discount(coupon: Coupon, amount: int, order_amount: int) -> int:
    """Fen off `amount` (the order after tier discount); never more than half of the order."""
    if coupon.kind == "GIFT":
        raise KabaoError("COUPON_NOT_APPLICABLE", "gift coupons are redeemed by code, not at checkout")
    if amount < int(coupon.threshold):
        raise KabaoError("COUPON_NOT_APPLICABLE", f"this coupon needs an order of at least {int(coupon.threshold)} fen")
    if coupon.kind == "DISCOUNT":
        off = min(amount * (100 - int(coupon.rate)) // 100, int(coupon.max_discount))
    else:
        off = int(coupon.amount)
    return min(off, amount, int(order_amount * MAX_DISCOUNT_SHARE))


USED_SHARDS = 8  # a template's used count: one counter item per shard, so a busy template has no hot key


def used_pk(merchant_id: str, template_id: str, shard: int) -> str:
    return f"MCH#{merchant_id}#USED#{template_id}#{shard}"


def _count_use(tx: Transaction, coupon: Coupon, delta: int) -> None:
    """The template's used count, in the transaction of the use (or of the refund that restores it)."""
    merchant_id = coupon.pk.split("#")[1]  # member_pk: MCH#{merchant_id}#MEM#{member_id}
    tx.update(
        "used_count",
        Counter(used_pk(merchant_id, coupon.template_id, random.randrange(USED_SHARDS)), "COUNT"),
        actions=[Counter.n.add(delta)],
    )


def used_counts(merchant_id: str, template_ids: list[str]) -> dict[str, int]:
    """Coupons used (and not restored) per template: every template's shards in one BatchGetItem."""
    keys = [(used_pk(merchant_id, t, i), "COUNT") for t in template_ids for i in range(USED_SHARDS)]
    counts: dict[str, int] = {t: 0 for t in template_ids}
    for item in Counter.batch_get(keys, consistent_read=True) if keys else ():
        template_id = item.pk.rsplit("#", 2)[1]
        counts[template_id] = counts.get(template_id, 0) + int(item.n)
    return counts


def use(tx: Transaction, coupon: Coupon, ref: str, store_id: str, now: datetime) -> None:
    """Mark used in the caller's transaction; a concurrent use of the same coupon cancels it ("coupon")."""
    _count_use(tx, coupon, 1)
    tx.update(
        "coupon",
        coupon,
        condition=Coupon.status == "AVAILABLE",
        actions=[
            Coupon.status.set("USED"),
            Coupon.lsi1.set(state_key(USED, now, coupon.coupon_id)),
            Coupon.used_at.set(now),
            Coupon.used_ref.set(ref),
            Coupon.used_store_id.set(store_id),
            Coupon.due_pk.remove(),
            Coupon.due_sk.remove(),
        ],
    )


def restore(tx: Transaction, coupon: Coupon, ref: str) -> None:
    """Give a used coupon back (its checkout was refunded) when it is still valid."""
    due_pk, due_sk = reminder_slot(coupon.coupon_id, coupon.valid_until)
    _count_use(tx, coupon, -1)
    tx.update(
        "coupon",
        coupon,
        condition=(Coupon.status == "USED") & (Coupon.used_ref == ref),
        actions=[
            Coupon.status.set("AVAILABLE"),
            Coupon.lsi1.set(state_key(AVAILABLE, coupon.valid_until, coupon.coupon_id)),
            Coupon.used_at.remove(),
            Coupon.used_ref.remove(),
            Coupon.used_store_id.remove(),
            Coupon.due_pk.set(due_pk),
            Coupon.due_sk.set(due_sk),
        ],
    )


def redeem_gift(staff: Principal, member_code: str, coupon_id: str, idempotency_key: str | None) -> Coupon:
    """A gift/exchange coupon handed over at the counter: no order amount, just used once, audited."""
    if not staff.store_id:
        raise KabaoError("FORBIDDEN", "this token is not bound to a store")
    store_id = staff.store_id
    key = idempotency.client_key(staff.merchant_id, "gift", idempotency_key)
    member_id = member_codes.resolve(staff.merchant_id, member_code, retry_of=key)
    req = idempotency.request(
        key, member_id, "GIFT_REDEEMED", {"coupon_id": coupon_id, "store_id": store_id}, member_code=member_code
    )

    def run() -> Coupon:
        coupon = owned(staff.merchant_id, member_id, coupon_id)
        if coupon.kind != "GIFT":
            raise KabaoError("COUPON_NOT_APPLICABLE", "only gift coupons are redeemed by code; use checkout")
        now = clock.now()
        check_usable(coupon, store_id, now, merchants.get(staff.merchant_id).timezone)
        tx = Transaction()
        use(tx, coupon, key.derived_id("R"), store_id, now)
        counters.redeemed(tx, staff.merchant_id, key.op_key, now, str(coupon.template_id), 0)
        audit.record(
            tx, staff, "GIFT_REDEEMED", coupon_id, {"member_id": member_id, "gift": coupon.gift_name or ""}, now
        )
        idempotency.stage(tx, req, {"coupon_id": coupon_id}, at=now)
        try:
            tx.commit()
        except Cancelled as exc:
            raise KabaoError("COUPON_ALREADY_USED", "this coupon has just been used") from exc
        return owned(staff.merchant_id, member_id, coupon_id)

    return idempotency.once(req, run, lambda _: owned(staff.merchant_id, member_id, coupon_id))
