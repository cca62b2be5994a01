"""A per-container copy of what a read returned, kept a few seconds: a key that every request of a coupon drop
reads (the claim's template, the offers' shelf) is read once per container and window, not once per request.

One set of rules for every such copy, so each caller states only its read and its window:
- a copy older than `seconds` (or stamped in the future: the clock moved back) is read again;
- `forget` drops a key's copy when this container wrote what it copies, so its own next request sees the write
  at once; a read that began before a `forget` is not kept (it may hold what was there before that write);
- a read that found nothing (None) is not kept, so a thing created a moment later elsewhere is seen at once;
- past `max_size` keys the copies start over (they only cost reads).
Another container's write is seen here within `seconds`: what a caller copies must tolerate being that late.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Generic, TypeVar

from mini_program_api.platform import clock

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ContainerCopy(Generic[K, V]):
    """Copies of `read()` per key, each kept `seconds` of `clock.now()` (tests move it)."""

    def __init__(self, seconds: float, max_size: int = 1024) -> None:
        self.seconds = seconds
        self._max_size = max_size
        self._copies: dict[K, tuple[datetime, V]] = {}
        self._lock = threading.Lock()
        self._forgotten = 0  # bumped by every `forget`: a read that began before one is not kept

    def get(self, key: K, read: Callable[[], V | None]) -> V | None:
        """The copy of `key` read within `seconds`, else `read()` now (kept unless None or overtaken by a forget)."""
        now = clock.now()
        with self._lock:
            hit, generation = self._copies.get(key), self._forgotten
        if hit is not None and 0 <= (now - hit[0]).total_seconds() < self.seconds:
            return hit[1]
        value = read()
        if value is None:
            return None
        with self._lock:
            if generation == self._forgotten:
                if len(self._copies) >= self._max_size:
                    self._copies.clear()
                self._copies[key] = (now, value)
        return value

    def forget(self, key: K) -> None:
        """This container wrote what `key` copies: its next `get` reads afresh."""
        with self._lock:
            self._forgotten += 1
            self._copies.pop(key, None)
