"""`make dev`'s stand-in for EventBridge: every scheduled function of the app, on its schedule, and a CLI.

    python -m infra.local.jobs list                  # every schedule, its expression and next run
    python -m infra.local.jobs run issue_jobs_run    # run one now, against the running `make dev`
    python -m infra.local.jobs serve                 # the scheduler itself (infra/local/dev.py starts it)

The schedules are read from the app's registered event sources (`@bp.schedule` in functions/), never
from a list here, so a new scheduled function runs locally as soon as it is registered. A `rate(n unit)`
runs every n units from the scheduler's start (as EventBridge counts from the rule's creation); a
`cron(...)` at its next matching minute in UTC, as EventBridge reads it (so 19:00 UTC is 03:00 in
Shanghai). Each run gets a Lambda context with the function's deployed timeout (chalice.json), so the
jobs' deadlines (functions/budget.py) are the ones they have in AWS, and is logged with its duration
and report.

`make dev` writes its environment (the product's settings only: endpoints, table, stage, the dev keys)
to `.local/dev-env.json` (`KABAO_DEV_ENV_FILE` moves it); `list` and `run` read it before the product is
imported, so they work from a second terminal against the running stack.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TIMEOUT = 60  # seconds: Chalice's default lambda_timeout
log = logging.getLogger("kabao.local.jobs")


# --- the environment make dev shares with a second terminal ----------------------------------------


def env_file() -> Path:
    return Path(os.environ.get("KABAO_DEV_ENV_FILE") or ROOT / ".local" / "dev-env.json")


def product_environment(env: dict[str, str], keys: Iterable[str]) -> dict[str, str]:
    """The product's settings out of a whole environment: `keys` and every KABAO_* (never the shell's own,
    which may hold a developer's credentials)."""
    wanted = set(keys)
    return {k: v for k, v in env.items() if k in wanted or k.startswith("KABAO_")}


def write_environment(env: dict[str, str], path: Path | None = None) -> Path:
    """Save the dev stack's environment for `list` and `run` in another terminal (readable by its owner only)."""
    target = path or env_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.touch(mode=0o600)
    target.write_text(json.dumps(env, indent=1, sort_keys=True))
    return target


def load_environment(path: Path | None = None) -> Path:
    """Point this process at the running dev stack; must run before any product module is imported."""
    source = path or env_file()
    if not source.exists():
        raise SystemExit(f"{source} does not exist: start the stack with `make dev` first")
    os.environ.update(json.loads(source.read_text()))
    return source


# --- schedules ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    name: str
    expression: str  # rate(...) or cron(...), as EventBridge reads it
    handler: str  # module.function


def schedules(app: Any) -> list[Schedule]:
    """Every scheduled function the app registered (Chalice's ScheduledEventConfig), in registration order."""
    from chalice.app import ScheduledEventConfig

    found = []
    for source in app.event_sources:
        if isinstance(source, ScheduledEventConfig):
            expression = source.schedule_expression
            text = expression if isinstance(expression, str) else expression.to_string()
            found.append(Schedule(source.name, text, source.handler_string))
    return found


_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
_MONTHS = {name: i for i, name in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), start=1)}
_DAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}


def rate_seconds(expression: str) -> int | None:
    """The period of a `rate(n unit)` expression in seconds (None: not a rate)."""
    if not expression.startswith("rate("):
        return None
    value, unit = expression[5:-1].split()
    return int(value) * _UNITS[unit.lower()]


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    """The values one cron field allows: `*`, `?`, n, a-b, names (JAN, MON), lists and `/step`."""
    allowed: set[int] = set()
    for part in text.upper().split(","):
        span, _, step = part.partition("/")
        if span in ("*", "?"):
            start, end = low, high
        else:
            first, _, last = span.partition("-")
            start = names[first] if names and first in names else int(first)
            end = (names[last] if names and last in names else int(last)) if last else (high if step else start)
        if not low <= start <= end <= high:
            raise ValueError(f"cron field {text!r} is outside {low}-{high}")
        allowed.update(range(start, end + 1, int(step) if step else 1))
    return allowed


