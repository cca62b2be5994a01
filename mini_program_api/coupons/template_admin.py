"""The back office's view of its coupon templates, and the changes that are safe after issue.

A template's terms are copied onto each coupon at claim, so nothing here reaches a
coupon already in a member's hands: a paused or ended template stops claims (and
gifts and rewards of it), while issued coupons keep working until they expire.
What may change after issue: the name, more stock, a later end of a fixed window,
and whether it is listed. Each change rewrites the template pinned to its
`version` (a concurrent change is 409 CONCURRENT_UPDATE), moves its copy on the
offer shelf (on the shelf while listed and active, keyed by its end), adds stock
to the shards with ADD (so claims running meanwhile are never lost or oversold),
and writes its audit record with the old and new values — one transaction.

Stock only grows, over the template's existing shards (their number is fixed at
creation: stock.shard_count), at most `ADD_SHARDS` of them in one change (a transaction holds 100 items).
Each change forgets this container's copy of the template and of its stock (templates.forget); other
containers' claims see it within templates.CACHE_SECONDS. Claimed = total_stock − what the shards hold. Used
is counted in the transaction of each use and of each refund that gives a coupon back,
over `coupons.USED_SHARDS` counter items (a busy template's uses never meet on one
key), and read with the stock in one BatchGetItem: exact, with bounded reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mini_program_api.coupons import redemption, shelf, templates
from mini_program_api.db.coupon_templates import CouponTemplate, StockShard, shelf_pk, stock_pk, template_pk
from mini_program_api.db.transact import Transaction, at_version, commit_pinned
from mini_program_api.platform import clock, paging
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.staff import audit

MAX_STOCK = 10_000_000  # as coupons.validate
ADD_SHARDS = 64  # shards that take added stock: with the template, its shelf copies and audit, within 100 items


@dataclass(frozen=True)
class Stocked:
    """A template with what its shards hold now."""

    template: CouponTemplate
    remaining: int
    used: int = 0  # coupons of it used and not given back by a refund (coupons.used_counts)

    @property
    def claimed(self) -> int:
        return max(0, int(self.template.total_stock) - self.remaining)


@dataclass(frozen=True)
class TemplateChange:
    """What an admin may change after issue; None leaves it as it is."""

    name: str | None = None
    total_stock: int | None = None
    valid_until: datetime | None = None
    listed: bool | None = None


def status(template: CouponTemplate, now: datetime) -> str:
    """ended (for good) | paused | expired (its window is over) | active."""
    if template.ended_at is not None:
        return "ended"
    if not template.active:
        return "paused"
    if template.valid_until is not None and now >= template.valid_until:
        return "expired"
    return "active"


def get(merchant_id: str, template_id: str) -> CouponTemplate:
    """Any of the merchant's templates (offer, reward or gift); another merchant's id is not found."""
    try:
        return CouponTemplate.get(template_pk(merchant_id), template_id, consistent_read=True)
    except CouponTemplate.DoesNotExist:
        raise KabaoError("TEMPLATE_NOT_FOUND", "no such coupon template") from None


def page(merchant_id: str, cursor: str | None, limit: int) -> paging.Page[Stocked]:
    """One page of templates (by id), each with its live stock: one Query and the page's shards in
    one BatchGetItem (at most 16 per template)."""
    found = paging.query(CouponTemplate.query, template_pk(merchant_id), {"sk": ""}, cursor, limit)
    return paging.Page(with_stock(merchant_id, found.items), found.cursor)


def stocked(merchant_id: str, template_id: str) -> Stocked:
    return with_stock(merchant_id, [get(merchant_id, template_id)])[0]


def with_stock(merchant_id: str, templates: list[CouponTemplate]) -> list[Stocked]:
    keys = [(stock_pk(merchant_id, t.template_id, i), "STOCK") for t in templates for i in range(int(t.shards))]
    left: dict[str, int] = {}
    for shard in StockShard.batch_get(keys, consistent_read=True) if keys else ():
        template_id = shard.pk.rsplit("#", 2)[1]
        left[template_id] = left.get(template_id, 0) + int(shard.left)
    used = redemption.used_counts(merchant_id, [t.template_id for t in templates])
    return [Stocked(t, left.get(t.template_id, 0), used[t.template_id]) for t in templates]


def change(actor: Principal, template_id: str, wanted: TemplateChange) -> CouponTemplate:
    """Apply what is safe after issue; values equal to the current ones change nothing (and record nothing)."""
    old = _open(actor.merchant_id, template_id)
    now = clock.now()
    changes: dict[str, Any] = {}
    if wanted.name is not None and wanted.name != old.name:
        changes["name"] = wanted.name
    if wanted.total_stock is not None and wanted.total_stock != int(old.total_stock):
        if not int(old.total_stock) < wanted.total_stock <= MAX_STOCK:
            raise KabaoError("VALIDATION_ERROR", f"total_stock can only grow, up to {MAX_STOCK}")
        changes["total_stock"] = wanted.total_stock
    if wanted.valid_until is not None and wanted.valid_until != old.valid_until:
        if old.valid_until is None:
            raise KabaoError("VALIDATION_ERROR", "this template's coupons last days_after_claim: it has no end to move")
        if wanted.valid_until < old.valid_until or wanted.valid_until <= now:
            raise KabaoError("VALIDATION_ERROR", "valid_until can only move later, and into the future")
        changes["valid_until"] = wanted.valid_until
    if wanted.listed is not None and wanted.listed != old.listed:
        changes["listed"] = wanted.listed
    if not changes:
        return old
    tx = Transaction()
    if "total_stock" in changes:
        _add_stock(tx, old, changes["total_stock"] - int(old.total_stock))
    return _save(actor, old, changes, "COUPON_TEMPLATE_CHANGED", tx)


def pause(actor: Principal, template_id: str) -> CouponTemplate:
    old = _open(actor.merchant_id, template_id)
    return _save(actor, old, {"active": False}, "COUPON_TEMPLATE_PAUSED") if old.active else old


def resume(actor: Principal, template_id: str) -> CouponTemplate:
    old = _open(actor.merchant_id, template_id)
    return old if old.active else _save(actor, old, {"active": True}, "COUPON_TEMPLATE_RESUMED")


def end(actor: Principal, template_id: str) -> CouponTemplate:
    """For good: no claims, no resume; ending an ended template again changes nothing."""
    old = get(actor.merchant_id, template_id)
    if old.ended_at is not None:
        return old
    return _save(actor, old, {"active": False, "ended_at": clock.now()}, "COUPON_TEMPLATE_ENDED")


def _open(merchant_id: str, template_id: str) -> CouponTemplate:
    template = get(merchant_id, template_id)
    if template.ended_at is not None:
        raise KabaoError("TEMPLATE_ENDED", "this template has ended; create a new one")
    return template


def _add_stock(tx: Transaction, template: CouponTemplate, extra: int) -> None:
    """Spread `extra` over the existing shards (the first `ADD_SHARDS`) as creation does; ADD, so concurrent
    claims still count."""
    shards = min(ADD_SHARDS, int(template.shards))
    for i in range(shards):
        share = extra // shards + (1 if i < extra % shards else 0)
        if share:
            tx.update(
                f"shard:{i}",
                StockShard(stock_pk(template.merchant_id, template.template_id, i), "STOCK"),
                actions=[StockShard.left.add(share)],
            )


def _on_shelf(template: CouponTemplate) -> bool:
    return bool(template.listed and template.active and template.ended_at is None)


def _save(
    actor: Principal, old: CouponTemplate, changes: dict[str, Any], action: str, tx: Transaction | None = None
) -> CouponTemplate:
    version = int(old.version or 0)
    new = CouponTemplate(old.pk, old.sk, **{**shelf.template_attributes(old), **changes, "version": version + 1})
    tx = tx or Transaction()
    tx.put("template", new, condition=CouponTemplate.sk.exists() & at_version(CouponTemplate, version))
    if _on_shelf(old) and (not _on_shelf(new) or shelf.shelf_sk(old) != shelf.shelf_sk(new)):
        tx.delete("off_shelf", CouponTemplate(shelf_pk(old.merchant_id), shelf.shelf_sk(old)))
    if _on_shelf(new):
        tx.put("shelf", shelf.shelf_copy(new))
    audit.record(tx, actor, action, old.template_id, audit.changes({k: getattr(old, k) for k in changes}, changes))
    try:
        commit_pinned(tx, "template", "template")
    finally:
        templates.forget(old.merchant_id, old.template_id)
    return new
