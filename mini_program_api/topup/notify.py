"""WeChat Pay's notifies: verified, decrypted and checked, then a payment credited exactly once (orders.credit)
and a refund's result settled (refunds.settle_refund). A refused notify is counted: WeChat retrying into a
wall, or someone forging them, is alarmed on.
"""

from __future__ import annotations

import logging

from mini_program_api.merchants import merchants
from mini_program_api.platform import clock
from mini_program_api.platform.errors import KabaoError
from mini_program_api.telemetry import metrics
from mini_program_api.topup import orders
from mini_program_api.wechat import pay_notify

log = logging.getLogger(__name__)


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
    # Verified and decrypted without the WeChat Pay client (wechatpayv3, requests): a cold notify is WeChat waiting.
    # The API private key is read only if a platform certificate must be fetched (signed with it).
    event, resource = pay_notify.parse(
        orders.pay_config(merchant, signing=False),
        headers,
        body,
        clock.now().timestamp(),
        signing=lambda: orders.pay_config(merchant),
    )
    if event == "TRANSACTION.SUCCESS":
        if resource.get("trade_state") != "SUCCESS":
            raise KabaoError("NOTIFY_MISMATCH", "payment notify without a successful trade state")
        try:
            order = orders.load(merchant_id, str(resource.get("out_trade_no")))
        except KabaoError:
            log.error("notify for an unknown order", extra={"merchant_id": merchant_id})
            raise KabaoError("NOTIFY_MISMATCH", "notify names an order this merchant never made") from None
        if orders.credit(merchant, order, resource):
            metrics.count(metrics.TOPUP_CREDITED, source="notify")
        else:
            metrics.count(metrics.DUPLICATE_NOTIFY)
    elif event.startswith("REFUND."):
        # Here: most notifies are payments, and a cold one need not load refunds (with the staff audit trail).
        from mini_program_api.topup import refunds

        refunds.settle_refund(merchant, resource)
    else:
        log.info("ignored wechat pay event", extra={"event": event})
