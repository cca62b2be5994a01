"""Reconciliation: what WeChat Pay knows and a notify may have missed, settled from the due list every few
minutes: lost notifies credited, expired orders closed, pending refunds asked after and sent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mini_program_api.db.models import PROFILE, Member, Merchant, member_pk
from mini_program_api.db.topups import TopupOrder
from mini_program_api.db.transact import Cancelled, Transaction, update_if
from mini_program_api.jobs import runner
from mini_program_api.merchants import merchants
from mini_program_api.platform import clock
from mini_program_api.telemetry import metrics
from mini_program_api.topup import orders, refunds
from mini_program_api.wechat import pay

# The most one order can take: an expired one is queried, closed and queried again, each call up to WeChat
# Pay's connect and read timeouts. The run stops taking orders this long before the Lambda's end, so the last
# order it takes is never cut off mid-way.
LONGEST_ORDER_SECONDS = 3 * sum(pay.TIMEOUT) + 5


@dataclass
class Reconciled(runner.Report):
    job: str = orders.JOB
    credited: int = 0
    closed: int = 0
    waiting: int = 0
    refunds_settled: int = 0


def reconcile(now: datetime | None = None, limit: int = orders.BATCH, deadline: float | None = None) -> Reconciled:
    """Settle what WeChat knows and we may have missed: lost notifies, expired orders, pending refunds.

    Each order may wait on WeChat Pay's timeouts (a query, a close, a refund), so a batch can outlast the
    Lambda: the run stops taking orders at `deadline` (functions/budget.py) and the rest stay due for the
    next run. Safe to run twice or concurrently: every transition is conditional and every credit goes
    through the same exactly-once path as the notify.
    """
    at = now or clock.now()
    report = Reconciled()

    def settle(pk: str, sk: str) -> None:
        try:
            order = TopupOrder.get(pk, sk, consistent_read=True)
        except TopupOrder.DoesNotExist:
            return
        _reconcile_one(order, at, report)

    return runner.due_list(report, TopupOrder, settle, at, limit, deadline)


def _reconcile_one(order: TopupOrder, now: datetime, report: Reconciled) -> None:
    merchant = merchants.get(order.merchant_id)
    api = orders.pay_api(merchant)
    if order.status == orders.PENDING:
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
            _reschedule(order, min(now + orders.RECONCILE_AFTER, order.expires_at))
            report.waiting += 1
    elif order.status == orders.REFUNDING:
        remote = api.query_refund(refunds.out_refund_no(order))
        if remote is None:
            refunds.issue_refund(api, order)
            _reschedule(order, now + orders.RECONCILE_AFTER)
        elif remote.get("status") == "PROCESSING":
            _reschedule(order, now + orders.RECONCILE_AFTER)
        else:
            refunds.apply_refund_status(order, str(remote.get("status")))
            report.refunds_settled += 1
    else:
        _reschedule(order, None)  # a stale index entry: the order settled since


def _credit_missed(merchant: Merchant, order: TopupOrder, remote: dict[str, Any], report: Reconciled) -> None:
    """Credit a payment whose notify never came (or has not come yet)."""
    credited = orders.credit(merchant, order, remote)
    report.credited += 1
    if credited:
        metrics.count(metrics.TOPUP_CREDITED, source="reconciliation")
        metrics.count(metrics.RECONCILIATION_CREDIT)


def _reschedule(order: TopupOrder, at: datetime | None) -> None:
    # If it moved on meanwhile, its own transition already set or cleared its slot.
    update_if(order, orders.slot(order.order_id, at) if at else orders.UNSLOT, TopupOrder.status == order.status)


def _close(order: TopupOrder, now: datetime) -> None:
    tx = Transaction()
    tx.update(
        "order",
        order,
        actions=[TopupOrder.status.set(orders.CLOSED), TopupOrder.closed_at.set(now), *orders.UNSLOT],
        condition=TopupOrder.status == orders.PENDING,
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
