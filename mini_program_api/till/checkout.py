"""Checkout at the counter, and its refund: every value change of a sale in ONE transaction.

Price rule, in this order (all fen, all integer, discounts rounded down):

1. tier discount: `amount * (100 - tier.discount_rate) // 100`;
2. coupon: its threshold is checked against the amount after the tier discount,
   and it takes at most half of the order (`coupons.discount`);
3. points: `points * 100 / merchant.points_per_yuan` fen, which must be whole;
4. stored value: bonus first, then principal (stored_value.split);
5. the rest (`cash_due`) is paid at the till by other means.

Points and growth are earned on what money actually paid (stored value + cash),
per whole yuan, with the tier's points multiplier and, on a member day (merchants/member_days.py),
the day's: the day is kept on the order and shown on the receipt. The order, coupon,
points, stored value, growth, tier and audit record are written in one
TransactWriteItems; any failed check leaves all of them untouched.

A sale is one operation per staff Idempotency-Key (merchant-wide, money/idempotency.py):
its record holds the request (member, store, amount, coupon, points, stored value)
and the order id, which comes from the key. A retry returns the first receipt, even
after the member's code has expired; the key with another member or amount is 422.

Spending password (till/spending_password.py): stored value above the member's password-free
limit is taken only with their password, typed at the till where the merchant allows it,
or confirmed on the member's phone: the sale then waits as a pending confirmation
(till/pending_payments.py, two minutes, under the sale's key) and `confirm` completes it under
that key, fingerprint and store, setting the confirmation DONE in the sale's transaction. The password
typed at the till for the same key and request settles that confirmation the same way (the two race
safely: one sale, the other replays it).

Refund (whole order): stored value and points spent come back to the accounts
they came from; points and growth earned are clawed back, but never below zero:
what the member has already spent of them is written off and recorded on the
order (`points_clawed_back` < `points_earned`). The coupon comes back only while
it is still valid. A refund does not lower the tier (the annual review does), and
never takes qualifying growth below zero (tiers.after_clawback). Points given back
are a new lot from the refund on, so they expire like any points earned then.
The refund's points are two ledger entries of its one operation, never netted: the points
given back (`points`, the sale's spend returned) and the points taken back (`points:earned`,
the sale's earning clawed back); the given back may pay for the taken back (ledger's
`credits_first`), so the pinned balance never goes below zero.
Principal goes back only as far as the prepaid cap allows (topup.cap_room: the
member may have topped up the room the sale freed); the rest is paid back at the
till with the sale's cash and shown as `principal_over_cap` within `cash_refund`. Nothing goes back
on an erased member's card: all its principal is paid back that way, and the points, bonus and
coupon the sale spent went with the account.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import NamedTuple

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from mini_program_api.coupons import held, redemption
from mini_program_api.db.coupons import Coupon
from mini_program_api.db.models import PROFILE, ItemKey, Known, Member, Merchant, member_pk
from mini_program_api.db.orders import CheckoutOrder, checkout_pk
from mini_program_api.db.spending import PendingPayment
from mini_program_api.db.transact import Cancelled, Transaction
from mini_program_api.members import due_dates, member_codes, members, order_refs, tiers, upgrades
from mini_program_api.merchants import member_days, merchants
from mini_program_api.money import frozen, idempotency, ledger, stored_value
from mini_program_api.money.idempotency import Request as Idem
from mini_program_api.money.ledger import Account, Operation, Posting
from mini_program_api.platform import clock
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.reports import counters, rfm_months
from mini_program_api.staff import audit
from mini_program_api.till import pending_payments, spending_password, store_sales
from mini_program_api.webhooks import events, outbox

PAID, REFUNDED = "PAID", "REFUNDED"
SCOPE = "checkout"  # a sale's Idempotency-Keys (money/idempotency.py's client keys)
MAX_AMOUNT = 100_000_000  # 1,000,000 yuan: far above any till


class Request(NamedTuple):
    amount: int
    coupon_id: str | None = None
    points: int = 0
    stored_value: int = 0


class Quote(NamedTuple):
    tier_discount: int
    coupon_discount: int
    points_value: int
    bonus_used: int
    principal_used: int
    cash_due: int
    points_earned: int
    growth_earned: int
    member_day_id: str | None = None  # the member day that multiplied the points (merchants/member_days.py)
    member_day_multiplier: int | None = None


def quote(merchant: Merchant, member: Member, coupon: Coupon | None, req: Request, at: datetime | None = None) -> Quote:
    """What this sale at `at` (now by default) costs and earns; raises the 4xx that refuses it."""
    if not 1 <= req.amount <= MAX_AMOUNT or req.points < 0 or req.stored_value < 0:
        raise KabaoError("AMOUNT_OUT_OF_RANGE", "amount must be 1..100000000 fen; points and stored_value >= 0")
    tier = tiers.current(merchant, member.tier_id)
    tier_discount = req.amount * (100 - int(tier.discount_rate)) // 100
    due = req.amount - tier_discount
    coupon_discount = redemption.discount(coupon, due, req.amount) if coupon else 0
    due -= coupon_discount
    per_yuan = int(merchant.points_per_yuan)
    if req.points * 100 % per_yuan:
        raise KabaoError("VALIDATION_ERROR", f"points are spent in multiples of {per_yuan // math.gcd(per_yuan, 100)}")
    points_value = req.points * 100 // per_yuan
    if points_value + req.stored_value > due:
        raise KabaoError("PAYMENT_EXCEEDS_DUE", f"points and stored value exceed the {due} fen due")
    if req.points > int(member.points):
        raise KabaoError("INSUFFICIENT_POINTS", "not enough points")
    if req.stored_value > int(member.principal) + int(member.bonus):
        raise KabaoError("INSUFFICIENT_BALANCE", "not enough stored value")
    bonus_used, principal_used = stored_value.split(req.stored_value, int(member.bonus))
    cash_due = due - points_value - req.stored_value
    paid_yuan = (req.stored_value + cash_due) // 100
    day = member_days.applying(merchant, tier.tier_id, at or clock.now())
    day_multiplier = int(day.multiplier) if day is not None else 100
    return Quote(
        tier_discount,
        coupon_discount,
        points_value,
        bonus_used,
        principal_used,
        cash_due,
        points_earned=paid_yuan
        * int(merchant.earn_points_per_yuan)
        * int(tier.points_multiplier)
        * day_multiplier
        // 10000,
        growth_earned=paid_yuan * int(merchant.growth_per_yuan),
        member_day_id=day.day_id if day is not None else None,
        member_day_multiplier=day_multiplier if day is not None else None,
    )


class Preview(NamedTuple):
    """A quote for the till: what `checkout` would charge and earn now for the same request."""

    member: Member
    quote: Quote
    tier_before: str
    tier_after: str
    confirmation_required: bool  # stored value above the member's password-free limit


def preview(staff: Principal, member_code: str, req: Request) -> Preview:
    """Price a sale exactly as `checkout` would now (the same `_priced`, tier placement and password rule),
    writing nothing: the price shown before charging. It refuses what checkout would refuse, with the same
    codes; a sale may still price differently if the member's balances change before it is made."""
    merchant, store_id = merchants.get(staff.merchant_id), store_of(staff)
    member_id = member_codes.resolve(staff.merchant_id, member_code)
    member, _, q = _priced_unfrozen(merchant, member_id, req, store_id, clock.now())
    confirm = not spending_password.authorize_counter(merchant, member_id, req.stored_value, None)
    return Preview(
        member,
        q,
        tiers.current(merchant, member.tier_id).tier_id,
        tiers.placed(merchant, member, q.growth_earned).tier_id,
        confirm,
    )


