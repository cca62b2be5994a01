"""Benchmarks: `make bench` (python -m bench) prints every table; see bench/README.md.

The app under measurement logs one JSON line per request and prints an EMF line per counted event,
as it does on Lambda; here they would bury the tables, so they are turned off for every benchmark
(the stack runs in the benchmark's own process) unless the caller sets these variables itself.
"""

import os

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
