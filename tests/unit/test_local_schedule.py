"""`make dev`'s scheduler (infra/local/jobs.py): every schedule the app registers, at the times EventBridge
would run it. Times come from now (tests/timeline.py), never a fixed day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from chalice.app import ScheduledEventConfig

from infra.local import jobs
from tests.timeline import SHANGHAI, next_weekday


def test_the_scheduler_runs_every_schedule_the_app_registers() -> None:
    from app import app

    registered = {s.name: s.handler_string for s in app.event_sources if isinstance(s, ScheduledEventConfig)}
    found = jobs.schedules(app)
    assert {s.name: s.handler for s in found} == registered and len(found) == len(registered) >= 12
    assert {"issue_jobs_run", "reconcile_topups", "tier_reviews", "liability_check", "wallet_sweep"} <= set(registered)
    now = datetime.now(UTC)
    for schedule in found:  # each can be planned and each handler resolves to the registered function
        assert jobs.next_run(schedule, now, now) > now
        module, _, name = schedule.handler.rpartition(".")
        assert getattr(__import__(module, fromlist=[name]), name) is app.handler_map[schedule.name]


def test_a_rate_runs_every_period_from_the_schedulers_start() -> None:
    started = datetime.now(UTC)
    five = jobs.Schedule("r", "rate(5 minutes)", "m.f")
    assert jobs.next_run(five, started, started) == started + timedelta(minutes=5)
    assert jobs.next_run(five, started + timedelta(minutes=5), started) == started + timedelta(minutes=10)
    assert jobs.next_run(five, started + timedelta(minutes=7, seconds=3), started) == started + timedelta(minutes=10)
    assert jobs.next_run(jobs.Schedule("h", "rate(1 hour)", "m.f"), started, started) == started + timedelta(hours=1)
    assert jobs.rate_seconds("rate(2 days)") == 2 * 86400 and jobs.rate_seconds("cron(0 2 * * ? *)") is None


def test_a_cron_runs_at_its_next_utc_minute_which_is_another_hour_and_day_in_shanghai() -> None:
    now = datetime.now(UTC)
    night = jobs.next_cron("cron(0 19 * * ? *)", now)  # tier reviews, the report jobs
    assert (night.hour, night.minute) == (19, 0) and now < night <= now + timedelta(days=1)
    in_shanghai = night.astimezone(SHANGHAI)
    assert in_shanghai.hour == 3 and in_shanghai.date() == night.date() + timedelta(days=1)
    morning = jobs.next_cron("cron(0 2 * * ? *)", now)  # the reminders: 10:00 in Shanghai
    assert morning.astimezone(SHANGHAI).hour == 10 and now < morning <= now + timedelta(days=1)
    at_19 = now.replace(hour=19, minute=0, second=0, microsecond=0)
    assert jobs.next_cron("cron(0 19 * * ? *)", at_19) == at_19 + timedelta(days=1)  # strictly after
    assert jobs.next_cron("cron(0 19 * * ? *)", at_19 - timedelta(seconds=1)) == at_19


def test_cron_fields_lists_ranges_steps_weekdays_and_months() -> None:
    monday = datetime.combine(next_weekday(datetime.now(UTC).date(), 0), datetime.min.time(), UTC)
    weekdays = "cron(0/15 9-17 ? * MON-FRI *)"
    assert jobs.next_cron(weekdays, monday) == monday.replace(hour=9)
    assert jobs.next_cron(weekdays, monday.replace(hour=9)) == monday.replace(hour=9, minute=15)
    assert jobs.next_cron(weekdays, monday.replace(hour=17, minute=45)) == (monday + timedelta(days=1)).replace(hour=9)
    friday_night = (monday + timedelta(days=4)).replace(hour=18)
    assert jobs.next_cron(weekdays, friday_night) == (monday + timedelta(days=7)).replace(hour=9)
    sunday = jobs.next_cron("cron(30 1 ? * 1 *)", monday)  # 1 is Sunday, as in EventBridge
    assert sunday == (monday + timedelta(days=6)).replace(hour=1, minute=30)
    first = jobs.next_cron("cron(0 0 1 JAN,JUL ? *)", monday)
    assert (first.day, first.month in (1, 7), first > monday) == (1, True, True)
    for unsupported in ("cron(0 0 L * ? *)", "cron(0 0 15W * ? *)", "cron(0 0 ? * 6#3 *)", "cron(0 2 * * ?)"):
        with pytest.raises(ValueError):
            jobs.next_cron(unsupported, monday)  # refused, said so: never a silently wrong time