def get_order(merchant_id: str, order_id: str) -> CheckoutOrder:
    try:
        return CheckoutOrder.get(checkout_pk(merchant_id, order_id), "ORDER", consistent_read=True)
    except CheckoutOrder.DoesNotExist:
        raise KabaoError("ORDER_NOT_FOUND", "no such order") from None


def order_for(actor: Principal, order_id: str) -> CheckoutOrder:
    """A sale as `actor` may see it: an admin any of the merchant's, staff only their own store's;
    another store's sale is not found, as if it did not exist."""
    order = get_order(actor.merchant_id, order_id)
    if actor.role != "admin" and order.store_id != store_of(actor):
        raise KabaoError("ORDER_NOT_FOUND", "no such order")
    return order


def first_reads(staff: Principal, member_code: str, idempotency_key: str | None) -> list[ItemKey]:
    """What a sale reads first (member_codes.reads_ahead): routes/till.py has them read with the staff session."""
    return member_codes.reads_ahead(staff.merchant_id, SCOPE, member_code, idempotency_key)


def checkout(
    staff: Principal,
    member_code: str,
    req: Request,
    idempotency_key: str | None,
    till_password: str | None = None,
    known: Known | None = None,
) -> CheckoutOrder:
    """A sale by scanned member code. Stored value above the member's password-free limit needs their
    spending password (till/spending_password.py): typed at the till (`till_password`, where the merchant
    allows it), or confirmed on their phone: then this answers 409 CONFIRMATION_REQUIRED with a pending
    confirmation, and the same key returns the receipt once the member confirmed (`confirm`)."""
    merchant_id, store_id = staff.merchant_id, store_of(staff)
    key = idempotency.client_key(merchant_id, SCOPE, idempotency_key)
    order_id = key.derived_id("K")
    member_id = _member(key, member_code, known)
    idem = idempotency.request(
        key, member_id, "CHECKOUT", {**req._asdict(), "store_id": store_id}, member_code=member_code
    )
    merchant = merchants.get(merchant_id)

    def run() -> CheckoutOrder:
        # A password typed at the till may finish a sale that already waits for the member's phone (same key
        # and body): the sale then settles that confirmation in its own transaction, so whichever of the two
        # commits first sells, once, and the other replays its receipt (idempotency.once).
        waiting = pending_payments.waiting(idem) if till_password is not None else None
        if spending_password.authorize_counter(merchant, member_id, req.stored_value, till_password):
            return _sell(staff, merchant, member_id, req, idem, order_id, waiting)
        if idempotency.first(idem) is not None:
            return get_order(merchant_id, order_id)  # confirmed already (or sold before the limit changed)
        _priced_unfrozen(merchant, member_id, req, store_id, clock.now())  # a sale refused now is not put to the member
        pending = pending_payments.open_for(idem, store_id, staff.subject, order_id, req._asdict())
        pending_payments.require_open(pending)
        raise KabaoError(
            "CONFIRMATION_REQUIRED",
            "the member confirms this payment with their spending password "
            "in the mini program; retry this request (same Idempotency-Key) for the receipt",
            confirmation_id=pending.confirmation_id,
            order_id=order_id,
            stored_value=req.stored_value,
            expires_at=clock.iso(pending.expires_at, merchant.timezone),
            till_password=bool(merchant.till_password),  # the till may offer a PIN field (`spending_password`)
        )

    return idempotency.once(idem, run, lambda _: get_order(merchant_id, order_id))


