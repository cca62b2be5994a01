"""The log line itself (telemetry/logs.py): the keys, order and values Powertools' Logger wrote before it, since
docs/operations.md and Logs Insights queries read them; a crash's traceback; the request id per thread; the level
setting. Read from the service's real handler, its stream swapped for a buffer (as tests/integration/test_telemetry.py
reads the request lines of real requests).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest

from mini_program_api.telemetry import logs

ROOT = Path(__file__).resolve().parents[2]
Raw = Callable[[], list[str]]
DOMAIN = logging.getLogger("mini_program_api.telemetry.test")  # a domain module's logger, under the package


@pytest.fixture
def raw() -> Iterator[Raw]:
    """Every line the service's handler writes during the test, as written."""
    [handler] = [h for h in logs.logger().handlers if isinstance(h.formatter, logs.JsonLine)]  # pytest adds its own
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield lambda: buffer.getvalue().splitlines()
    finally:
        handler.setStream(previous)


def _lines(raw: Raw) -> list[dict[str, Any]]:
    return [json.loads(line) for line in raw()]


class _NoJson:
    def __str__(self) -> str:
        return "no json"


def test_a_record_in_a_request_is_the_line_powertools_wrote(raw: Raw, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-67a1b2c3-abc;Parent=def;Sampled=1")
    with logs.request("req-1", "POST", "/v1/till/checkout") as entry:
        entry.merchant_id, entry.status, entry.outcome = "m-1", 200, "OK"
        entry.extra["note"] = "会员卡"
        DOMAIN.info("paid %s in %d parts", "订单", 2)
        DOMAIN.warning("odd", extra={"thing": _NoJson(), "gone": None, "nested": {"a": [1, "二"]}})
        DOMAIN.info('{"already": "json"}')
        DOMAIN.info({"a": "dict"})
    DOMAIN.info("after")
    written = raw()
    lines = [json.loads(line) for line in written]
    for line in lines:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}[+-]\d{4}", line.pop("timestamp"))
        assert re.fullmatch(r"[\w<>]+:\d+", line.pop("location"))
    trace = {"xray_trace_id": "1-67a1b2c3-abc"}
    head = {"service": "kabao", "request_id": "req-1"}
    assert lines[:4] == [
        {"level": "INFO", "message": "paid 订单 in 2 parts", **head, **trace},
        {"level": "WARNING", "message": "odd", **head, "thing": "no json", "nested": {"a": [1, "二"]}, **trace},
        {"level": "INFO", "message": {"already": "json"}, **head, **trace},
        {"level": "INFO", "message": {"a": "dict"}, **head, **trace},
    ]
    request = lines[4]
    assert isinstance(request.pop("latency_ms"), float)
    assert request == {
        "level": "INFO",
        "message": "request",
        **head,
        "method": "POST",
        "route": "/v1/till/checkout",
        "merchant_id": "m-1",
        "status": 200,
        "outcome": "OK",
        "note": "会员卡",
        **trace,
    }
    assert lines[5] == {"level": "INFO", "message": "after", "service": "kabao", **trace}  # the request's id is gone
    # Compact, in Powertools' key order, Chinese as written (not \\u escapes).
    assert written[0].startswith('{"level":"INFO","location":"test_a_record_in_a_request_is_the_line_powertools_')
    assert list(json.loads(written[4]))[:6] == ["level", "location", "message", "timestamp", "service", "request_id"]
    assert "会员卡" in written[4] and "\\u" not in "".join(written)


def _crash() -> None:
    raise ValueError("库存不足")


def test_a_crash_is_an_error_line_with_its_traceback(raw: Raw) -> None:
    with pytest.raises(ValueError), logs.request("req-crash", "GET", "/v1/me"):
        _crash()
    [line] = _lines(raw)
    assert (line["level"], line["request_id"], line["status"], line["outcome"]) == (
        "ERROR",
        "req-crash",
        500,
        "INTERNAL_ERROR",
    )
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert line["exception"].endswith("ValueError: 库存不足") and "in _crash" in line["exception"]
    assert line["exception_name"] == "ValueError" and "exception_notes" not in line
    stack = line["stack_trace"]
    assert (stack["type"], stack["value"], stack["module"]) == ("ValueError", "库存不足", "builtins")
    assert stack["frames"][-1] == {
        "file": __file__,
        "line": _crash.__code__.co_firstlineno + 1,
        "function": "_crash",
        "statement": 'raise ValueError("库存不足")',
    }


