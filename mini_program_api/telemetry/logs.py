"""Structured logs: every record of kabao's loggers as one JSON line on stdout, and the one line per
request and per job run that operations reads first.

Domain modules keep `logging.getLogger(__name__)`: their loggers sit under `mini_program_api` and
`functions`, which get the handler here, so their records come out as JSON with the current request's
keys. Chalice's own logger (named after the app, "kabao", as the service is) logs uncaught exceptions; it
gets the same handler instead of Chalice's plain-text one.

The standard library's `logging` with a JSON formatter of a few dozen lines, no dependency: Powertools'
Logger did this before, and importing it (its package `__init__` loads Logger, Metrics and Tracer) cost
every request path's cold first request about 8 ms. The line is the one Powertools printed, key for key
and in its order, so docs/operations.md and any Logs Insights query read it as before: `level`,
`location` (function:line), `message`, `timestamp` (`2026-12-05 02:49:24,563+0000`, local time: UTC on
Lambda), `service`, this thread's `request_id`, the caller's `extra` fields, for an exception `exception`
(the traceback), `exception_name`, `exception_notes` and `stack_trace`, and `xray_trace_id` when Lambda
sets one. A key whose value is None is left out, a value JSON cannot hold is written as its `str`, and
Chinese stays readable (no `\\uXXXX`). The EMF metrics (metrics.py) are written the same way.

What a line may hold is decided by the caller, field by field: request and job lines carry ids,
route, status, latency and error code, never a body, a header, a token, a phone number or a key.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any

SERVICE = "kabao"
_PACKAGES = ("mini_program_api", "functions")
LEVEL_ENV = "POWERTOOLS_LOG_LEVEL"  # the name the stages already set (docs/deploy.md); INFO when empty
# Lambda's Advanced Logging Controls level, when a function sets one, wins over ours (as in Powertools).
_LAMBDA_LEVELS = {
    "TRACE": "NOTSET",
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARN": "WARNING",
    "ERROR": "ERROR",
    "FATAL": "CRITICAL",
}

# The keys each thread's records carry (the request id): the local server and the tests serve requests
# in threads, and a thread starts with an empty context.
_KEYS: ContextVar[dict[str, Any]] = ContextVar("kabao_log_keys")
# A record's own attributes, and the line's fixed keys: everything else on a record is the caller's `extra`.
_NOT_EXTRA = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "level", "location", "timestamp"}
# The keys the line sets itself, which a field of the same name would drop (`level`) or replace (`service`, a crash's
# `exception`): a request's or a job's field so named is kept beside them, renamed as a record attribute's is.
_OWN = _NOT_EXTRA | {"service", "exception", "exception_name", "exception_notes", "stack_trace", "xray_trace_id"}


class JsonLine(logging.Formatter):
    """One record as one JSON line, the keys in the order Powertools' Logger wrote them."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.funcName}:{record.lineno}",
            "message": None,  # its place in the line; filled below
            "timestamp": self.formatTime(record),
            "service": SERVICE,
            **_KEYS.get({}),
            **{k: v for k, v in vars(record).items() if k not in _NOT_EXTRA},
        }
        line["message"] = _message(record)
        info = record.exc_info
        if isinstance(info, tuple) and info[0] is not None and info[1] is not None:
            line.setdefault("exception", self.formatException(info))
            line.setdefault("exception_name", info[0].__name__)
            line.setdefault("exception_notes", getattr(info[1], "__notes__", None))
            frames = traceback.extract_tb(info[2])
            line["stack_trace"] = {
                "type": info[0].__name__,
                "value": info[1],
                "module": type(info[1]).__module__,
                "frames": [
                    {"file": f.filename, "line": f.lineno, "function": f.name, "statement": f.line} for f in frames
                ],
            }
        else:
            line["stack_trace"] = None
        trace = os.environ.get("_X_AMZN_TRACE_ID")  # set by Lambda per invocation when tracing is on
        line["xray_trace_id"] = trace.split(";")[0].replace("Root=", "") if trace else None
        shown = {k: v for k, v in line.items() if v is not None}
        return json.dumps(shown, default=str, separators=(",", ":"), ensure_ascii=False)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """`2026-12-05 02:49:24,563+0000`: Powertools' default, milliseconds before the offset."""
        return time.strftime(f"%Y-%m-%d %H:%M:%S,{int(record.msecs):03d}%z", time.localtime(record.created))


