"""Structured logs: every record of kabao's loggers as one JSON line (Powertools Logger), and the
one line per request and per job run that operations reads first.

Domain modules keep `logging.getLogger(__name__)`: their loggers sit under `mini_program_api` and
`functions`, which get the Powertools handler here, so their records come out as JSON with the
current request's keys. Chalice's own logger (named after the app, "kabao", as the service is) logs
uncaught exceptions; it gets the same handler instead of Chalice's plain-text one.

What a line may hold is decided by the caller, field by field: request and job lines carry ids,
route, status, latency and error code, never a body, a header, a token, a phone number or a key.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.logging.logger import Logger

SERVICE = "kabao"
_PACKAGES = ("mini_program_api", "functions")


@cache
def logger() -> Logger:
    """The service's Powertools Logger, set up once per container, on first use (a cold start's
    `import app` stays free of it). Level from POWERTOOLS_LOG_LEVEL, INFO by default."""
    from aws_lambda_powertools.logging.logger import Logger

    log = Logger(service=SERVICE, level=os.environ.get("POWERTOOLS_LOG_LEVEL") or "INFO")
    handler = log.registered_handler
    for name in _PACKAGES:
        package = logging.getLogger(name)
        package.handlers = [handler]
        package.setLevel(log.log_level)
        package.propagate = False
    logging.getLogger(SERVICE).handlers = [handler]  # Chalice's app.log: drop its plain-text handler
    return log


@dataclass
class RequestLog:
    """What the request line reports; the endpoint fills it in as the request goes."""

    request_id: str
    method: str
    route: str
    merchant_id: str | None = None
    status: int = 500  # until a response is set: an exception escaping the view is Chalice's 500
    outcome: str = "INTERNAL_ERROR"
    extra: dict[str, Any] = field(default_factory=dict)


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
    log.thread_safe_append_keys(request_id=request_id)
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
        write("request", extra=fields, exc_info=crashed)
        log.thread_safe_remove_keys(["request_id"])


def job(name: str, report: dict[str, Any], lambda_context: Any = None) -> None:
    """The line a scheduled job's run ends with: its report (counts and failed item ids, no personal data)."""
    logger().info("job run", extra={"job": name, "request_id": request_id(None, lambda_context), **report})