def test_a_caught_exception_logged_with_its_notes(raw: Raw) -> None:
    try:
        raise KeyError("k")
    except KeyError as exc:
        exc.add_note("while reading the shelf")
        DOMAIN.exception("lost")
    DOMAIN.error("no exception here", exc_info=True)  # outside an except: (None, None, None), no exception keys
    caught, plain = _lines(raw)
    assert caught["exception_name"] == "KeyError" and caught["exception_notes"] == ["while reading the shelf"]
    assert caught["exception"].endswith("KeyError: 'k'\nwhile reading the shelf")
    assert not {"exception", "exception_name", "stack_trace"} & set(plain)


def test_each_thread_keeps_its_own_request_id(raw: Raw) -> None:
    """Requests served at once in threads (the local server): a record logged in one carries that one's id,
    never another's, and a thread outside any request carries none."""
    both_inside = threading.Barrier(3)
    logged = threading.Barrier(3)

    def serve(rid: str) -> None:
        with logs.request(rid, "GET", "/v1/me") as entry:
            entry.status, entry.outcome = 200, "OK"
            both_inside.wait(timeout=10)
            DOMAIN.info("inside", extra={"mine": rid})
            logged.wait(timeout=10)

    def outside() -> None:
        both_inside.wait(timeout=10)
        DOMAIN.info("outside")
        logged.wait(timeout=10)

    threads = [threading.Thread(target=serve, args=(rid,)) for rid in ("req-a", "req-b")]
    threads.append(threading.Thread(target=outside))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    lines = _lines(raw)
    inside = [line for line in lines if line["message"] == "inside"]
    assert sorted(line["request_id"] for line in inside) == ["req-a", "req-b"]
    assert all(line["request_id"] == line["mine"] for line in inside)
    [lone] = [line for line in lines if line["message"] == "outside"]
    assert "request_id" not in lone
    assert sorted(line["request_id"] for line in lines if line["message"] == "request") == ["req-a", "req-b"]


