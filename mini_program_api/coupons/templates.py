"""Coupon templates: the rules a template must meet (WeChat's 3 days, at most half off), creating one with its
stock shards and shelf copy in one transaction, and reading one as an offer or a points-mall reward.

A claim reads its template from a per-container copy kept `CACHE_SECONDS` (`get_template`): every claim of a
drop read one item, `MCH#{mid}#CTPL`, 8 times a partition's read limit at 50 000 claims/s; now each container
reads it once per `CACHE_SECONDS`. So a pause, an end or a change made through another container reaches claims
here within `CACHE_SECONDS`, and at once in the container that made it (template_admin forgets its copy, and
the offers' shelf copy with it: `forget`). Stock is never cached: it is a condition of the claim's own
transaction, so no cached copy can oversell.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta
from typing import Any

from mini_program_api.coupons import shelf, stock
from mini_program_api.coupons.redemption import MAX_DISCOUNT_PERCENT
from mini_program_api.db.coupon_templates import CouponTemplate, StockShard, stock_pk, template_pk
from mini_program_api.db.coupons import CouponTerms
from mini_program_api.db.models import Merchant
from mini_program_api.db.transact import Cancelled, Transaction, put_new
from mini_program_api.merchants import merchants
from mini_program_api.money import idempotency
from mini_program_api.platform import clock, ids
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.container_copy import ContainerCopy
from mini_program_api.platform.errors import KabaoError
from mini_program_api.staff import audit, stores

KINDS = ("FULL_REDUCTION", "DISCOUNT", "GIFT", "CASH")


MIN_VALID_DAYS = 3  # WeChat's rule: every coupon is usable for at least 3 days, fixed window or relative


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
        if not 0 < spec.amount * 100 <= spec.threshold * MAX_DISCOUNT_PERCENT:
            raise _invalid("满减: amount must be positive and at most half of the threshold")
    elif spec.kind == "DISCOUNT":
        if spec.rate is None or not 100 - MAX_DISCOUNT_PERCENT <= spec.rate < 100:
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
    sizes = stock.shard_sizes(spec.total_stock)
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
        tx.put("shelf", shelf.shelf_copy(template))
    shards = [StockShard(stock_pk(merchant_id, template_id, i), "STOCK", left=left) for i, left in enumerate(sizes)]
    if len(shards) <= stock.MIN_STOCK_SHARDS:
        for i, shard in enumerate(shards):
            tx.put(f"shard:{i}", shard)
    else:
        # A big stock's shards (up to 256) do not fit one transaction (100 items): each is put first, never over
        # one that exists (a retry of this creation must not refill a shard claims took from), and nothing can
        # claim from them before the template's transaction commits. A key used before is answered first: its
        # template's shards exist, and another spec's (a 422) would add stock items of its own.
        if idempotency_key is not None:
            made = _made_before(merchant_id, template_id, fingerprint)
            if made is not None:
                return made
        for shard in shards:
            put_new(shard)
    if actor is not None:
        audit.record(tx, actor, "COUPON_TEMPLATE_CREATED", template_id, {"name": spec.name, "stock": spec.total_stock})
    try:
        tx.commit()
    except Cancelled:
        existing = _made_before(merchant_id, template_id, fingerprint)
        if existing is None:
            raise
        return existing
    finally:
        shelf.forget(merchant_id)  # this container's next listing shows the new offer at once
    return template


def _made_before(merchant_id: str, template_id: str, fingerprint: str) -> CouponTemplate | None:
    """The template an Idempotency-Key made before (None: none yet); made from another spec, 422."""
    try:
        existing = CouponTemplate.get(template_pk(merchant_id), template_id, consistent_read=True)
    except CouponTemplate.DoesNotExist:
        return None
    if existing.fingerprint != fingerprint:
        raise KabaoError("IDEMPOTENCY_KEY_REUSED", "this idempotency key was already used for another template")
    return existing


CACHE_SECONDS = shelf.CACHE_SECONDS  # one window for the claim's template and the listing's shelf
_copies: ContainerCopy[tuple[str, str], CouponTemplate] = ContainerCopy(CACHE_SECONDS)


def cached(merchant_id: str, template_id: str) -> CouponTemplate | None:
    """The template as this container read it within `CACHE_SECONDS`, else read now (None: no such template).

    A missing template is not remembered: one created a moment later is claimable at once."""

    def read() -> CouponTemplate | None:
        try:
            return CouponTemplate.get(template_pk(merchant_id), template_id)
        except CouponTemplate.DoesNotExist:
            return None

    return _copies.get((merchant_id, template_id), read)


def forget(merchant_id: str, template_id: str) -> None:
    """The template was written here: this container's claims and listings read it afresh (and its stock)."""
    _copies.forget((merchant_id, template_id))
    shelf.forget(merchant_id)
    stock.forget(merchant_id, template_id)


def get_template(merchant_id: str, template_id: str, reward: bool = False) -> CouponTemplate:
    """An offer (free to claim) or, with `reward`, a points-mall reward; never one for the other (the
    container's copy, `cached`)."""
    template = cached(merchant_id, template_id)
    if template is None or not template.listed or (template.points_price is not None) != reward:
        raise KabaoError(
            "REWARD_NOT_FOUND" if reward else "OFFER_NOT_FOUND", "no such reward" if reward else "no such coupon offer"
        )
    return template


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
