"""Nightly report jobs: the stored-value liability check (and the RFM scoring, reports/rfm.py).

Thin: each calls its job in mini_program_api/reports with the Lambda's time budget; both resume
where a timed-out run stopped. 03:00 Shanghai (19:00 UTC), when a merchant's traffic is quiet,
so the liability walk is not made INCONCLUSIVE by sales during it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from chalice import Blueprint, Cron

from mini_program_api.reports import liability, rfm

bp = Blueprint(__name__)
log = logging.getLogger(__name__)
SAFETY_SECONDS = 20.0
NIGHT = Cron(0, 19, "*", "*", "?", "*")


def _deadline(event: Any) -> float | None:
    remaining = getattr(getattr(event, "context", None), "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    seconds = remaining() / 1000
    return time.monotonic() + seconds - min(SAFETY_SECONDS, seconds / 5)


@bp.schedule(NIGHT, name="liability_check")
def liability_check(event: Any) -> dict[str, Any]:
    statuses = liability.run_all(_deadline(event))
    log.info(
        "liability check",
        extra={"merchants": len(statuses), "mismatches": sorted(m for m, s in statuses.items() if s == "MISMATCH")},
    )
    return statuses


@bp.schedule(NIGHT, name="rfm_scoring")
def rfm_scoring(event: Any) -> dict[str, Any]:
    phases = rfm.run_all(_deadline(event))
    log.info(
        "RFM scoring",
        extra={"merchants": len(phases), "unfinished": sorted(m for m, p in phases.items() if p != "DONE")},
    )
    return phases