def test_a_request_line_that_cannot_be_written_leaves_no_request_id_behind(
    raw: Raw, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warm Lambda container serves its next invocation on the same thread: if the request line fails, the id
    must still be dropped, or the next request's records carry it."""

    def fails(*args: Any, **kwargs: Any) -> None:
        raise OSError("the line could not be written")

    monkeypatch.setattr(logs.logger(), "info", fails)
    with pytest.raises(OSError), logs.request("req-gone", "GET", "/v1/me") as entry:
        entry.status = 200
    monkeypatch.undo()
    DOMAIN.info("next invocation")
    [line] = _lines(raw)
    assert line["message"] == "next invocation" and "request_id" not in line


_LEVELS = """
import logging, sys
sys.path.insert(0, %r)
from mini_program_api.telemetry import logs
logs.logger()
print(*(logging.getLevelName(logging.getLogger(n).level) for n in ("kabao", "mini_program_api", "functions")))
"""


@pytest.mark.parametrize(
    ("setting", "lambda_level", "level", "warned"),
    [
        (None, None, "INFO", False),
        ("", None, "INFO", False),
        (" debug ", None, "DEBUG", False),
        ("WARNING", None, "WARNING", False),
        ("verbose", None, "INFO", True),
        ("DEBUG", "WARN", "WARNING", False),
    ],
)
def test_the_level_setting(setting: str | None, lambda_level: str | None, level: str, warned: bool) -> None:
    """POWERTOOLS_LOG_LEVEL (the name the stages set): unset or empty is INFO, case and spaces do not matter,
    and a value that names no level logs at INFO with a warning line instead of failing every request. Lambda's
    own log level (Advanced Logging Controls, AWS_LAMBDA_LOG_LEVEL), when a function has one, wins, as it did."""
    env = {k: v for k, v in os.environ.items() if k not in ("POWERTOOLS_LOG_LEVEL", "AWS_LAMBDA_LOG_LEVEL")}
    if setting is not None:
        env["POWERTOOLS_LOG_LEVEL"] = setting
    if lambda_level is not None:
        env["AWS_LAMBDA_LOG_LEVEL"] = lambda_level
    out = subprocess.run(
        [sys.executable, "-c", _LEVELS % str(ROOT)], env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[-1] == f"{level} {level} {level}"
    warnings = [json.loads(line) for line in out[:-1]]
    assert warnings == (
        [
            {
                "level": "WARNING",
                "location": warnings[0]["location"],
                "message": "unknown log level, logging at INFO",
                "timestamp": warnings[0]["timestamp"],
                "service": "kabao",
                "setting": "POWERTOOLS_LOG_LEVEL",
                "value": "VERBOSE",
            }
        ]
        if warned
        else []
    )


def _chained() -> None:
    try:
        raise KeyError("库存")
    except KeyError as exc:
        raise ValueError("outer") from exc


def test_the_same_records_make_the_line_powertools_formatter_made(raw: Raw, monkeypatch: pytest.MonkeyPatch) -> None:
    """Record for record, the line is byte for byte what Powertools' formatter (still in the dev venv) writes
    for the same record and request id: the messages it treats apart (a `%` without arguments, text that is JSON,
    a dict), values JSON cannot hold, extra fields named like the line's own keys, a chained exception with a note,
    and a record another handler formatted first (pytest's caplog, Lambda's root handler)."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from aws_lambda_powertools.logging.formatter import (
        LambdaPowertoolsFormatter,
        clear_context_keys,
        set_context_keys,
    )

    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)  # Powertools indents its lines when set
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-67a1b2c3-abc;Parent=def;Sampled=1")
    powertools, ours = LambdaPowertoolsFormatter(service=logs.SERVICE), logs.JsonLine()
    pairs: list[tuple[str, str]] = []

    class Both(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            pairs.append((ours.format(record), powertools.format(record)))

    earlier = logging.StreamHandler(io.StringIO())  # sets record.message and record.asctime before ours
    earlier.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    both = Both()
    service = logging.getLogger(logs.SERVICE)  # the request line's logger
    DOMAIN.addHandler(earlier)
    DOMAIN.addHandler(both)
    service.addHandler(both)
    values = {
        "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "fen": Decimal("1.10"),
        "raw": b"\xe4\xbc",
        "ids": {"a"},
        "pair": (1, "二"),
        "gone": None,
        "zero": 0,
        "empty": "",
        "no": False,
    }
    try:
        for request_id in ("req-1", None):
            if request_id:
                set_context_keys(request_id=request_id)  # type: ignore[arg-type]  # typed `**kwargs: dict`, takes any
            try:
                with logs.request(request_id, "GET", "/v1/me") if request_id else nullcontext():
                    DOMAIN.info("50% off %s")
                    DOMAIN.info("会员 %s 的 %d%%", "卡", 5)
                    for text in ("123", "null", "true", '["a", 1]', "{not json"):
                        DOMAIN.info(text)
                    DOMAIN.info({"a": "对象"})
                    DOMAIN.warning("values", extra=values)
                    DOMAIN.warning("own keys", extra={"service": "other", "request_id": "mine", "xray_trace_id": "x"})
                    try:
                        _chained()
                    except ValueError as exc:
                        exc.add_note("while paying")
                        DOMAIN.exception("crash")
                        DOMAIN.error("named", exc_info=True, extra={"exception": "given", "exception_name": "Given"})
            finally:
                clear_context_keys()
    finally:
        service.removeHandler(both)
        DOMAIN.removeHandler(both)
        DOMAIN.removeHandler(earlier)
    assert len(pairs) == 2 * 12 + 1  # and the request line
    for mine, theirs in pairs:
        assert mine == theirs


def test_the_lambda_runtimes_root_handler_gets_no_second_line(raw: Raw) -> None:
    """Lambda's Python runtime puts its own handler on the root logger: a record of kabao's loggers (a domain
    module's, the request line, Chalice's app.log, a scheduled function's) is our JSON line only, not also its
    plain-text one."""
    seen: list[logging.LogRecord] = []

    class Runtime(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    runtime = Runtime()
    logging.root.addHandler(runtime)
    try:
        with logs.request("req-root", "GET", "/v1/me") as entry:
            entry.status, entry.outcome = 200, "OK"
            DOMAIN.warning("domain")
            logging.getLogger(logs.SERVICE).error("chalice's app.log")
            logging.getLogger("functions.lifecycle").warning("a scheduled function")
    finally:
        logging.root.removeHandler(runtime)
    assert [line["message"] for line in _lines(raw)] == [
        "domain",
        "chalice's app.log",
        "a scheduled function",
        "request",
    ]
    assert seen == []


_COLD_RUN = """
import json, logging, sys
sys.path.insert(0, %r)
logging.basicConfig(format="PLAIN %%(message)s", stream=sys.stdout)  # Lambda's runtime's root handler
import lambdas.jobs  # what the template runs for every schedule and the stream
from mini_program_api.jobs import due

def owes(*args, **kwargs):  # a record logged during the run, before its report
    logging.getLogger("mini_program_api.jobs.due").warning("during the run")
    return False

due.owes = owes
from lambdas.jobs import issue_jobs_run
issue_jobs_run({"version": "0", "id": "e-1", "detail-type": "Scheduled Event", "source": "aws.events", "account": "1",
                "time": "2026-01-01T00:00:00Z", "region": "cn-north-1", "resources": [], "detail": {}}, None)
"""


def test_a_field_named_like_a_record_attribute_keeps_its_line(raw: Raw) -> None:
    """`logging` refuses an extra field that would overwrite a record's own attribute: such a field of a request or
    a job's report is written with a trailing `_` rather than losing the line."""
    with logs.request("req-names", "GET", "/v1/me") as entry:
        entry.status, entry.outcome = 200, "OK"
        entry.extra.update(name="会员", message="m", args=[1])
    logs.job("a_job", {"name": "run", "due": 1})
    request, job = _lines(raw)
    assert (request["message"], request["name_"], request["message_"], request["args_"]) == (
        "request",
        "会员",
        "m",
        [1],
    )
    assert (job["message"], job["job"], job["name_"], job["due"]) == ("job run", "a_job", "run", 1)


def test_a_field_named_like_one_of_the_lines_own_keys_is_kept_beside_it(raw: Raw) -> None:
    """The line's own keys (`level`, `timestamp`, `service`, the exception's) are what operations queries by: a
    field of a request or a job's report named like one is written with a trailing `_`, as a record attribute's
    is, neither dropped (`level`, `location`, `timestamp`) nor put in their place (`service` would move the line
    off `service = "kabao"`, `exception` would hide a crash's traceback)."""
    own = ("level", "location", "timestamp", "service", "exception", "exception_name", "stack_trace", "xray_trace_id")
    with pytest.raises(RuntimeError), logs.request("req-own", "GET", "/v1/me") as entry:
        entry.extra.update({key: f"mine-{key}" for key in own})
        raise RuntimeError("boom")
    logs.job("a_job", {key: f"mine-{key}" for key in own} | {"due": 1})
    request, job = _lines(raw)
    for line in (request, job):
        assert {key: line[f"{key}_"] for key in own} == {key: f"mine-{key}" for key in own}
        assert line["service"] == "kabao"
        assert line["level"] in ("ERROR", "INFO") and not line["timestamp"].startswith("mine")
    assert "RuntimeError: boom" in request["exception"]
    assert (request["exception_name"], request["stack_trace"]["type"]) == ("RuntimeError", "RuntimeError")


_COLD_STREAM = """
import logging, sys
sys.path.insert(0, %r)
logging.basicConfig(format="PLAIN %%(message)s", stream=sys.stdout)  # Lambda's runtime's root handler
import lambdas.jobs  # what the template runs for every schedule and the stream
from mini_program_api.wallet import sync

def stream_records(records):  # a record that failed, logged as sync.stream_records logs it
    logging.getLogger("mini_program_api.wallet.sync").warning("wallet sync failed")
    return []

sync.stream_records = stream_records
from lambdas.jobs import wallet_stream
print(wallet_stream({"Records": []}, None))
"""


@pytest.mark.parametrize(
    ("probe", "logged"),
    [(_COLD_RUN, "during the run"), (_COLD_STREAM, "wallet sync failed")],
    ids=["scheduled run", "stream batch"],
)
def test_a_cold_function_logs_json_from_its_first_record(probe: str, logged: str) -> None:
    """On a fresh container the JSON handler is set before a scheduled run or a stream batch starts (functions/
    reported.py's middleware), so a record logged during it is a JSON line with the service's keys, not the root
    handler's plain text (a stream's failed record is retried, so it was logged so again and again)."""
    out = subprocess.run(
        [sys.executable, "-c", probe % str(ROOT)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    [during] = [line for line in out if logged in line]
    assert json.loads(during)["service"] == "kabao"
    assert not [line for line in out if line.startswith("PLAIN")]
