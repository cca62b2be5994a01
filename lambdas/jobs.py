"""The scheduled functions' and the table stream's Lambda: handler `lambdas.jobs.<name>` for each (reconcile_topups,
issue_jobs_run, wallet_stream, ...), in an app that declares no route (lambdas/audiences.py).

A schedule's handler is the function its blueprint decorated (functions/*.py), run through the middleware of the
app it was registered in: functions/reported.py's, which sets up the JSON logs before the run. Imported alone, as
Chalice's own handler string (`functions.issue_jobs.issue_jobs_run`) had Lambda do, no app held it and the run went
without them.
"""

from __future__ import annotations

import importlib
from typing import Any

from lambdas.audiences import build

app = build("jobs")
# name -> the decorated function's module path, as Chalice records it.
HANDLERS = {source.name: source.handler_string for source in app.event_sources}


def __getattr__(name: str) -> Any:
    """`lambdas.jobs.issue_jobs_run`: the registered handler of that schedule or stream (the Lambda runtime's
    getattr on this module)."""
    if name not in HANDLERS:
        raise AttributeError(name)
    module, attribute = HANDLERS[name].rsplit(".", 1)
    return getattr(importlib.import_module(module), attribute)
