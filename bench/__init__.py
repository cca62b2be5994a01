"""Benchmarks: `make bench` (python -m bench) prints every table; see bench/README.md."""

import os


def quiet_app() -> None:
    """The app under measurement logs one JSON line per request and prints an EMF line per counted event, as it
    does on Lambda; a benchmark that runs the stack in its own process would bury its tables under them. Called
    by each benchmark's `main()`, never at import: tests import bench code and check those lines. A variable the
    caller set is kept."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
