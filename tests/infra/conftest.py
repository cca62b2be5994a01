"""Every test here runs on the local stack: an empty table, and only declared error codes (tests/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _on_the_stack(on_the_stack: None) -> None:
    pass


@pytest.fixture(scope="session")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make package`'s zip and template, built once for the session (test_package.py, test_template_functions.py)."""
    from infra.deploy.package import build

    return build(tmp_path_factory.mktemp("package"))


@pytest.fixture(scope="session")
def template(package: Path) -> dict[str, Any]:
    return json.loads((package / "sam.json").read_text())
