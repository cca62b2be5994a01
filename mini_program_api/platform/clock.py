"""The one source of "now", so tests and scheduled jobs can move time."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return _now()


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); None restores the real one."""
    global _now
    _now = fn or (lambda: datetime.now(UTC))


def unix_seconds(text: str) -> int | None:
    """A Unix time in seconds as WeChat sends one in a header or query string, or None. ASCII digits only (int()
    also takes " 1_700_000_000" and other scripts' digits), at most 12 of them: a longer number overflowed the
    float it is compared with, a 500 where a 401 belongs."""
    return int(text) if _UNIX_SECONDS.fullmatch(text) else None


def local_date(tz: str, at: datetime | None = None) -> date:
    """The merchant's calendar day: a sign-in at 23:30 UTC is already tomorrow in Shanghai."""
    return (at or now()).astimezone(ZoneInfo(tz)).date()


def iso(at: datetime, tz: str) -> str:
    """ISO-8601 with the merchant's offset, as the HTTP contract requires."""
    return at.astimezone(ZoneInfo(tz)).isoformat(timespec="seconds")


def minute(at: datetime, tz: str) -> str:
    """`YYYY-MM-DD HH:MM` in the merchant's zone: the shape of a subscribe message's time field."""
    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
