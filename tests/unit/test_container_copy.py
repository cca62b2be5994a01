"""The rules every per-container copy keeps (platform/container_copy.py: the claim's template, the offers' shelf):
read once per window, read again after it, at once after this container's own write, never kept from a read that
a write here overtook, never kept when the read found nothing, bounded."""

from __future__ import annotations

from collections.abc import Callable

from mini_program_api.platform.container_copy import ContainerCopy
from tests import timeline


class Store:
    """What a copy copies, counting its reads."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self.reads = 0

    def reader(self, key: str) -> Callable[[], int | None]:
        def read() -> int | None:
            self.reads += 1
            return self.values.get(key)

        return read


def test_a_copy_is_read_once_per_window_and_again_after_it(clock: timeline.Clock) -> None:
    store, copies = Store(), ContainerCopy[str, int](5.0)
    store.values["a"] = 1
    assert copies.get("a", store.reader("a")) == 1
    store.values["a"] = 2  # written by another container
    clock.advance(seconds=4.9)
    assert copies.get("a", store.reader("a")) == 1 and store.reads == 1
    clock.advance(seconds=0.1)
    assert copies.get("a", store.reader("a")) == 2 and store.reads == 2
    clock.advance(seconds=-60)  # the clock moved back: a copy stamped in the future is not trusted
    assert copies.get("a", store.reader("a")) == 2 and store.reads == 3


def test_a_write_here_is_seen_at_once_and_a_read_it_overtook_is_not_kept(clock: timeline.Clock) -> None:
    store, copies = Store(), ContainerCopy[str, int](5.0)
    store.values["a"] = 1
    assert copies.get("a", store.reader("a")) == 1
    store.values["a"] = 2
    copies.forget("a")
    assert copies.get("a", store.reader("a")) == 2

    def overtaken() -> int:
        seen = store.values["a"]  # read before this container's write commits, kept after it forgot
        store.values["a"] = 3
        copies.forget("a")
        return seen

    copies.forget("a")
    assert copies.get("a", overtaken) == 2
    assert copies.get("a", store.reader("a")) == 3


def test_nothing_found_is_not_kept_and_the_copies_are_bounded(clock: timeline.Clock) -> None:
    store, copies = Store(), ContainerCopy[str, int](5.0, max_size=2)
    assert copies.get("new", store.reader("new")) is None
    store.values["new"] = 7  # created a moment later elsewhere: seen at once
    assert copies.get("new", store.reader("new")) == 7
    store.values.update(b=1, c=1)
    copies.get("b", store.reader("b"))
    copies.get("c", store.reader("c"))  # a third key: the copies start over
    reads = store.reads
    copies.get("new", store.reader("new"))
    assert store.reads == reads + 1
