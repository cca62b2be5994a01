"""Stored-value top-ups through WeChat Pay: order, credit exactly once, reconcile, refund.

Order states: PENDING → PAID → REFUNDING → REFUNDED; PENDING → CLOSED when it
expires unpaid (closed at WeChat first). A refund WeChat closes puts the order
back to PAID and the money back on the card; one WeChat marks ABNORMAL (the
member's bank refused it) becomes REFUND_ABNORMAL and stays debited for the
merchant to settle by hand on the WeChat Pay platform, so it is never paid twice.
A refund WeChat refuses for good (400/404: past its one-year window, say) puts
the money back on the card as REFUND_FAILED, with WeChat's code in `refund_error`;
a refund of no cash at all is REFUNDED at once, without asking WeChat.

Rules:

- Credit: ledger op `wxpay:{transaction_id}` writes principal (+ the plan's bonus)
  and marks the order PAID in one transaction, whoever gets there first: the
  notify, a duplicate of it, or reconciliation.
- Prepaid cap: principal + unpaid orders (`Member.pending_topup`) + the new amount
  must stay within the merchant's cap, checked atomically when the order is made.
  A paid order is always credited, even if the cap changed meanwhile: the member's
  money is never refused after it was taken.
- Refund: the whole order only. The member gives back the principal it bought and
  the bonus that came with it; bonus already spent is kept out of the cash refund
  (refund = amount − spent bonus). If principal from it was already spent the
  refund is refused (REFUND_PRINCIPAL_SPENT) — refund what is left by other means.
  Balances are debited when the refund is requested, so they cannot be spent while
  WeChat processes it. Bonus spent beyond the amount paid leaves a refund of 0.
- Putting a refund back never lifts principal over the cap: the order's principal
  goes back whole only if it fits (`cap_room`). A CLOSED refund that no longer fits
  (the member topped up meanwhile) stays REFUNDING and is sent again under a new
  refund number, so the member gets the cash once; a refused one that does not fit
  stays debited as REFUND_ABNORMAL, owed by the merchant by hand.
- Reconciliation tries a failing order again later, backing off (due.defer), so
  orders that keep failing never hold up the ones behind them.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from mini_program_api.db.models import PROFILE, Member, Merchant, TopupOrder, TopupPlan, member_pk, topup_pk
from mini_program_api.db.transact import Cancelled, Transaction, update_if
from mini_program_api.jobs import due
from mini_program_api.members import members, order_refs
from mini_program_api.merchants import merchants
from mini_program_api.money import idempotency, ledger
from mini_program_api.money.ledger import Account, Operation
from mini_program_api.platform import clock, ids
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.config import settings
from mini_program_api.platform.errors import KabaoError
from mini_program_api.platform.secrets import resolve
from mini_program_api.staff import audit
from mini_program_api.telemetry import metrics

if TYPE_CHECKING:
    from mini_program_api.wechat.pay import WeChatPayApi

log = logging.getLogger(__name__)

PENDING, PAID, CLOSED = "PENDING", "PAID", "CLOSED"
REFUNDING, REFUNDED, REFUND_ABNORMAL, REFUND_FAILED = "REFUNDING", "REFUNDED", "REFUND_ABNORMAL", "REFUND_FAILED"
ORDER_TTL = timedelta(minutes=30)
RECONCILE_AFTER = timedelta(minutes=5)
JOB = "topup"
BATCH = 200  # orders per reconciliation run; the backlog alarm fires when runs keep finding this many
_ATTEMPTS = 5


def pay_api(merchant: Merchant) -> WeChatPayApi:
    pay = merchant.pay
    if pay is None:
        raise KabaoError("PAYMENT_NOT_CONFIGURED", "this merchant has not set up WeChat Pay")
    # Imported on first payment, not at the top: wechatpayv3, cryptography and requests cost every cold start.
    from mini_program_api.wechat.pay import PayConfig, for_config

    return for_config(
        PayConfig(
            mchid=pay.mchid,
            appid=merchant.appid,
            cert_serial_no=pay.cert_serial_no,
            private_key=resolve(pay.private_key_ref),
            apiv3_key=resolve(pay.apiv3_key_ref),
            public_key=resolve(pay.public_key_ref) if pay.public_key_ref else None,
            public_key_id=pay.public_key_id,
        )
    )


def notify_url(merchant_id: str) -> str:
    return f"{settings().public_url}/v1/wechatpay/notify/{merchant_id}"


def plans(merchant: Merchant) -> list[TopupPlan]:
    return sorted(merchant.topup_plans, key=lambda p: int(p.amount))


def _price(merchant: Merchant, plan_id: str | None, amount: int | None) -> tuple[int, int]:
    if plan_id is not None:
        plan = next((p for p in merchant.topup_plans if p.plan_id == plan_id), None)
        if plan is None:
            raise KabaoError("PLAN_NOT_FOUND", "no such top-up plan")
        return int(plan.amount), int(plan.bonus)
    assert amount is not None
    low, high = int(merchant.topup_min), int(merchant.topup_max)
    if not low <= amount <= high:
        raise KabaoError(
            "AMOUNT_OUT_OF_RANGE", f"top-up amount must be between {low} and {high} fen", min=low, max=high
        )
    return amount, 0


def cap_room(merchant: Merchant, member: Member) -> int:
    """Principal that may still go onto the card: the cap less principal and unpaid top-ups (a paid
    top-up is always credited, so its hold already counts as principal)."""
    return max(0, int(merchant.prepaid_cap) - int(member.principal) - int(member.pending_topup))


def within_cap(merchant: Merchant, member: Member, amount: int) -> Condition:
    """The member row still has room for `amount` more principal: unpaid top-ups as read, and principal
    at most what leaves that room (a spend since only makes more)."""
    cap, pending = int(merchant.prepaid_cap), int(member.pending_topup)
    return (Member.pending_topup == pending) & (Member.principal <= cap - pending - amount)


def _slot(order_id: str, at: datetime) -> list[Action]:
    due_pk, due_sk = due.slot(JOB, order_id, at)
    return [TopupOrder.due_pk.set(due_pk), TopupOrder.due_sk.set(due_sk), *due.settled(TopupOrder)]


_UNSLOT = due.unslot(TopupOrder)


def _load(merchant_id: str, order_id: str) -> TopupOrder:
    try:
        return TopupOrder.get(topup_pk(merchant_id, order_id), "ORDER", consistent_read=True)
    except TopupOrder.DoesNotExist:
        raise KabaoError("ORDER_NOT_FOUND", "no such top-up order") from None


def get_order(merchant_id: str, member_id: str, order_id: str) -> TopupOrder:
    """Only its owner sees an order; anyone else gets the same 404 as for no order at all."""
    order = _load(merchant_id, order_id)
    if order.member_id != member_id:
        raise KabaoError("ORDER_NOT_FOUND", "no such top-up order")
    return order


# --- ordering --------------------------------------------------------------------------


def create_order(
    merchant_id: str, member_id: str, idempotency_key: str | None, plan_id: str | None, amount: int | None
) -> tuple[TopupOrder, dict[str, str] | None]:
    """Create (or, for a repeated Idempotency-Key, return) an order with its wx.requestPayment params.

    The WeChat prepay comes before the order is written, so the order is written
    once, complete; retries after a lost race reuse the same order id and prepay.
    If the write never succeeds, the prepay is simply never paid: nobody receives
    its pay params, and it expires at WeChat. The order and its operation record
    (idempotency.py: the key's plan and amount, and the order id) are one write.
    """
    key = idempotency.client_key(merchant_id, "topup", idempotency_key, member_id)
    idem = idempotency.request(key, member_id, "TOPUP_ORDER", {"plan_id": plan_id, "amount": amount})
    merchant = merchants.get(merchant_id)
    api = pay_api(merchant)
    amount, bonus = _price(merchant, plan_id, amount)
    mpk = member_pk(merchant_id, member_id)
    now = clock.now()
    order_id, expires_at, prepay_id = "T" + ids.new_id()[:27], now + ORDER_TTL, None
    for _ in range(_ATTEMPTS):
        record = idempotency.first(idem)
        if record is not None:
            existing = _load(merchant_id, str(record.result["order_id"]))
            return existing, api.pay_params(existing.prepay_id) if existing.status == PENDING else None
        member = members.get(merchant_id, member_id)
        members.require_card(member)
        cap, room = int(merchant.prepaid_cap), cap_room(merchant, member)
        if amount > room:
            raise KabaoError("PREPAID_CAP_EXCEEDED", f"stored value may not exceed {cap} fen", cap=cap, room=room)
        prepay_id = prepay_id or api.jsapi_prepay(
            order_id,
            f"{merchant.name} 会员储值",
            amount,
            member.openid,
            clock.iso(expires_at, merchant.timezone),
            notify_url(merchant_id),
        )
        order = TopupOrder(
            topup_pk(merchant_id, order_id),
            "ORDER",
            merchant_id=merchant_id,
            order_id=order_id,
            member_id=member_id,
            openid=member.openid,
            plan_id=plan_id,
            amount=amount,
            bonus=bonus,
            status=PENDING,
            idempotency_key=idempotency_key or "",
            prepay_id=prepay_id,
            created_at=now,
            expires_at=expires_at,
        )
        order.due_pk, order.due_sk = due.slot(JOB, order_id, now + RECONCILE_AFTER)
        tx = Transaction()
        tx.put("order", order, condition=TopupOrder.pk.does_not_exist())
        order_refs.stage(tx, merchant_id, member_id, order_refs.TOPUP, order_id, now)
        idempotency.stage(tx, idem, {"order_id": order_id}, at=now)
        tx.update(
            "member",
            Member(mpk, PROFILE),
            actions=[Member.pending_topup.add(amount)],
            condition=within_cap(merchant, member, amount),
        )
        try:
            tx.commit()
        except Cancelled:
            time.sleep(random.uniform(0, 0.02))
            continue  # same key raced us, or the balance moved: re-read and decide again
        return order, api.pay_params(prepay_id)
    raise KabaoError("CONCURRENT_UPDATE", "too many concurrent changes, retry")


# --- crediting ----------------------------------------------------------------------------


def handle_notify(merchant_id: str, headers: dict[str, str], body: str) -> None:
    """A WeChat Pay notify: verified, decrypted, checked, then applied exactly once."""
    try:
        _handle_notify(merchant_id, headers, body)
    except KabaoError as exc:
        # Refused notifies are WeChat retrying into a wall (or someone forging them): alarmed on.
        metrics.count(metrics.NOTIFY_FAILED, code=exc.code)
        raise


def _handle_notify(merchant_id: str, headers: dict[str, str], body: str) -> None:
    merchant = merchants.get(merchant_id)
    event, resource = pay_api(merchant).parse_notify(headers, body, clock.now().timestamp())
    if event == "TRANSACTION.SUCCESS":
        if resource.get("trade_state") != "SUCCESS":
            raise KabaoError("NOTIFY_MISMATCH", "payment notify without a successful trade state")
        try:
            order = _load(merchant_id, str(resource.get("out_trade_no")))
        except KabaoError:
            log.error("notify for an unknown order", extra={"merchant_id": merchant_id})
            raise KabaoError("NOTIFY_MISMATCH", "notify names an order this merchant never made") from None
        if credit(merchant, order, resource):
            metrics.count(metrics.TOPUP_CREDITED, source="notify")
        else:
            metrics.count(metrics.DUPLICATE_NOTIFY)
    elif event.startswith("REFUND."):
        settle_refund(merchant, resource)
    else:
        log.info("ignored wechat pay event", extra={"event": event})


def _check(merchant: Merchant, order: TopupOrder, transaction: dict[str, Any]) -> None:
    problems = []
    if merchant.pay is None or transaction.get("mchid") != merchant.pay.mchid:
        problems.append("mchid")
    if transaction.get("appid") != merchant.appid:
        problems.append("appid")
    if transaction.get("out_trade_no") != order.order_id:
        problems.append("out_trade_no")
    if transaction.get("amount", {}).get("total") != int(order.amount):
        problems.append("amount")
    if not transaction.get("transaction_id"):
        problems.append("transaction_id")
    if problems:
        log.error(
            "wechat pay transaction does not match its order", extra={"order_id": order.order_id, "fields": problems}
        )
        raise KabaoError("NOTIFY_MISMATCH", f"transaction does not match the order: {', '.join(problems)}")


def credit(merchant: Merchant, order: TopupOrder, transaction: dict[str, Any]) -> bool:
    """Mark the order PAID and credit principal + bonus, once per WeChat transaction. True when this
    call credited it, False when it had been credited already (a duplicate delivery or a race)."""
    _check(merchant, order, transaction)
    transaction_id = str(transaction["transaction_id"])
    postings = ledger.postings({Account.PRINCIPAL: int(order.amount), Account.BONUS: int(order.bonus)})
    op = Operation(
        f"wxpay:{transaction_id}",
        "TOPUP",
        postings,
        memo={"order_id": order.order_id},
        request={"order_id": order.order_id, "amount": int(order.amount)},
    )
    for _ in range(_ATTEMPTS):
        if order.status not in (PENDING, CLOSED):
            if order.transaction_id != transaction_id:
                log.error("order paid twice at WeChat", extra={"order_id": order.order_id})
            return False
        tx = Transaction()
        tx.update(
            "order",
            order,
            actions=[
                TopupOrder.status.set(PAID),
                TopupOrder.transaction_id.set(transaction_id),
                TopupOrder.paid_at.set(clock.now()),
                *_UNSLOT,
            ],
            condition=TopupOrder.status == order.status,
        )
        # A CLOSED order already released its reservation; a PENDING one releases it now.
        release = [Member.pending_topup.add(-int(order.amount))] if order.status == PENDING else []
        try:
            return not ledger.post(merchant.merchant_id, order.member_id, op, tx=tx, member_actions=release).replayed
        except Cancelled:
            order = _load(merchant.merchant_id, order.order_id)
    raise KabaoError("CONCURRENT_UPDATE", "order changed during crediting, WeChat will retry")


# --- reconciliation ----------------------------------------------------------------------------


@dataclass
class Reconciled:
    due: int = 0  # orders found due (at most the batch size): the backlog
    credited: int = 0
    closed: int = 0
    waiting: int = 0
    refunds_settled: int = 0
    failed: list[str] = field(default_factory=list)


def reconcile(now: datetime | None = None, limit: int = BATCH) -> Reconciled:
    """Settle what WeChat knows and we may have missed: lost notifies, expired orders, pending refunds.

    Safe to run twice or concurrently: every transition is conditional and every
    credit goes through the same exactly-once path as the notify.
    """
    now = now or clock.now()
    report = Reconciled()
    owed = list(due.owed(TopupOrder, JOB, now, limit))
    for pk, sk in owed:
        try:
            order = TopupOrder.get(pk, sk, consistent_read=True)
        except TopupOrder.DoesNotExist:
            continue
        try:
            _reconcile_one(order, now, report)
        except Exception as exc:  # noqa: BLE001 - one order's failure, whatever it is, must not stop the rest
            report.failed.append(f"{order.order_id}:{due.failed(JOB, order, now, exc)}")
    report.due = len(owed)
    return report


def _reconcile_one(order: TopupOrder, now: datetime, report: Reconciled) -> None:
    merchant = merchants.get(order.merchant_id)
    api = pay_api(merchant)
    if order.status == PENDING:
        remote = api.query(order.order_id)
        if remote and remote.get("trade_state") in ("SUCCESS", "REFUND"):
            _credit_missed(merchant, order, remote, report)
        elif now >= order.expires_at or (remote and remote.get("trade_state") in ("CLOSED", "REVOKED", "PAYERROR")):
            if remote is not None and not api.close(order.order_id):
                _credit_missed(merchant, order, api.query(order.order_id) or {}, report)
                return
            _close(order, now)
            report.closed += 1
        else:
            _reschedule(order, min(now + RECONCILE_AFTER, order.expires_at))
            report.waiting += 1
    elif order.status == REFUNDING:
        remote = api.query_refund(_out_refund_no(order))
        if remote is None:
            _issue_refund(api, order)
            _reschedule(order, now + RECONCILE_AFTER)
        elif remote.get("status") == "PROCESSING":
            _reschedule(order, now + RECONCILE_AFTER)
        else:
            _apply_refund_status(order, str(remote.get("status")))
            report.refunds_settled += 1
    else:
        _reschedule(order, None)  # a stale index entry: the order settled since


def _credit_missed(merchant: Merchant, order: TopupOrder, remote: dict[str, Any], report: Reconciled) -> None:
    """Credit a payment whose notify never came (or has not come yet)."""
    credited = credit(merchant, order, remote)
    report.credited += 1
    if credited:
        metrics.count(metrics.TOPUP_CREDITED, source="reconciliation")
        metrics.count(metrics.RECONCILIATION_CREDIT)


def _reschedule(order: TopupOrder, at: datetime | None) -> None:
    # If it moved on meanwhile, its own transition already set or cleared its slot.
    update_if(order, _slot(order.order_id, at) if at else _UNSLOT, TopupOrder.status == order.status)


def _close(order: TopupOrder, now: datetime) -> None:
    tx = Transaction()
    tx.update(
        "order",
        order,
        actions=[TopupOrder.status.set(CLOSED), TopupOrder.closed_at.set(now), *_UNSLOT],
        condition=TopupOrder.status == PENDING,
    )
    tx.update(
        "member",
        Member(member_pk(order.merchant_id, order.member_id), PROFILE),
        actions=[Member.pending_topup.add(-int(order.amount))],
    )
    try:
        tx.commit()
    except Cancelled:
        pass  # credited or closed by someone else a moment ago


# --- refunds ----------------------------------------------------------------------------------


def _out_refund_no(order: TopupOrder) -> str:
    return f"{order.order_id}R{int(order.refund_attempt)}"


def refund(actor: Principal, order_id: str) -> TopupOrder:
    """Refund a paid top-up (see the module docstring for what is returned and kept); audited."""
    merchant_id, operator_id = actor.merchant_id, actor.subject
    merchant = merchants.get(merchant_id)
    api = pay_api(merchant)
    order = _load(merchant_id, order_id)
    for _ in range(_ATTEMPTS):
        if order.status in (REFUNDING, REFUNDED):
            break
        if order.status != PAID:
            raise KabaoError("ORDER_NOT_REFUNDABLE", f"a {order.status} order cannot be refunded")
        member = members.get(merchant_id, order.member_id)
        if int(member.principal) < int(order.amount):
            raise KabaoError("REFUND_PRINCIPAL_SPENT", "principal from this top-up was already spent")
        clawback = min(int(order.bonus), int(member.bonus))
        # Bonus spent beyond what was paid leaves nothing to pay back (never less than nothing).
        refund_amount = max(0, int(order.amount) - (int(order.bonus) - clawback))
        attempt = int(order.refund_attempt)
        postings = ledger.postings({Account.PRINCIPAL: -int(order.amount), Account.BONUS: -clawback})
        op = Operation(
            f"refund:{order_id}:{attempt}",
            "TOPUP_REFUND",
            postings,
            memo={"order_id": order_id},
            request={"order_id": order_id, "attempt": attempt},
        )
        now = clock.now()
        # Nothing to pay back: done here, WeChat is never asked (it refuses a refund of 0).
        settle = (
            [TopupOrder.status.set(REFUNDED), TopupOrder.refunded_at.set(now), *_UNSLOT]
            if refund_amount == 0
            else [TopupOrder.status.set(REFUNDING), *_slot(order_id, now + RECONCILE_AFTER)]
        )
        tx = Transaction()
        tx.update(
            "order",
            order,
            actions=[
                TopupOrder.refund_amount.set(refund_amount),
                TopupOrder.bonus_clawback.set(clawback),
                TopupOrder.refund_requested_by.set(operator_id),
                *settle,
            ],
            condition=(TopupOrder.status == PAID) & (TopupOrder.refund_attempt == attempt),
        )
        audit.record(tx, actor, "TOPUP_REFUND", order_id, {"member_id": order.member_id, "amount": refund_amount})
        try:
            if not ledger.post(merchant_id, order.member_id, op, tx=tx).replayed:
                metrics.count(metrics.REFUND_REQUESTED, amount=refund_amount)
        except KabaoError as exc:
            if exc.code != "INSUFFICIENT_BALANCE":
                raise
        except Cancelled:
            pass
        order = _load(merchant_id, order_id)
    if order.status not in (REFUNDING, REFUNDED):
        raise KabaoError("CONCURRENT_UPDATE", "balance changed during the refund, retry")
    if order.status == REFUNDING:
        try:
            _issue_refund(api, order)
        except KabaoError:
            log.warning("refund call failed; reconciliation will retry", extra={"order_id": order_id})
        order = _load(merchant_id, order_id)
    return order


def _issue_refund(api: WeChatPayApi, order: TopupOrder) -> None:
    """Ask WeChat Pay to pay the refund. A refusal for good gives the value back (`_refused`); a
    transient failure raises, and reconciliation tries again later (backing off)."""
    try:
        result = api.refund(
            order.order_id,
            _out_refund_no(order),
            int(order.refund_amount),
            int(order.amount),
            notify_url(order.merchant_id),
        )
    except KabaoError as exc:
        if exc.code != "REFUND_REFUSED":
            raise
        _refused(order, str(exc.details.get("wechat_code")))
        return
    if result.get("status") != "PROCESSING":
        _apply_refund_status(order, str(result.get("status")))


def settle_refund(merchant: Merchant, resource: dict[str, Any]) -> None:
    order = _load(merchant.merchant_id, str(resource.get("out_trade_no")))
    if merchant.pay is None or resource.get("mchid") != merchant.pay.mchid:
        raise KabaoError("NOTIFY_MISMATCH", "refund notify for another merchant")
    if resource.get("out_refund_no") != _out_refund_no(order) or order.status != REFUNDING:
        return  # an earlier attempt's news, or already applied
    _apply_refund_status(order, str(resource.get("refund_status")))


def _this_attempt(order: TopupOrder) -> Condition:
    return (TopupOrder.status == REFUNDING) & (TopupOrder.refund_attempt == order.refund_attempt)


def _apply_refund_status(order: TopupOrder, status: str) -> None:
    if status == "SUCCESS":
        update_if(
            order,
            [TopupOrder.status.set(REFUNDED), TopupOrder.refunded_at.set(clock.now()), *_UNSLOT],
            _this_attempt(order),
        )
    elif status == "ABNORMAL":
        update_if(order, [TopupOrder.status.set(REFUND_ABNORMAL), *_UNSLOT], _this_attempt(order))
    elif status == "CLOSED" and not _give_back(order, PAID):
        # The card has no room for it any more (topped up meanwhile): the refund stays open and is
        # sent again under a new refund number, so the member still gets the cash, once.
        update_if(order, [TopupOrder.refund_attempt.add(1), *_slot(order.order_id, clock.now())], _this_attempt(order))


def _refused(order: TopupOrder, wechat_code: str) -> None:
    """WeChat refused the refund for good: the value goes back on the card (REFUND_FAILED); when the card
    has no room for it, it stays debited as REFUND_ABNORMAL for the merchant to pay by hand."""
    log.error("wechat pay refused a refund for good", extra={"order_id": order.order_id, "code": wechat_code})
    metrics.count(metrics.REFUND_REFUSED, code=wechat_code)
    error = [TopupOrder.refund_error.set(wechat_code)]
    if not _give_back(order, REFUND_FAILED, error):
        update_if(order, [TopupOrder.status.set(REFUND_ABNORMAL), *error, *_UNSLOT], _this_attempt(order))


def _give_back(order: TopupOrder, status: str, actions: Sequence[Action] | None = None) -> bool:
    """Reverse a refund that will not be paid: principal and clawed-back bonus back on the card and the
    order to `status`, in one transaction. False, writing nothing, when the principal would not fit
    under the prepaid cap (the order's principal goes back whole or not at all)."""
    merchant = merchants.get(order.merchant_id)
    attempt, amount = int(order.refund_attempt), int(order.amount)
    postings = ledger.postings({Account.PRINCIPAL: amount, Account.BONUS: int(order.bonus_clawback or 0)})
    op = Operation(
        f"refund-reversal:{order.order_id}:{attempt}",
        "TOPUP_REFUND_REVERSAL",
        postings,
        memo={"order_id": order.order_id},
        request={"order_id": order.order_id, "attempt": attempt},
    )
    for _ in range(_ATTEMPTS):
        member = members.get(order.merchant_id, order.member_id)
        if cap_room(merchant, member) < amount:
            return False
        tx = Transaction()
        tx.update(
            "order",
            order,
            condition=_this_attempt(order),
            actions=[TopupOrder.status.set(status), TopupOrder.refund_attempt.add(1), *_UNSLOT, *(actions or [])],
        )
        try:
            ledger.post(
                order.merchant_id, order.member_id, op, tx=tx, member_condition=within_cap(merchant, member, amount)
            )
            return True
        except Cancelled:
            return True  # the order moved on: reversed or settled already
        except KabaoError as exc:
            if exc.code != "CONCURRENT_UPDATE":
                raise
    raise KabaoError("CONCURRENT_UPDATE", "balance changed while reversing the refund, retry")