def withdraw(staff: Principal, idempotency_key: str | None) -> tuple[str, CheckoutOrder | None]:
    """The till stops waiting for the member's phone on the sale under its key: ("WITHDRAWN", None), or
    ("DONE", the order) when the member confirmed first (pending_payments.withdraw)."""
    key = idempotency.client_key(staff.merchant_id, SCOPE, idempotency_key)
    pending = pending_payments.withdraw(key, store_of(staff))
    if pending.status == pending_payments.DONE:
        return pending_payments.DONE, get_order(staff.merchant_id, pending.order_id)
    return str(pending.status), None


def confirm(member: Principal, confirmation_id: str, password: str) -> CheckoutOrder:
    """The member confirms a pending counter sale with their spending password: the sale completes under
    the till's key, fingerprint and store, in the same transaction rules as `checkout`, once."""
    merchant_id, member_id = member.merchant_id, member.subject
    pending = pending_payments.get(merchant_id, member_id, confirmation_id)
    if pending.status == pending_payments.DONE:
        return get_order(merchant_id, pending.order_id)
    pending_payments.require_open(pending)
    merchant = merchants.get(merchant_id)
    spending_password.verify(merchant, members.get(merchant_id, member_id), password)
    staff = Principal(merchant_id, pending.staff_id, "staff", pending.store_id)
    idem = Idem(
        idempotency.key(merchant_id, pending.op_key, None),
        member_id,
        "CHECKOUT",
        pending.fingerprint,
        pending.member_code,
    )
    req = Request(int(pending.amount), pending.coupon_id, int(pending.points), int(pending.stored_value))
    return idempotency.once(
        idem,
        lambda: _sell(staff, merchant, member_id, req, idem, pending.order_id, pending, on_phone=True),
        lambda _: get_order(merchant_id, pending.order_id),
    )


