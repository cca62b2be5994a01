"""`python -m infra.contract_errors`: error codes each route's handler can reach but does not declare.

Walks the call graph of `mini_program_api` from each handler (calls through imported modules and names, not
dynamic dispatch) and collects registered error-code literals on the way: an over-approximation of what the
route can answer, to seed `endpoint(errors=...)` for a new route. Codes the declaration cannot produce (a body
error on a route without a body, an idempotency error on a route without the header) are left out. What the walk
misses, the tests' undeclared-code check (tests/conftest.py) catches at run time.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
Graph = dict[str, tuple[set[str], set[str]]]  # "module:function" -> (codes, called "module:function"s)


def _modules() -> dict[str, ast.Module]:
    found = {}
    base = os.path.join(ROOT, "mini_program_api")
    for folder, _, files in os.walk(base):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".").removesuffix(".__init__")
                with open(path, encoding="utf-8") as f:
                    found[module] = ast.parse(f.read())
    return found


def _graph(codes: set[str]) -> Graph:
    modules = _modules()
    graph: Graph = {}
    for module, tree in modules.items():
        aliases: dict[str, str] = {}  # local name -> module
        names: dict[str, str] = {}  # local name -> "module:function"
        # Imports anywhere in the module: route handlers import the domain modules they call inside the
        # function (routes/endpoint.py), and a name bound there is taken module-wide (an over-approximation).
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                parts = module.split(".")
                source = (
                    ".".join(parts[: len(parts) - node.level] + ([node.module] if node.module else []))
                    if node.level
                    else (node.module or "")
                )
                for alias in node.names:
                    full = f"{source}.{alias.name}"
                    if full in modules:
                        aliases[alias.asname or alias.name] = full
                    elif source in modules:
                        names[alias.asname or alias.name] = f"{source}:{alias.name}"
        for key, body in _functions(module, tree):
            found, calls = set(), set()
            for node in (n for statement in body for n in ast.walk(statement)):
                if isinstance(node, ast.Constant) and node.value in codes:
                    found.add(node.value)
                elif isinstance(node, ast.Call):
                    fn = node.func
                    if isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name):
                        if fn.value.id in aliases:
                            calls.add(f"{aliases[fn.value.id]}:{fn.attr}")
                        elif fn.value.id in ("self", "cls"):
                            calls.add(f"{module}:{fn.attr}")
                    elif isinstance(fn, ast.Name):
                        calls.add(names.get(fn.id, f"{module}:{fn.id}"))
            graph[key] = (found, calls)
    return graph


def _functions(module: str, tree: ast.Module) -> Iterator[tuple[str, list[ast.stmt]]]:
    """Module functions and methods, by name; a function's body without its decorators."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield f"{module}:{node.name}", node.body
        elif isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{module}:{member.name}", member.body


def reachable(graph: Graph, key: str) -> set[str]:
    seen: set[str] = set()
    todo, found = [key], set()
    while todo:
        current = todo.pop()
        if current in seen or current not in graph:
            continue
        seen.add(current)
        codes, calls = graph[current]
        found |= codes
        todo.extend(calls)
    return found


def undeclared() -> dict[tuple[str, str], list[str]]:
    import app  # noqa: F401  (every route declared)
    from mini_program_api.platform.errors import STATUS
    from mini_program_api.routes.endpoint import ROUTES

    graph = _graph(set(STATUS))
    missing = {}
    for route in ROUTES:
        impossible = {"INVALID_JSON", "REQUEST_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "INVALID_CURSOR"}
        if not route.idempotent:
            impossible |= {"INVALID_IDEMPOTENCY_KEY", "IDEMPOTENCY_KEY_REUSED"}
        if not route.role:
            impossible |= {"FORBIDDEN", "UNAUTHENTICATED", "TOKEN_EXPIRED"}
        codes = reachable(graph, f"{route.module}:{route.name}") - route.errors - impossible
        if codes:
            missing[(route.method, route.path)] = sorted(codes)
    return missing


if __name__ == "__main__":
    for (method, path), codes in sorted(undeclared().items(), key=lambda item: (item[0][1], item[0][0])):
        print(f"{method} {path}: {', '.join(codes)}")
