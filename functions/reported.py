"""Every scheduled run, the same way for every job: its JSON logs set up before it starts, its report
logged and its backlog counted at its end."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from mini_program_api.telemetry import logs, metrics

if TYPE_CHECKING:
    from mini_program_api.jobs.runner import Report


bp = Blueprint(__name__)


@bp.middleware("scheduled")
@bp.middleware("dynamodb")
def logged(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Give kabao's loggers their JSON handler before the run rather than at its report: on a cold container,
    a record logged during the run (a failed item, a deferred one) would otherwise reach Lambda's root
    handler as plain text, without the keys operations queries by. The table's stream function (wallet_stream)
    too: it is not scheduled and ends with no report, so nothing else would set them up."""
    logs.logger()
    return get_response(event)


def reported(name: str, report: Report, event: Any) -> dict[str, Any]:
    """Log the run's report (logs.job) and emit its due and failed counts (metrics.job_run); returns the report
    as the function's answer."""
    answer = dataclasses.asdict(report)
    logs.job(name, {k: v for k, v in answer.items() if k != "job"}, getattr(event, "context", None))
    metrics.job_run(name, report.due, len(report.failed))
    return answer
