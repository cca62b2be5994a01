"""The unit suite: the pure rules, with no stack, no DynamoDB, no sandbox and no network, in seconds.

Four things hold it to that, whatever a test asks for:

- a unit test that requests the stack (`stack`, `on_the_stack`, or a fixture built on them such as `merchant`)
  is refused at collection, so `make test-unit` never starts DynamoDB Local or the sandbox;
- a run of the unit suite alone fails if anything started the stack, a test module's import included;
- any connection a unit test's own thread opens fails the test at once (a model's `.get()` or `.save()` left in a
  "pure" function would otherwise quietly reach whatever endpoint the environment names);
- hypothesis runs without a deadline (2 shared cores: a slow example is not a failure), and under `CI=true` with
  `derandomize=True` and no example database, so a CI run is reproducible from its log alone.

Models (`Merchant`, `Member`, `Coupon`) are built in memory by `tests/unit/rows.py`; PynamoDB only connects on
a read or a write.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

settings.register_profile("kabao-dev", deadline=None)
settings.register_profile("kabao-ci", deadline=None, derandomize=True, database=None, print_blob=True)
settings.load_profile("kabao-ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "kabao-dev")

UNIT = Path(__file__).parent
STACK_FIXTURES = frozenset({"stack", "on_the_stack"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a unit test that would start the stack (directly or through any fixture it depends on)."""
    wrong = [
        item.nodeid
        for item in items
        if UNIT in Path(str(item.path)).parents and STACK_FIXTURES & set(getattr(item, "fixturenames", ()))
    ]
    if wrong:
        raise pytest.UsageError(
            "unit tests must not use the stack (move them to tests/integration): " + ", ".join(wrong)
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run of the unit suite alone (`make test-unit`) must end with no stack started: not by a test, and not by
    importing a test module either (which the checks above do not see)."""
    from tests import conftest as root

    items = getattr(session, "items", [])
    if items and all(UNIT in Path(str(item.path)).parents for item in items) and root._stack:
        session.config.get_terminal_writer().line("\na unit-only run started the local stack", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="package", autouse=True)
def no_network() -> Iterator[None]:
    """Fail any connection made from the test thread while the unit tests run. Only this thread: when unit and
    stack tests share a process (`make test`), the stack's own server threads keep working."""
    test_thread = threading.get_ident()
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def refuse(address: Any) -> None:
        raise AssertionError(f"a unit test opened a connection to {address!r}: unit tests run without the stack")

    def connect(self: socket.socket, address: Any) -> None:
        if threading.get_ident() == test_thread:
            refuse(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if threading.get_ident() == test_thread:
            refuse(address)
        return real_connect_ex(self, address)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex = real_connect, real_connect_ex  # type: ignore[method-assign]
