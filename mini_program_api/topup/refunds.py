"""Refunds of a whole top-up: the principal back through WeChat Pay, the bonus that came with it clawed back, and
every answer WeChat can give settled without paying twice or putting principal over the cap (the rules are in
orders.py's docstring).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from mini_program_api.db.models import Merchant
from mini_program_api.db.topups import TopupOrder
from mini_program_api.db.transact import Cancelled, Transaction, update_if
from mini_program_api.members import members
from mini_program_api.merchants import merchants
from mini_program_api.money import ledger
from mini_program_api.money.ledger import Account, Operation
from mini_program_api.platform import clock
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.staff import audit
from mini_program_api.telemetry import metrics
from mini_program_api.topup import orders
from mini_program_api.webhooks import events, outbox

if TYPE_CHECKING:
    from mini_program_api.wechat.pay import WeChatPayApi

log = logging.getLogger(__name__)


def out_refund_no(order: TopupOrder) -> str:
    return f"{order.order_id}R{int(order.refund_attempt)}"


def terms(amount: int, bonus: int, principal: int, bonus_held: int) -> tuple[int, int]:
    """(cash paid back, bonus clawed back) for refunding a whole top-up of `amount` principal that came with
    `bonus`, from a member holding `principal` and `bonus_held`. Kept apart from `refund`, which reads and writes,
    so the rule is tested on its own (tests/unit): the principal goes back whole or not at all
    (REFUND_PRINCIPAL_SPENT), the bonus as far as the member still holds it, and what was spent of it is kept out
    of the cash."""
    if principal < amount:
        raise KabaoError("REFUND_PRINCIPAL_SPENT", "principal from this top-up was already spent")
    clawback = min(bonus, bonus_held)
    # Bonus spent beyond what was paid leaves nothing to pay back (never less than nothing).
    return max(0, amount - (bonus - clawback)), clawback


def refund(actor: Principal, order_id: str) -> TopupOrder:
    """Refund a paid top-up (see the module docstring for what is returned and kept); audited."""
    merchant_id, operator_id = actor.merchant_id, actor.subject
    merchant = merchants.get(merchant_id)
    api = orders.pay_api(merchant)
    order = orders.load(merchant_id, order_id)
    for _ in range(orders.ATTEMPTS):
        if order.status in (orders.REFUNDING, orders.REFUNDED):
            break
        if order.status != orders.PAID:
            raise KabaoError("ORDER_NOT_REFUNDABLE", f"a {order.status} order cannot be refunded")
        member = members.get(merchant_id, order.member_id)
        refund_amount, clawback = terms(int(order.amount), int(order.bonus), int(member.principal), int(member.bonus))
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
            [TopupOrder.status.set(orders.REFUNDED), TopupOrder.refunded_at.set(now), *orders.UNSLOT]
            if refund_amount == 0
            else [TopupOrder.status.set(orders.REFUNDING), *orders.slot(order_id, now + orders.RECONCILE_AFTER)]
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
            condition=(TopupOrder.status == orders.PAID) & (TopupOrder.refund_attempt == attempt),
        )
        audit.record(tx, actor, "TOPUP_REFUND", order_id, {"member_id": order.member_id, "amount": refund_amount})
        outbox.add(tx, merchant_id, order.member_id, events.TOPUP_REFUNDED, events.topup_refund(order, refund_amount))
        try:
            if not ledger.post(merchant_id, order.member_id, op, tx=tx).replayed:
                metrics.count(metrics.REFUND_REQUESTED, amount=refund_amount)
        except KabaoError as exc:
            if exc.code != "INSUFFICIENT_BALANCE":
                raise
        except Cancelled:
            pass
        order = orders.load(merchant_id, order_id)
    if order.status not in (orders.REFUNDING, orders.REFUNDED):
        raise KabaoError("CONCURRENT_UPDATE", "balance changed during the refund, retry")
    if order.status == orders.REFUNDING:
        try:
            issue_refund(api, order)
        except KabaoError:
            log.warning("refund call failed; reconciliation will retry", extra={"order_id": order_id})
        order = orders.load(merchant_id, order_id)
    return order


def issue_refund(api: WeChatPayApi, order: TopupOrder) -> None:
    """Ask WeChat Pay to pay the refund. A refusal for good gives the value back (`_refused`); a
    transient failure raises, and reconciliation tries again later (backing off)."""
    try:
        result = api.refund(
            order.order_id,
            out_refund_no(order),
            int(order.refund_amount),
            int(order.amount),
            orders.notify_url(order.merchant_id),
        )
    except KabaoError as exc:
        if exc.code != "REFUND_REFUSED":
            raise
        _refused(order, str(exc.details.get("wechat_code")))
        return
    if result.get("status") != "PROCESSING":
        apply_refund_status(order, str(result.get("status")))


def settle_refund(merchant: Merchant, resource: dict[str, Any]) -> None:
    order = orders.load(merchant.merchant_id, str(resource.get("out_trade_no")))
    if merchant.pay is None or resource.get("mchid") != merchant.pay.mchid:
        raise KabaoError("NOTIFY_MISMATCH", "refund notify for another merchant")
    if resource.get("out_refund_no") != out_refund_no(order) or order.status != orders.REFUNDING:
        return  # an earlier attempt's news, or already applied
    apply_refund_status(order, str(resource.get("refund_status")))


def _this_attempt(order: TopupOrder) -> Condition:
    return (TopupOrder.status == orders.REFUNDING) & (TopupOrder.refund_attempt == order.refund_attempt)


def apply_refund_status(order: TopupOrder, status: str) -> None:
    if status == "SUCCESS":
        update_if(
            order,
            [TopupOrder.status.set(orders.REFUNDED), TopupOrder.refunded_at.set(clock.now()), *orders.UNSLOT],
            _this_attempt(order),
        )
    elif status == "ABNORMAL":
        update_if(order, [TopupOrder.status.set(orders.REFUND_ABNORMAL), *orders.UNSLOT], _this_attempt(order))
    elif status == "CLOSED" and not _give_back(order, orders.PAID):
        # The card has no room for it any more (topped up meanwhile): the refund stays open and is
        # sent again under a new refund number, so the member still gets the cash, once.
        update_if(
            order, [TopupOrder.refund_attempt.add(1), *orders.slot(order.order_id, clock.now())], _this_attempt(order)
        )


def _refused(order: TopupOrder, wechat_code: str) -> None:
    """WeChat refused the refund for good: the value goes back on the card (REFUND_FAILED); when the card
    has no room for it, it stays debited as REFUND_ABNORMAL for the merchant to pay by hand."""
    log.error("wechat pay refused a refund for good", extra={"order_id": order.order_id, "code": wechat_code})
    metrics.count(metrics.REFUND_REFUSED, code=wechat_code)
    error = [TopupOrder.refund_error.set(wechat_code)]
    if not _give_back(order, orders.REFUND_FAILED, error):
        update_if(order, [TopupOrder.status.set(orders.REFUND_ABNORMAL), *error, *orders.UNSLOT], _this_attempt(order))


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
    for _ in range(orders.ATTEMPTS):
        member = members.get(order.merchant_id, order.member_id)
        if orders.cap_room(merchant, member) < amount:
            return False
        tx = Transaction()
        tx.update(
            "order",
            order,
            condition=_this_attempt(order),
            actions=[TopupOrder.status.set(status), TopupOrder.refund_attempt.add(1), *orders.UNSLOT, *(actions or [])],
        )
        try:
            ledger.post(
                order.merchant_id,
                order.member_id,
                op,
                tx=tx,
                member_condition=orders.within_cap(merchant, member, amount),
            )
            return True
        except Cancelled:
            return True  # the order moved on: reversed or settled already
        except KabaoError as exc:
            if exc.code != "CONCURRENT_UPDATE":
                raise
    raise KabaoError("CONCURRENT_UPDATE", "balance changed while reversing the refund, retry")
