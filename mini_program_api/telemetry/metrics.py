"""Business and job metrics as CloudWatch EMF lines (Powertools Metrics), emitted when the event happens.

Each call prints its own EMF line through a fresh `EphemeralMetrics`, rather than adding to
Powertools' process-wide metric set and flushing at the end of the invocation: the local server
and the tests run requests in threads, and a shared set would mix (or lose) their metrics.
On Lambda this costs one short log line per event, and nothing can be left unflushed.

The names are the alarms' contract (infra/deploy/template.py); change both together.
"""

from __future__ import annotations

from typing import Any

NAMESPACE = "Kabao"
SERVICE = "kabao"

TOPUP_CREDITED = "TopupsCredited"
DUPLICATE_NOTIFY = "DuplicateNotifies"
NOTIFY_FAILED = "NotifyFailures"
RECONCILIATION_CREDIT = "ReconciliationCredits"
RECONCILIATION_DUE = "ReconciliationBacklog"
REFUND_REQUESTED = "RefundsRequested"
REFUND_REFUSED = "RefundsRefused"
COUPON_CLAIMED = "CouponsClaimed"
SOLD_OUT = "SoldOuts"
WECHAT_FAILED = "WeChatFailures"
JOB_DUE = "JobItemsDue"
JOB_FAILED = "JobItemsFailed"


def count(name: str, value: int = 1, **metadata: Any) -> None:
    """One event (or `value` of them). `metadata` rides in the EMF line, searchable in Logs Insights but
    not a dimension: a dimension per merchant or order would be a metric per merchant or order."""
    emit({name: value}, metadata=metadata)


def job_run(job: str, due: int, failed: int) -> None:
    """A job run's backlog: the items it found due and those that failed, in total and per job."""
    emit({JOB_DUE: due, JOB_FAILED: failed}, dimensions={"job": job})


def emit(
    values: dict[str, int], dimensions: dict[str, str] | None = None, metadata: dict[str, Any] | None = None
) -> None:
    """Print one EMF line with `values` (counts), under the service dimension and, if given, also under
    the service plus `dimensions` (a second dimension set: alarms read the totals, dashboards the split)."""
    from aws_lambda_powertools.metrics.metrics import EphemeralMetrics
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.metric_properties import MetricUnit

    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    for name, value in values.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if dimensions:
        metrics.add_dimensions(service=SERVICE, **dimensions)
    for key, value in (metadata or {}).items():
        metrics.add_metadata(key=key, value=value)
    metrics.flush_metrics()