def _member(key: idempotency.Key, member_code: str, known: Known | None) -> str:
    """The scanned code's member; a till retrying a sale that waits for the member's confirmation still
    finds them after the code's 60 seconds (pending_payments.member_for)."""
    try:
        return member_codes.resolve(key.merchant_id, member_code, retry_of=key, merchant_next=True, known=known)
    except KabaoError as exc:
        member_id = pending_payments.member_for(key, member_code) if exc.code == "NOT_FOUND" else None
        if member_id is None:
            raise
        return member_id


def _priced(
    merchant: Merchant, member_id: str, req: Request, store_id: str, now: datetime
) -> tuple[Member, Coupon | None, Quote]:
    """The member, coupon and quote of this sale now; raises the 4xx that refuses it."""
    member = members.get(merchant.merchant_id, member_id)
    members.require_card(member)
    coupon = held.owned(merchant.merchant_id, member_id, req.coupon_id) if req.coupon_id else None
    if coupon is not None:
        redemption.check_usable(coupon, store_id, now, merchant.timezone)
    return member, coupon, quote(merchant, member, coupon, req, now)


def _priced_unfrozen(
    merchant: Merchant, member_id: str, req: Request, store_id: str, now: datetime
) -> tuple[Member, Coupon | None, Quote]:
    """`_priced`, refusing a frozen member's points and stored value before the sale: the quote, and before the
    member is asked for their password. The sale itself is refused by its own transaction (money/frozen.py)."""
    member, coupon, q = _priced(merchant, member_id, req, store_id, now)
    if frozen.is_frozen(member) and (req.points or q.bonus_used or q.principal_used):
        raise frozen.refused()
    return member, coupon, q


