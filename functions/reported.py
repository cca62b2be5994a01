"""The end of every scheduled run: its report logged and its backlog counted, the same way for every job."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from mini_program_api.telemetry import logs, metrics

if TYPE_CHECKING:
    from mini_program_api.jobs.runner import Report


def reported(name: str, report: Report, event: Any) -> dict[str, Any]:
    """Log the run's report (logs.job) and emit its due and failed counts (metrics.job_run); returns the report
    as the function's answer."""
    answer = dataclasses.asdict(report)
    logs.job(name, {k: v for k, v in answer.items() if k != "job"}, getattr(event, "context", None))
    metrics.job_run(name, report.due, len(report.failed))
    return answer
