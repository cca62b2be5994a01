"""Nightly report jobs: the stored-value liability check (and the RFM scoring, reports/rfm.py).

Thin: each calls its job in mini_program_api/reports with the Lambda's time budget; both resume
where a timed-out run stopped. 03:00 Shanghai (19:00 UTC), when a merchant's traffic is quiet,
so the liability walk is not made INCONCLUSIVE by sales during it.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Cron

from .budget import deadline
from .reported import reported

bp = Blueprint(__name__)
NIGHT = Cron(0, 19, "*", "*", "?", "*")


@bp.schedule(NIGHT, name="liability_check")
def liability_check(event: Any) -> dict[str, Any]:
    from mini_program_api.reports import liability

    return reported("liability_check", liability.run_all(deadline(event)), event)


@bp.schedule(NIGHT, name="rfm_scoring")
def rfm_scoring(event: Any) -> dict[str, Any]:
    from mini_program_api.reports import rfm

    return reported("rfm_scoring", rfm.run_all(deadline(event)), event)