def _sell(
    staff: Principal,
    merchant: Merchant,
    member_id: str,
    req: Request,
    idem: Idem,
    order_id: str,
    pending: PendingPayment | None = None,
    on_phone: bool = False,
) -> CheckoutOrder:
    """Commit the sale (one transaction, retried while tiers move); `pending`: the confirmation it completes
    (`on_phone`: by the member's password on their phone, otherwise by the one typed at the till)."""
    merchant_id, store_id = merchant.merchant_id, staff.store_id or ""

    def attempt() -> CheckoutOrder:
        now = clock.now()
        member, coupon, q = _priced(merchant, member_id, req, store_id, now)
        tx = Transaction()
        placement = upgrades.after_growth(tx, merchant, member, q.growth_earned, now)
        order = CheckoutOrder(
            checkout_pk(merchant_id, order_id),
            "ORDER",
            merchant_id=merchant_id,
            order_id=order_id,
            member_id=member_id,
            store_id=store_id,
            staff_id=staff.subject,
            fingerprint=idem.fingerprint,
            status=PAID,
            amount=req.amount,
            coupon_id=req.coupon_id,
            points_used=req.points,
            **q._asdict(),
            tier_before=tiers.current(merchant, member.tier_id).tier_id,
            tier_after=placement.tier.tier_id,
            created_at=now,
        )
        tx.put("order", order, condition=CheckoutOrder.pk.does_not_exist())
        order_refs.stage(tx, merchant_id, member_id, order_refs.CHECKOUT, order_id, now)
        store_sales.stage(tx, merchant_id, store_id, order_id, now, merchant.timezone)
        counters.sale(tx, order, coupon.template_id if coupon else None, idem.key.op_key, rfm_months.history(member))
        if coupon is not None:
            redemption.use(tx, coupon, order_id, store_id, now)
        if pending is not None:
            pending_payments.stage_done(tx, pending)
        audit.record(
            tx,
            staff,
            "CHECKOUT",
            order_id,
            {"member_id": member_id, "amount": req.amount, "confirmed_on_phone": int(on_phone)},
            now,
        )
        due_dates.spent(tx, merchant, member, now)
        outbox.add(tx, merchant_id, member_id, events.CHECKOUT_COMPLETED, events.checkout(order))
        due_dates.earned_points(tx, merchant, member, q.points_earned, now)
        postings = ledger.postings(
            {
                Account.POINTS: -req.points,
                Account.BONUS: -q.bonus_used,
                Account.PRINCIPAL: -q.principal_used,
                Account.GROWTH: q.growth_earned,
            }
        )
        if q.points_earned:
            postings += (Posting(Account.POINTS, q.points_earned, leg="earned"),)
        rfm_actions, rfm_condition = rfm_months.on_sale(member, order)
        actions = placement.actions + [Member.last_spend_at.set(now)] + rfm_actions
        try:
            replayed = _post(
                merchant_id,
                member_id,
                tx,
                idem.key.op_key,
                "CHECKOUT",
                postings,
                order_id,
                idem.fingerprint,
                actions,
                rfm_condition if placement.condition is None else placement.condition & rfm_condition,
                idem,
            )
        except Cancelled as exc:
            if "coupon" in exc.failed:
                raise KabaoError("COUPON_ALREADY_USED", "this coupon has just been used") from exc
            if "pending" in exc.failed and pending is not None:
                raise pending_payments.closed(pending) from exc  # (or confirmed meanwhile: `once` replays)
            raise KabaoError("CONCURRENT_UPDATE", "the member changed during checkout, retry") from exc
        return get_order(merchant_id, order_id) if replayed else order

    return tiers.retrying(attempt)


def _post(
    merchant_id: str,
    member_id: str,
    tx: Transaction,
    op_key: str,
    kind: str,
    postings: tuple[Posting, ...],
    order_id: str,
    fingerprint: str,
    actions: list[Action],
    condition: Condition | None,
    idem: Idem | None = None,
    credits_first: bool = False,
) -> bool:
    """Commit `tx` with the sale's ledger entries and its operation record `idem` (True: the operation
    had already run, nothing was written); a sale that moves no balance still pins the member row.
    `credits_first`: see ledger.Operation (a refund's points given back may pay for its clawback)."""
    if not postings:
        pk, pinned = member_pk(merchant_id, member_id), Member.pk.exists() & condition
        if actions:
            tx.update("member", Member(pk, PROFILE), actions=actions, condition=pinned)
        else:
            tx.check("member", Member, pk, PROFILE, pinned)
        if idem is not None:
            idempotency.stage(tx, idem, {"order_id": order_id})
        tx.commit()
        return False
    op = Operation(
        op_key,
        kind,
        postings,
        memo={"order_id": order_id},
        request={"order": fingerprint},
        idem=idem,
        credits_first=credits_first,
    )
    return ledger.post(merchant_id, member_id, op, tx=tx, member_actions=actions, member_condition=condition).replayed


def store_of(staff: Principal) -> str:
    """The store a staff token is bound to: the till's sales and lists are that store's (403 without one)."""
    if not staff.store_id:
        raise KabaoError("FORBIDDEN", "this token is not bound to a store")
    return staff.store_id


