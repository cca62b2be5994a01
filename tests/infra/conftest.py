"""Every test here runs on the local stack: an empty table, and only declared error codes (tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _on_the_stack(on_the_stack: None) -> None:
    pass
