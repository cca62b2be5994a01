"""A scheduled function's time budget: the jobs stop taking new work before Lambda stops them, and
resume where they stopped on their next run."""

from __future__ import annotations

import time
from typing import Any


def deadline(event: Any, safety_seconds: float = 20.0) -> float | None:
    """The `time.monotonic()` by which to stop taking new work: the invocation's remaining time less a
    fifth of it, at most `safety_seconds`. None when the event carries no Lambda context (tests, local)."""
    remaining = getattr(getattr(event, "context", None), "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    seconds = remaining() / 1000
    return time.monotonic() + seconds - min(safety_seconds, seconds / 5)
