"""Every 5 minutes: settle top-ups whose notify was lost, expire unpaid ones, confirm refunds.

Within the Lambda's time: WeChat Pay's timeouts can make a batch outlast it, so the run stops taking
orders before the end and the next run settles the rest."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate

from mini_program_api.telemetry import metrics

from .budget import deadline
from .reported import reported

bp = Blueprint(__name__)


@bp.schedule(Rate(5, unit=Rate.MINUTES), name="reconcile_topups")
def reconcile_topups(event: Any) -> dict[str, Any]:
    from mini_program_api.topup import reconciliation

    result = reconciliation.reconcile(deadline=deadline(event, reconciliation.LONGEST_ORDER_SECONDS))
    report = reported("reconcile_topups", result, event)
    # Due orders include those still waiting to be paid: only a run that finds its whole batch due,
    # run after run, is falling behind (the alarm's threshold is the batch size).
    metrics.count(metrics.RECONCILIATION_DUE, result.due)
    return report
