"""Business and job metrics as CloudWatch EMF lines, printed when the event happens.

Each call prints its own line (CloudWatch's Embedded Metric Format: `_aws` with the `Timestamp` in ms and one
`CloudWatchMetrics` directive naming the namespace, the dimension sets and each metric's name and unit; the
dimensions' values, the metadata and the metrics' values at the top level). Nothing is kept between calls: the
local server and the tests run requests in threads, and a shared set would mix (or lose) their metrics. On
Lambda this costs one short log line per event, and nothing can be left unflushed.

The standard library's `json`, no dependency: Powertools' EphemeralMetrics wrote these lines before, and
importing it cost the WeChat Pay notify's cold first request about 9 ms. The line is the one it printed, byte
for byte (tests/unit/test_metric_lines.py compares them), so the alarms and any Logs Insights query read it as
before: keys in its order, each value as a one-element list of floats, compact separators, non-ASCII escaped.
Its limits are kept where our calls could meet them: a metric name of 1 to 255 characters (stripped), a value
that is a number, at most 29 dimensions in a set (Powertools' margin under EMF's 30), a dimension with an empty
name or value left out. Where it did something a metric must not, this module decides otherwise:
- more than 100 metrics in one call (EMF's limit per directive) are split into lines of 100, each with every
  dimension and the metadata (from 100 on, Powertools printed the first 100 early, before the call's
  dimensions and metadata were added and with other separators);
- metadata named like a dimension or a metric, or a dimension named like a metric, is refused (ValueError):
  in the line it would overwrite the dimension's value (moving the count off the series the alarms read) or
  be overwritten; `service` is every line's dimension, so no caller may pass it;
- a metadata value JSON cannot hold is written as its `str` (Powertools raised, failing the request after its
  money had moved), a NaN or infinite one too (Powertools wrote `NaN`, which is not JSON: the line was lost);
- a metric value that is NaN, infinite or beyond EMF's ±2^360 is refused (ValueError), and so is a field named
  `_aws`, which would replace the line's directive.
POWERTOOLS_METRICS_DISABLED (and POWERTOOLS_DEV without it), the names the stages and the local tools set,
still silence the lines.

The names are the alarms' contract (infra/deploy/template.py, infra/deploy/alarms.py); change both together.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import sys
import time
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

UNIT = "Count"  # every kabao metric counts events or items
MAX_METRICS = 100  # per EMF directive
MAX_DIMENSIONS = 29  # per dimension set; Powertools' limit, one under EMF's 30
MAX_NAME = 255
MAX_MAGNITUDE = 2.0**360  # EMF's range for a value; NaN and the infinities are not JSON, and lose the line
DIRECTIVE = "_aws"  # the line's own key: a field of that name would replace the directive
DISABLED_ENV = "POWERTOOLS_METRICS_DISABLED"
DEV_ENV = "POWERTOOLS_DEV"
_TRUE = ("1", "y", "yes", "t", "true", "on")


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
    the service plus `dimensions` (a second dimension set: alarms read the totals, dashboards the split).
    One write per call, so lines printed by threads at once never interleave."""
    lines = emf_lines(values, dimensions, metadata, int(time.time() * 1000))
    if lines and not _disabled():
        sys.stdout.write("".join(line + "\n" for line in lines))


def emf_lines(
    values: dict[str, int],
    dimensions: dict[str, str] | None,
    metadata: dict[str, Any] | None,
    timestamp_ms: int,
) -> list[str]:
    """The EMF lines for one call (one unless it has more than 100 metrics; none without a metric), checked
    against the limits above whether or not metrics are silenced, as Powertools checked them."""
    metrics: dict[str, list[float]] = {}
    for raw_name, value in values.items():
        name = raw_name.strip()
        if not 1 <= len(name) <= MAX_NAME:
            raise ValueError(f"a metric name has 1 to {MAX_NAME} characters: {raw_name!r}")
        if not isinstance(value, numbers.Number):
            raise ValueError(f"{value} is not a valid number")
        try:
            number = float(value)
        except (OverflowError, TypeError):
            number = math.inf
        if not math.isfinite(number) or abs(number) > MAX_MAGNITUDE:
            raise ValueError(f"{value} is not a value CloudWatch holds (finite, within 2^360)")
        metrics[name] = [number]
    dimension_sets = [{"service": SERVICE}]
    if dimensions:
        if "service" in dimensions:
            raise ValueError("`service` is every metric's dimension; name the split otherwise")
        split = {str(k): str(v) for k, v in dimensions.items() if str(k).strip() and str(v).strip()}
        if len(split) + 1 > MAX_DIMENSIONS:
            raise ValueError(f"at most {MAX_DIMENSIONS} dimensions in a set, service included")
        dimension_sets.append({"service": SERVICE, **split})
    shown = {k: v for each in dimension_sets for k, v in each.items()}
    extra = {
        str(k): str(v) if isinstance(v, float) and not math.isfinite(v) else v for k, v in (metadata or {}).items()
    }
    if clash := (
        sorted((set(extra) | set(shown)) & (set(metrics) | {DIRECTIVE}))
        or sorted(set(extra) & set(shown))
        or sorted(set(metrics) & {DIRECTIVE})
    ):
        raise ValueError(f"a metric line's names must differ (metrics, dimensions, metadata): {clash}")
    names = list(metrics)
    return [
        json.dumps(
            {
                DIRECTIVE: {
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": NAMESPACE,
                            "Dimensions": [list(each) for each in dimension_sets],
                            "Metrics": [{"Name": name, "Unit": UNIT} for name in part],
                        }
                    ],
                },
                **shown,
                **extra,
                **{name: metrics[name] for name in part},
            },
            separators=(",", ":"),
            default=str,
        )
        for part in (names[i : i + MAX_METRICS] for i in range(0, len(names), MAX_METRICS))
    ]


def _disabled() -> bool:
    """Powertools' switches: POWERTOOLS_METRICS_DISABLED true, or POWERTOOLS_DEV true with it unset. A value
    that is not a yes/no word counts as no (Powertools raised on every metric)."""
    disabled = os.environ.get(DISABLED_ENV)
    if disabled is not None:
        return disabled.strip().lower() in _TRUE
    return (os.environ.get(DEV_ENV) or "").strip().lower() in _TRUE