def _message(record: logging.LogRecord) -> Any:
    """The message as Powertools wrote it: a dict stays an object, `%` arguments are applied, and a message
    that is itself JSON is nested as JSON rather than quoted."""
    if isinstance(record.msg, dict):
        return record.msg
    if record.args:
        return record.getMessage()
    if isinstance(record.msg, str):
        try:
            return json.loads(record.msg)
        except ValueError:
            return record.msg
    return record.msg


def _level() -> tuple[str, str | None]:
    """The level to log at, and the setting it ignored if that named no level (a typo logs at INFO, with a
    warning, rather than failing every request)."""
    wanted = _LAMBDA_LEVELS.get(os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "")
    wanted = wanted or (os.environ.get(LEVEL_ENV) or "").strip().upper() or "INFO"
    if isinstance(logging.getLevelName(wanted), int):
        return wanted, None
    return "INFO", wanted


@cache
def logger() -> logging.Logger:
    """The service's logger ("kabao", Chalice's app logger too), set up once per container on first use,
    with the `mini_program_api` and `functions` loggers: one handler writing JSON lines to stdout. Level
    from POWERTOOLS_LOG_LEVEL, INFO by default."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLine())
    level, ignored = _level()
    for name in (SERVICE, *_PACKAGES):
        each = logging.getLogger(name)
        each.handlers = [handler]  # Chalice's app.log: drop its plain-text handler
        each.setLevel(level)
        each.propagate = False  # Lambda's runtime has a handler on the root logger: one line, not two
    log = logging.getLogger(SERVICE)
    if ignored:
        log.warning("unknown log level, logging at INFO", extra={"setting": LEVEL_ENV, "value": ignored})
    return log


class RequestLog:
    """What the request line reports; the endpoint fills it in as the request goes. A plain class, not a
    dataclass: every cold request path imports this module, and a dataclass `exec`s its methods there."""

    __slots__ = ("request_id", "method", "route", "merchant_id", "status", "outcome", "extra")

    def __init__(self, request_id: str, method: str, route: str) -> None:
        self.request_id = request_id
        self.method = method
        self.route = route
        self.merchant_id: str | None = None
        self.status = 500  # until a response is set: an exception escaping the view is Chalice's 500
        self.outcome = "INTERNAL_ERROR"
        self.extra: dict[str, Any] = {}


def request_id(context: dict[str, Any] | None, lambda_context: Any) -> str:
    """API Gateway's request id (the one its access logs and X-Ray show), else Lambda's, else a new one."""
    found = (context or {}).get("requestId") or getattr(lambda_context, "aws_request_id", None)
    return str(found) if found else uuid.uuid4().hex


@contextmanager
def request(request_id: str, method: str, route: str) -> Iterator[RequestLog]:
    """Log one line when the request ends (however it ends), with its latency; records logged meanwhile
    by this thread carry its request id."""
    log = logger()
    entry = RequestLog(request_id, method, route)
    keys = _KEYS.set({**_KEYS.get({}), "request_id": request_id})
    started = time.perf_counter()
    crashed = False
    try:
        yield entry
    except Exception:
        crashed = True  # a bug: Chalice answers 500; the line carries the traceback
        entry.status, entry.outcome = 500, "INTERNAL_ERROR"
        raise
    finally:
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        write = log.error if entry.status >= 500 else log.info
        fields = {
            "method": entry.method,
            "route": entry.route,
            "merchant_id": entry.merchant_id,
            "status": entry.status,
            "outcome": entry.outcome,
            "latency_ms": latency_ms,
            **entry.extra,
        }
        try:
            write("request", extra=_fields(fields), exc_info=crashed)
        finally:
            _KEYS.reset(keys)  # a warm container's next invocation, on this thread, must not carry this id


def job(name: str, report: dict[str, Any], lambda_context: Any = None) -> None:
    """The line a scheduled job's run ends with: its report (counts and failed item ids, no personal data)."""
    logger().info("job run", extra=_fields({"job": name, "request_id": request_id(None, lambda_context), **report}))


def _fields(fields: dict[str, Any]) -> dict[str, Any]:
    """A field named like one of a log record's own attributes (`name`, `message`, `args`) kept as `name_`:
    `logging` refuses to overwrite them (KeyError), which would lose the line, and with it the request or
    the job run it reports. So is one named like a key the line sets itself (`level`, `service`, `exception`)."""
    return {f"{key}_" if key in _OWN else key: value for key, value in fields.items()}
