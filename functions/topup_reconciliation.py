"""Every 5 minutes: settle top-ups whose notify was lost, expire unpaid ones, confirm refunds."""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

from chalice import Blueprint, Rate

from mini_program_api import topup

bp = Blueprint(__name__)
log = logging.getLogger(__name__)


@bp.schedule(Rate(5, unit=Rate.MINUTES), name="reconcile_topups")
def reconcile_topups(event: Any) -> dict[str, Any]:
    report = dataclasses.asdict(topup.reconcile())
    log.info("top-up reconciliation", extra=report)
    return report
