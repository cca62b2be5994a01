"""The EMF line itself (telemetry/metrics.py): byte for byte what Powertools' EphemeralMetrics printed for the same
calls, since the alarms (infra/deploy/alarms.py) and Logs Insights read it; the limits it enforced; what this module
decides where Powertools' line would have been wrong; one whole line per call from threads at once.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from decimal import Decimal
from typing import Any

import pytest

from mini_program_api.telemetry import metrics

Call = tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]


def _powertools(
    values: dict[str, Any], dimensions: dict[str, Any] | None, metadata: dict[str, Any] | None, at: int
) -> list[str]:
    """What the module printed before (its `emit`, Powertools' EphemeralMetrics), at a given timestamp."""
    from aws_lambda_powertools.metrics.metrics import EphemeralMetrics
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.metric_properties import MetricUnit

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        emf = EphemeralMetrics(namespace=metrics.NAMESPACE, service=metrics.SERVICE)
        emf.set_timestamp(at)
        for name, value in values.items():
            emf.add_metric(name=name, unit=MetricUnit.Count, value=value)
        if dimensions:
            emf.add_dimensions(service=metrics.SERVICE, **dimensions)
        for key, value in (metadata or {}).items():
            emf.add_metadata(key=key, value=value)
        emf.flush_metrics()
    return out.getvalue().splitlines()


# Every call kabao makes (topup/, wechat/, coupons/, functions/), then the shapes `emit` takes beyond them.
CALLS: list[Call] = [
    ({metrics.TOPUP_CREDITED: 1}, None, {"source": "notify"}),
    ({metrics.TOPUP_CREDITED: 1}, None, {"source": "reconciliation"}),
    ({metrics.RECONCILIATION_CREDIT: 1}, None, {}),
    ({metrics.DUPLICATE_NOTIFY: 1}, None, {}),
    ({metrics.NOTIFY_FAILED: 1}, None, {"code": "SIGNATURE_INVALID"}),
    ({metrics.REFUND_REQUESTED: 1}, None, {"amount": 12_345}),
    ({metrics.REFUND_REFUSED: 1}, None, {"code": "NOT_ENOUGH"}),
    ({metrics.COUPON_CLAIMED: 1}, None, {"template_id": "tpl-01HZX"}),
    ({metrics.SOLD_OUT: 1}, None, {"template_id": "tpl-01HZX"}),
    ({metrics.WECHAT_FAILED: 1}, None, {"api": "miniprogram", "reason": "40029"}),
    ({metrics.WECHAT_FAILED: 1}, None, {"api": "pay", "reason": "PARAM_ERROR", "call": "refund"}),
    ({metrics.RECONCILIATION_DUE: 0}, None, {}),
    ({metrics.RECONCILIATION_DUE: 7}, None, {}),
    ({metrics.JOB_DUE: 12, metrics.JOB_FAILED: 0}, {"job": "topup_reconciliation"}, None),
    ({metrics.JOB_DUE: 0, metrics.JOB_FAILED: 0}, {"job": "issue_jobs_run"}, None),
    # Several values, dimension sets of several keys, metadata of every JSON kind, Chinese escaped as Powertools did.
    (
        {"A": 3, " Padded ": 2, "Big": 10**38, "Half": 0.5, "Yes": True},
        {"job": "会员", "region": 7, "blank": "  "},
        {"note": "充值", "nested": {"a": [1, "二", None]}, "none": None, "flag": False, "big": 10**38},
    ),
    ({"M": 1}, {f"d{i}": str(i) for i in range(28)}, {"m": "x"}),  # 28 + service: the most a set holds
    ({"M": 1}, {"blank": ""}, None),  # every split dimension empty: the second set is the service alone
    ({f"N{i}": i for i in range(99)}, {"job": "j"}, {"m": 1}),  # 99 metrics: Powertools flushed early from 100
]


@pytest.mark.parametrize("call", CALLS, ids=range(len(CALLS)))
def test_the_line_is_the_one_powertools_printed(call: Call) -> None:
    values, dimensions, metadata = call
    at = int(time.time() * 1000)
    with (
        pytest.warns()
        if dimensions and any(not str(v).strip() for v in dimensions.values())
        else contextlib.nullcontext()
    ):
        theirs = _powertools(values, dimensions, metadata, at)
    ours = metrics.emf_lines(values, dimensions, metadata, at)
    assert len(ours) == 1
    assert ours == theirs


@pytest.mark.parametrize(
    "values",
    [{"": 1}, {"   ": 1}, {"x" * 256: 1}, {"M": "1"}, {"M": None}],
    ids=["empty", "blank", "long", "text", "none"],
)
def test_a_bad_name_or_value_is_refused_as_powertools_refused_it(values: dict[str, Any]) -> None:
    with pytest.raises(Exception):  # noqa: B017  # Powertools' own MetricNameError / MetricValueError
        _powertools(values, None, None, int(time.time() * 1000))
    with pytest.raises(ValueError):
        metrics.emf_lines(values, None, None, 0)


def test_thirty_dimensions_in_a_set_are_refused_as_powertools_refused_them() -> None:
    dimensions = {f"d{i}": "v" for i in range(29)}  # + service
    with pytest.raises(Exception, match="Maximum dimensions"):  # noqa: B017
        _powertools({"M": 1}, dimensions, None, int(time.time() * 1000))
    with pytest.raises(ValueError, match="29"):
        metrics.emf_lines({"M": 1}, dimensions, None, 0)


@pytest.mark.parametrize(
    ("dimensions", "metadata"),
    [
        (None, {"service": "other"}),  # would move the count off the series the alarms read
        ({"job": "j"}, {"job": "other"}),
        (None, {"M": "text"}),  # would be overwritten by the value
        ({"M": "j"}, None),
        ({"service": "other"}, None),
    ],
)
def test_names_that_would_overwrite_each_other_in_the_line_are_refused(
    dimensions: dict[str, str] | None, metadata: dict[str, Any] | None
) -> None:
    with pytest.raises(ValueError):
        metrics.emf_lines({"M": 1}, dimensions, metadata, 0)


def test_powertools_let_metadata_overwrite_the_service_dimension() -> None:
    """Why the clash is refused: the line Powertools printed put the count under another service."""
    [line] = _powertools({"M": 1}, None, {"service": "other"}, int(time.time() * 1000))
    assert json.loads(line)["service"] == "other"


def test_over_a_hundred_metrics_are_split_into_whole_lines() -> None:
    values = {f"N{i}": i for i in range(205)}
    lines = [json.loads(line) for line in metrics.emf_lines(values, {"job": "j"}, {"m": 1}, 42)]
    assert [len(line["_aws"]["CloudWatchMetrics"][0]["Metrics"]) for line in lines] == [100, 100, 5]
    for line in lines:
        assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"], ["service", "job"]]
        assert (line["_aws"]["Timestamp"], line["service"], line["job"], line["m"]) == (42, "kabao", "j", 1)
        for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            assert line[metric["Name"]] == [float(metric["Name"][1:])]
    assert sum(len(line["_aws"]["CloudWatchMetrics"][0]["Metrics"]) for line in lines) == 205


def test_metadata_json_cannot_hold_is_written_as_text() -> None:
    """Powertools raised (after the notify's money had moved); the line carries its `str` instead."""
    with pytest.raises(TypeError):
        _powertools({"M": 1}, None, {"amount": Decimal("1.10")}, int(time.time() * 1000))
    [line] = metrics.emf_lines({"M": 1}, None, {"amount": Decimal("1.10")}, 0)
    assert json.loads(line)["amount"] == "1.10"


def test_emit_prints_the_line_now(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(metrics.DISABLED_ENV, raising=False)
    monkeypatch.delenv(metrics.DEV_ENV, raising=False)
    before = int(time.time() * 1000)
    metrics.job_run("wallet_sweep", 3, 1)
    metrics.count(metrics.TOPUP_CREDITED, source="notify")
    after = int(time.time() * 1000)
    first, second = capsys.readouterr().out.splitlines()
    stamp = json.loads(first)["_aws"]["Timestamp"]
    assert before <= stamp <= after
    assert (
        first == metrics.emf_lines({metrics.JOB_DUE: 3, metrics.JOB_FAILED: 1}, {"job": "wallet_sweep"}, None, stamp)[0]
    )
    stamp = json.loads(second)["_aws"]["Timestamp"]
    assert second == metrics.emf_lines({metrics.TOPUP_CREDITED: 1}, None, {"source": "notify"}, stamp)[0]


@pytest.mark.parametrize(
    ("disabled", "dev", "printed"),
    [("true", None, False), ("1", None, False), ("false", "true", True), (None, "true", False), (None, None, True)],
)
def test_the_switches_that_silenced_powertools_silence_the_lines(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    disabled: str | None,
    dev: str | None,
    printed: bool,
) -> None:
    for name, value in ((metrics.DISABLED_ENV, disabled), (metrics.DEV_ENV, dev)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    metrics.count(metrics.SOLD_OUT, template_id="t")
    assert bool(capsys.readouterr().out) is printed
    with pytest.raises(ValueError):  # checked even when silenced, as Powertools checked
        metrics.count("")


def test_threads_printing_at_once_each_print_their_own_whole_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(metrics.DISABLED_ENV, raising=False)
    monkeypatch.delenv(metrics.DEV_ENV, raising=False)
    start = threading.Barrier(8)

    def claim(n: int) -> None:
        start.wait(timeout=10)
        for i in range(50):
            metrics.count(metrics.COUPON_CLAIMED, template_id=f"t{n}-{i}", note="x" * 2000)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(line["template_id"] for line in lines) == sorted(f"t{n}-{i}" for n in range(8) for i in range(50))
    assert all(line[metrics.COUPON_CLAIMED] == [1.0] for line in lines)


@pytest.mark.parametrize(
    ("dimensions", "metadata"),
    [(None, {"_aws": "x"}), ({"_aws": "x"}, None)],
    ids=["metadata", "dimension"],
)
def test_a_field_named_like_the_directive_is_refused(
    dimensions: dict[str, str] | None, metadata: dict[str, Any] | None
) -> None:
    """`_aws` is the line's directive: a metadata key or dimension of that name would replace it, and the line would
    carry no metric at all (CloudWatch reads it as a plain log line)."""
    with pytest.raises(ValueError):
        metrics.emf_lines({"M": 1}, dimensions, metadata, 0)


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), -float("inf"), 10**400, 2.0**361], ids=["nan", "inf", "-inf", "huge", "big"]
)
def test_a_value_cloudwatch_cannot_hold_is_refused_as_a_value_error(value: Any) -> None:
    """EMF takes finite numbers within ±2^360: `NaN`/`Infinity` make the line invalid JSON (the whole line, with
    its other metrics, is lost) and an int past a float's range raised OverflowError, not the ValueError a bad
    value is."""
    with pytest.raises(ValueError):
        metrics.emf_lines({"M": value}, None, None, 0)


def test_metadata_that_json_writes_as_nan_is_written_as_text() -> None:
    """A NaN or infinite metadata value would make the line invalid JSON, losing its metric: its `str`, as for any
    value JSON cannot hold."""
    [line] = metrics.emf_lines({"M": 1}, None, {"ratio": float("nan"), "cap": float("inf"), "ok": 0.5}, 0)
    parsed = json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert (parsed["ratio"], parsed["cap"], parsed["ok"], parsed["M"]) == ("nan", "inf", 0.5, [1.0])
