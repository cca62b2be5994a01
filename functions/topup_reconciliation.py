"""Every 5 minutes: settle top-ups whose notify was lost, expire unpaid ones, confirm refunds."""

from __future__ import annotations

import dataclasses
from typing import Any

from chalice import Blueprint, Rate

from mini_program_api.telemetry import logs, metrics

bp = Blueprint(__name__)


@bp.schedule(Rate(5, unit=Rate.MINUTES), name="reconcile_topups")
def reconcile_topups(event: Any) -> dict[str, Any]:
    from mini_program_api.topup import reconciliation

    result = reconciliation.reconcile()
    report = dataclasses.asdict(result)
    logs.job("reconcile_topups", report, getattr(event, "context", None))
    metrics.job_run("reconcile_topups", result.due, len(result.failed))
    # Due orders include those still waiting to be paid: only a run that finds its whole batch due,
    # run after run, is falling behind (the alarm's threshold is the batch size).
    metrics.count(metrics.RECONCILIATION_DUE, result.due)
    return report