def refund(actor: Principal, order_id: str) -> CheckoutOrder:
    """Refund a whole checkout once (see the module docstring); staff only at the order's own store."""
    # Imported here: only a refund puts principal back under the prepaid cap, and a sale's cold first request
    # does not load the top-ups' module.
    from mini_program_api.topup import orders

    merchant_id = actor.merchant_id
    order = order_for(actor, order_id)
    if order.status == REFUNDED:
        return order
    merchant = merchants.get(merchant_id)

    def attempt() -> CheckoutOrder:
        member = members.get(merchant_id, order.member_id)
        now = clock.now()
        # Nothing goes back on an erased card (data_rights/erasure.py): the principal the sale took is paid back
        # at the till with its cash (as principal over the cap is), the points, bonus and coupon it spent went
        # with the account.
        kept = member.erased_at is None
        points_back = int(order.points_used) if kept else 0
        bonus_back = int(order.bonus_used) if kept else 0
        clawed_points = min(int(order.points_earned), int(member.points) + points_back)
        clawed_growth = min(int(order.growth_earned), int(member.growth))
        principal_back = min(int(order.principal_used), orders.cap_room(merchant, member)) if kept else 0
        coupon = held.owned(merchant_id, order.member_id, order.coupon_id) if order.coupon_id and kept else None
        restore = coupon is not None and coupon.used_ref == order_id and now < coupon.valid_until
        tx = Transaction()
        tx.update(
            "order",
            order,
            condition=CheckoutOrder.status == PAID,
            actions=[
                CheckoutOrder.status.set(REFUNDED),
                CheckoutOrder.refunded_at.set(now),
                CheckoutOrder.refunded_by.set(actor.subject),
                CheckoutOrder.points_clawed_back.set(clawed_points),
                CheckoutOrder.growth_clawed_back.set(clawed_growth),
                CheckoutOrder.coupon_restored.set(restore),
                CheckoutOrder.principal_over_cap.set(int(order.principal_used) - principal_back),
            ],
        )
        if restore and coupon is not None:
            redemption.restore(tx, coupon, order_id)
        counters.refund(tx, order, coupon.template_id if coupon else None, restore, f"refund:{order_id}", now)
        audit.record(tx, actor, "CHECKOUT_REFUND", order_id, {"member_id": order.member_id}, now)
        hook = events.checkout_refund(order, clawed_points, principal_back, restore)
        outbox.add(tx, merchant_id, order.member_id, events.CHECKOUT_REFUNDED, hook)
        due_dates.earned_points(tx, merchant, member, points_back - clawed_points, now)
        # Points given back and points taken back are two entries, each mirroring the sale's own (`points`
        # spent, `points:earned`), never netted: the points report shows each as what it is.
        postings = ledger.postings(
            {
                Account.POINTS: points_back,
                Account.BONUS: bonus_back,
                Account.PRINCIPAL: principal_back,
                Account.GROWTH: -clawed_growth,
            }
        )
        if clawed_points:
            postings += (Posting(Account.POINTS, -clawed_points, leg="earned"),)
        pinned = tiers.pinned(member) & (Member.points == int(member.points))
        if principal_back:
            pinned &= orders.within_cap(merchant, member, principal_back)
        try:
            _post(
                merchant_id,
                order.member_id,
                tx,
                f"refund:{order_id}",
                "CHECKOUT_REFUND",
                postings,
                order_id,
                order.fingerprint,
                tiers.after_clawback(member, clawed_growth, order.created_at) + rfm_months.on_refund(member, order),
                pinned,
                credits_first=True,
            )
        except Cancelled as exc:
            if "order" in exc.failed:
                return get_order(merchant_id, order_id)  # refunded by a concurrent request
            raise KabaoError("CONCURRENT_UPDATE", "the member changed during the refund, retry") from exc
        return get_order(merchant_id, order_id)

    return tiers.retrying(attempt)
