"""Every import is declared, and the dev closure agrees with the Lambda closure it is compiled from."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ["mini_program_api", "functions", "lambdas", "app.py"]  # what the Lambda package holds
# The Lambda runtime ships boto3 and botocore (boto3 is pinned in the dev closure); `chalice package`
# puts its own runtime module (chalice.app) into the zip.
PROVIDED = {"boto3", "botocore", "chalice"}


def _pins(name: str) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", (ROOT / name).read_text(), re.MULTILINE)
    return {_norm(dist): version for dist, version in found}


def _norm(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _imports(paths: list[str]) -> set[str]:
    modules = set()
    for path in paths:
        files = [ROOT / path] if path.endswith(".py") else (ROOT / path).rglob("*.py")
        for file in files:
            for node in ast.walk(ast.parse(file.read_text())):
                if isinstance(node, ast.Import):
                    modules |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules.add(node.module.split(".")[0])
    local = {"mini_program_api", "functions", "lambdas", "infra", "app", "tests", "bench"}
    return {m for m in modules if m not in sys.stdlib_module_names and m not in local}


def _undeclared(paths: list[str], declared: dict[str, str], allowed: set[str]) -> set[str]:
    distributions = packages_distributions()
    return {m for m in _imports(paths) - allowed if not any(_norm(d) in declared for d in distributions.get(m, [m]))}


def test_runtime_code_imports_only_what_requirements_txt_pins() -> None:
    assert _undeclared(RUNTIME, _pins("requirements.txt"), PROVIDED) == set()


def test_the_local_stack_and_tests_import_only_what_the_dev_closure_pins() -> None:
    assert _undeclared(["infra", "tests", "bench"], _pins("requirements-dev.txt"), set()) == set()


def test_the_dev_closure_keeps_every_runtime_pin() -> None:
    runtime, dev = _pins("requirements.txt"), _pins("requirements-dev.txt")
    assert {d: (v, dev.get(d)) for d, v in runtime.items() if dev.get(d) != v} == {}
    assert "-r requirements.txt" in (ROOT / "requirements-dev.in").read_text()