def next_cron(expression: str, after: datetime) -> datetime:
    """The first minute strictly after `after` that `cron(min hour day-of-month month day-of-week year)` matches,
    in UTC as EventBridge evaluates it. L, W and # (last day, weekday, nth weekday) are not supported."""
    fields = expression.removeprefix("cron(").removesuffix(")").split()
    if len(fields) != 6:
        raise ValueError(f"{expression}: a cron has six fields")
    try:
        minutes, hours = _field(fields[0], 0, 59), _field(fields[1], 0, 23)
        days, months = _field(fields[2], 1, 31), _field(fields[3], 1, 12, _MONTHS)
        weekdays = _field(fields[4], 1, 7, _DAYS)  # 1 is Sunday
        years = _field(fields[5], 1970, 2199)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{expression}: not a cron the local scheduler reads (L, W and # are not): {exc}") from exc
    start = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = start.replace(hour=0, minute=0)
    for _ in range(366 * 8):  # enough to reach any date the fields allow (29 February, a leap year's)
        weekday = (day.weekday() + 1) % 7 + 1  # Python's Monday=0 -> cron's Sunday=1
        if day.year in years and day.month in months and day.day in days and weekday in weekdays:
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    at = day.replace(hour=hour, minute=minute)
                    if at >= start:
                        return at
        day += timedelta(days=1)
    raise ValueError(f"{expression} never runs after {after.isoformat()}")


def next_run(schedule: Schedule, after: datetime, started: datetime) -> datetime:
    """When `schedule` runs next after `after`: a rate on its period from `started`, a cron at its next UTC
    minute."""
    period = rate_seconds(schedule.expression)
    if period is None:
        return next_cron(schedule.expression, after)
    runs = int((after - started).total_seconds() // period) + 1
    return started + timedelta(seconds=runs * period)


# --- running one --------------------------------------------------------------------------------------


def timeout(name: str) -> int:
    """The function's lambda_timeout in seconds: the local stage's, else the deployed (prod) stage's."""
    stages = json.loads((ROOT / "chalice.json").read_text())["stages"]
    for stage in ("local", "prod"):
        config = stages.get(stage, {})
        found = config.get("lambda_functions", {}).get(name, {}).get("lambda_timeout") or config.get("lambda_timeout")
        if found:
            return int(found)
    return DEFAULT_TIMEOUT


def invoke(schedule: Schedule) -> dict[str, Any]:
    """Run one scheduled function as EventBridge and Lambda would: a scheduled event, a context with its timeout.
    Logs and returns its report, with how long it took."""
    from chalice.local import LambdaContext

    module, _, function = schedule.handler.rpartition(".")
    handler = getattr(importlib.import_module(module), function)
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": os.environ.get("AWS_REGION", "cn-north-1"),
        "resources": [],
        "detail": {},
    }
    context = LambdaContext(schedule.name, 512, max_runtime_ms=timeout(schedule.name) * 1000)
    started = time.monotonic()
    try:
        report = handler(event, context)
    except Exception:
        log.exception("scheduled job %s failed after %.2fs", schedule.name, time.monotonic() - started)
        raise
    took = round(time.monotonic() - started, 3)
    log.info("scheduled job %s took %.2fs: %s", schedule.name, took, json.dumps(report, default=str))
    return {"job": schedule.name, "seconds": took, "report": report}


def serve(app: Any, poll: float = 1.0) -> None:
    """Run every schedule at its times until stopped. Runs are one at a time: a long one delays the next."""
    found = schedules(app)
    started = datetime.now(UTC)
    due = {s.name: next_run(s, started, started) for s in found}
    plan = ", ".join(f"{s.name} {s.expression} (next {due[s.name]:%H:%M} UTC)" for s in found)
    print(f"scheduled jobs: {plan}", flush=True)
    while True:
        now = datetime.now(UTC)
        for schedule in found:
            if due[schedule.name] <= now:
                try:
                    invoke(schedule)
                except Exception:  # noqa: BLE001 - logged in invoke; the other schedules go on
                    pass
                due[schedule.name] = next_run(schedule, datetime.now(UTC), started)
        time.sleep(poll)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.jobs", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every scheduled function, its schedule and next run")
    run = commands.add_parser("run", help="run one scheduled function now against the running make dev")
    run.add_argument("name")
    commands.add_parser("serve", help="run every scheduled function on its schedule (make dev starts this)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    if args.command == "run" or (args.command == "list" and env_file().exists()):
        load_environment()  # `serve` runs inside make dev's own environment; `list` needs no stack
    sys.path.insert(0, str(ROOT))
    from app import app

    found = {s.name: s for s in schedules(app)}
    if args.command == "list":
        now = datetime.now(UTC)
        for s in found.values():
            print(f"{s.name:<20} {s.expression:<22} next {next_run(s, now, now):%Y-%m-%d %H:%M} UTC  {s.handler}")
        return 0
    if args.command == "serve":
        try:
            serve(app)
        except KeyboardInterrupt:  # Ctrl-C on make dev reaches its whole process group
            pass
        return 0
    if args.name not in found:
        print(f"no scheduled function {args.name!r}; there are: {', '.join(found)}", file=sys.stderr)
        return 2
    print(json.dumps(invoke(found[args.name]), default=str, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
