"""Top-up orders: the prepay, the prepaid cap held when the order is made, and the credit, exactly once.

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
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from mini_program_api.db.models import PROFILE, Member, Merchant, member_pk
from mini_program_api.db.topups import TopupOrder, topup_pk
from mini_program_api.db.transact import Cancelled, Transaction
from mini_program_api.jobs import due
from mini_program_api.merchants import merchants
from mini_program_api.money import idempotency, ledger
from mini_program_api.money.ledger import Account, Operation
from mini_program_api.platform import clock
from mini_program_api.platform.config import settings
from mini_program_api.platform.errors import KabaoError
from mini_program_api.platform.secrets import SecretRefused, resolve_merchant
from mini_program_api.webhooks import events, outbox

if TYPE_CHECKING:
    from mini_program_api.wechat.pay import WeChatPayApi
    from mini_program_api.wechat.pay_config import PayConfig

log = logging.getLogger(__name__)

PENDING, PAID, CLOSED = "PENDING", "PAID", "CLOSED"
REFUNDING, REFUNDED, REFUND_ABNORMAL, REFUND_FAILED = "REFUNDING", "REFUNDED", "REFUND_ABNORMAL", "REFUND_FAILED"
ORDER_TTL = timedelta(minutes=30)
RECONCILE_AFTER = timedelta(minutes=5)
JOB = "topup"
BATCH = 200  # orders per reconciliation run; the backlog alarm fires when runs keep finding this many
ATTEMPTS = 5


def pay_config(merchant: Merchant, signing: bool = True) -> PayConfig:
    """The merchant's WeChat Pay set-up with its secrets resolved: what the client (`pay_api`) and a notify's
    check (wechat/pay_notify.py) are built from. Without `signing`, the API private key is left unread (empty):
    a notify only verifies and decrypts, and signs a request only to fetch platform certificates, for which it
    asks again with it (an SSM read fewer on a cold notify in AWS)."""
    from mini_program_api.wechat.pay_config import PayConfig  # here: a checkout imports this module, not WeChat

    pay = merchant.pay
    if pay is None:
        raise KabaoError("PAYMENT_NOT_CONFIGURED", "this merchant has not set up WeChat Pay")
    try:
        private_key = resolve_merchant(merchant.merchant_id, pay.private_key_ref) if signing else ""
        apiv3_key = resolve_merchant(merchant.merchant_id, pay.apiv3_key_ref)
        public_key = resolve_merchant(merchant.merchant_id, pay.public_key_ref) if pay.public_key_ref else None
    except SecretRefused:
        # A stored reference refused (another merchant's, platform/secrets.py): WeChat Pay is not usable as set
        # up, which the merchant must fix; not a 500 on a member's top-up or on WeChat Pay's open notify URL.
        raise KabaoError("PAYMENT_NOT_CONFIGURED", "this merchant's WeChat Pay keys are not usable") from None
    return PayConfig(
        mchid=pay.mchid,
        appid=merchant.appid,
        cert_serial_no=pay.cert_serial_no,
        private_key=private_key,
        apiv3_key=apiv3_key,
        public_key=public_key,
        public_key_id=pay.public_key_id,
    )


def pay_api(merchant: Merchant) -> WeChatPayApi:
    config = pay_config(merchant)
    # Imported on first payment, not at the top: wechatpayv3, cryptography and requests cost every cold start.
    from mini_program_api.wechat.pay import for_config

    return for_config(config)


def notify_url(merchant_id: str) -> str:
    return f"{settings().public_url}/v1/wechatpay/notify/{merchant_id}"


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
    held = (Member.pending_topup == pending) & (Member.principal <= cap - pending - amount)
    return held & Member.erased_at.does_not_exist()  # an erasure that committed first leaves nothing to pay into


def slot(order_id: str, at: datetime) -> list[Action]:
    due_pk, due_sk = due.slot(JOB, order_id, at)
    return [TopupOrder.due_pk.set(due_pk), TopupOrder.due_sk.set(due_sk), *due.settled(TopupOrder)]


UNSLOT = due.unslot(TopupOrder)


def load(merchant_id: str, order_id: str) -> TopupOrder:
    try:
        return TopupOrder.get(topup_pk(merchant_id, order_id), "ORDER", consistent_read=True)
    except TopupOrder.DoesNotExist:
        raise KabaoError("ORDER_NOT_FOUND", "no such top-up order") from None


def get_order(merchant_id: str, member_id: str, order_id: str) -> TopupOrder:
    """Only its owner sees an order; anyone else gets the same 404 as for no order at all."""
    order = load(merchant_id, order_id)
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
    (money/idempotency.py: the key's plan and amount, and the order id) are one write.
    """
    # Here: the notify and reconciliation, which credit orders, import this module cold and need none of these.
    from mini_program_api.members import members, order_refs
    from mini_program_api.platform import ids

    key = idempotency.client_key(merchant_id, "topup", idempotency_key, member_id)
    idem = idempotency.request(key, member_id, "TOPUP_ORDER", {"plan_id": plan_id, "amount": amount})
    merchant = merchants.get(merchant_id)
    api = pay_api(merchant)
    amount, bonus = _price(merchant, plan_id, amount)
    mpk = member_pk(merchant_id, member_id)
    now = clock.now()
    order_id, expires_at, prepay_id = "T" + ids.new_id()[:27], now + ORDER_TTL, None
    for _ in range(ATTEMPTS):
        record = idempotency.first(idem)
        if record is not None:
            existing = load(merchant_id, str(record.result["order_id"]))
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
    for _ in range(ATTEMPTS):
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
                *UNSLOT,
            ],
            condition=TopupOrder.status == order.status,
        )
        # A CLOSED order already released its reservation; a PENDING one releases it now.
        release = [Member.pending_topup.add(-int(order.amount))] if order.status == PENDING else []
        outbox.add(tx, merchant.merchant_id, order.member_id, events.TOPUP_PAID, events.topup(order, PAID))
        try:
            return not ledger.post(merchant.merchant_id, order.member_id, op, tx=tx, member_actions=release).replayed
        except Cancelled:
            order = load(merchant.merchant_id, order.order_id)
    raise KabaoError("CONCURRENT_UPDATE", "order changed during crediting, WeChat will retry")


# --- reconciliation ----------------------------------------------------------------------------


# --- refunds ----------------------------------------------------------------------------------
