"""Using a coupon: the rules any use must pass, the discount at checkout, the gift handed over at the counter,
and the give-back when a checkout is refunded; each in the caller's transaction.

A template's used count is sharded (`USED_SHARDS` counter items), so a busy template has no hot key.
"""

from __future__ import annotations

import random
from datetime import datetime, time
from zoneinfo import ZoneInfo

from mini_program_api.coupons import held, reminders
from mini_program_api.db.counters import Counter
from mini_program_api.db.coupons import Coupon
from mini_program_api.db.models import ItemKey, Known
from mini_program_api.db.transact import Cancelled, Transaction
from mini_program_api.members import member_codes
from mini_program_api.merchants import merchants
from mini_program_api.money import idempotency
from mini_program_api.platform import clock
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.reports import counters
from mini_program_api.staff import audit
from mini_program_api.webhooks import events, outbox

# A coupon may take at most half of an order (a percentage: no floats near money). Here, with the discount that
# applies it, so a checkout does not load the templates' module (their writing side, the shelf, the stock); the
# templates hold their specs to it.
MAX_DISCOUNT_PERCENT = 50
GIFT_SCOPE = "gift"  # a gift redemption's Idempotency-Keys (money/idempotency.py's client keys)


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
    return min(off, amount, order_amount * MAX_DISCOUNT_PERCENT // 100)


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
    merchant_id, member_id = coupon.pk.split("#")[1::2]  # member_pk: MCH#{merchant_id}#MEM#{member_id}
    outbox.add(tx, merchant_id, member_id, events.COUPON_REDEEMED, events.coupon(coupon, ref))
    tx.update(
        "coupon",
        coupon,
        condition=Coupon.status == "AVAILABLE",
        actions=[
            Coupon.status.set("USED"),
            Coupon.lsi1.set(held.state_key(held.USED, now, coupon.coupon_id)),
            Coupon.used_at.set(now),
            Coupon.used_ref.set(ref),
            Coupon.used_store_id.set(store_id),
            Coupon.due_pk.remove(),
            Coupon.due_sk.remove(),
        ],
    )


def restore(tx: Transaction, coupon: Coupon, ref: str) -> None:
    """Give a used coupon back (its checkout was refunded) when it is still valid."""
    due_pk, due_sk = reminders.reminder_slot(coupon.coupon_id, coupon.valid_until)
    _count_use(tx, coupon, -1)
    tx.update(
        "coupon",
        coupon,
        condition=(Coupon.status == "USED") & (Coupon.used_ref == ref),
        actions=[
            Coupon.status.set("AVAILABLE"),
            Coupon.lsi1.set(held.state_key(held.AVAILABLE, coupon.valid_until, coupon.coupon_id)),
            Coupon.used_at.remove(),
            Coupon.used_ref.remove(),
            Coupon.used_store_id.remove(),
            Coupon.due_pk.set(due_pk),
            Coupon.due_sk.set(due_sk),
        ],
    )


def gift_first_reads(staff: Principal, member_code: str, idempotency_key: str | None) -> list[ItemKey]:
    """What `redeem_gift` reads first (member_codes.reads_ahead): routes/till.py has them read with the session."""
    return member_codes.reads_ahead(staff.merchant_id, GIFT_SCOPE, member_code, idempotency_key)


def redeem_gift(
    staff: Principal, member_code: str, coupon_id: str, idempotency_key: str | None, known: Known | None = None
) -> Coupon:
    """A gift/exchange coupon handed over at the counter: no order amount, just used once, audited."""
    if not staff.store_id:
        raise KabaoError("FORBIDDEN", "this token is not bound to a store")
    store_id = staff.store_id
    key = idempotency.client_key(staff.merchant_id, GIFT_SCOPE, idempotency_key)
    member_id = member_codes.resolve(staff.merchant_id, member_code, retry_of=key, merchant_next=True, known=known)
    req = idempotency.request(
        key, member_id, "GIFT_REDEEMED", {"coupon_id": coupon_id, "store_id": store_id}, member_code=member_code
    )

    def run() -> Coupon:
        coupon = held.owned(staff.merchant_id, member_id, coupon_id)
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
        return held.owned(staff.merchant_id, member_id, coupon_id)

    return idempotency.once(req, run, lambda _: held.owned(staff.merchant_id, member_id, coupon_id))
