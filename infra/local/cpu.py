"""The app's CPU per request, per route: what the benchmarks print beside wall times (`make load`, `bench calls`).

On the local stack the client threads, DynamoDB Local's answers, the WeChat sandbox and the API share one
machine (and the benchmarks' clients one interpreter), so a request's wall time is mostly waiting: for
the GIL, for a core, for DynamoDB Local. The CPU time of the thread that served the request
(`time.thread_time()`, which waiting does not advance) is the app's own cost: routing, validation, JWT,
PynamoDB marshalling, botocore's signing and parsing, crypto. What a WeChat call costs the sandbox is
spent in the sandbox's own thread and is not counted. A Lambda bills wall time, which in AWS is about
this CPU time plus its round trips to DynamoDB (bench/cost.py).

Installed only by a benchmark (`install(app)`), as one more http middleware: the product never meters
itself this way.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any


class CpuMeter:
    """CPU seconds per route (`"POST /v1/auth/login"`, the route's declared path), summed with its count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = defaultdict(float)
        self.requests: dict[str, int] = defaultdict(int)

    def middleware(self, event: Any, get_response: Callable[[Any], Any]) -> Any:
        started = time.thread_time()
        try:
            return get_response(event)
        finally:
            spent = time.thread_time() - started
            route = f"{event.method} {event.context.get('resourcePath', event.path)}"
            with self._lock:
                self.seconds[route] += spent
                self.requests[route] += 1

    def per_request(self, route: str) -> float:
        """Mean CPU seconds of one request to `route` (0 when none was served)."""
        with self._lock:
            return self.seconds[route] / self.requests[route] if self.requests[route] else 0.0

    def reset(self) -> None:
        with self._lock:
            self.seconds.clear()
            self.requests.clear()


def install(app: Any) -> CpuMeter:
    """Meter every HTTP request `app` serves from now on (the local server's and chalice.test.Client's)."""
    meter = CpuMeter()
    app.register_middleware(meter.middleware, "http")
    return meter
