"""`python -m infra.contract_errors`: the error codes each route can answer, against the codes it declares.

Walks the call graph of `mini_program_api` from each handler, per function and per method (see `_graph`), and
collects the registered error-code literals on the way, leaving out what a `try` swallows. A route must declare
every code the walk finds (`endpoint(errors=...)`) and no code the walk cannot find: what it declares is what
openapi.json and the client's types promise. Codes reached only through module-level data (the ledger's
shortfall code per account, a lockout's error factory) are possible rather than certain: a route declares those
it can meet. Codes the declaration cannot produce (a body error on a route without a body, an idempotency error
on a route without the header) are left out. What the walk misses, the tests' undeclared-code check
(tests/conftest.py, `on_the_stack`) catches at run time.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mini_program_api.routes.endpoint import Route

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# "module:function" -> (codes it names, what it calls, whether it is module-level data: a table of codes, an object
# holding an error factory).
Graph = dict[str, tuple[set[str], set[str], bool]]


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
    """Per function and per method (`module:function`, `module:Class.method`): the codes it names and what it calls.

    A call through a module (`ledger.post`), a name imported from one (`post`), `self.m`/`cls.m`, a class (its
    `__init__`) and a function passed as a value (a callback: `once(req, run, ...)`) resolve to that one function;
    a method called on any other object (`api.prepay()`) resolves to the product's methods of that name, the one
    place where the walk guesses (an over-approximation, never a silent miss)."""
    modules = _modules()
    graph: Graph = {}
    methods: dict[str, set[str]] = {}  # method name -> "module:Class.method" keys
    classes: dict[str, set[str]] = {}  # "module:Class" -> its method keys
    for module, tree in modules.items():
        for key, _, owner in _functions(module, tree):
            if owner is not None:
                methods.setdefault(key.rsplit(".", 1)[1], set()).add(key)
                classes.setdefault(f"{module}:{owner}", set()).add(key)
    for module, tree in modules.items():
        aliases: dict[str, str] = {}  # local name -> module
        names: dict[str, str] = {}  # local name -> "module:function" (or "module:Class")
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
        local = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}

        def target(key: str) -> set[str]:
            """A function, or a class: its constructor and, for a dataclass-like value, nothing more."""
            return {key} | ({k for k in classes.get(key, ()) if k.endswith(".__init__")})

        local |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
        for key, fn, owner in _functions(module, tree):
            body = fn.body if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) else [fn]
            found: set[str] = set()
            calls: set[str] = set()
            nodes: list[ast.AST] = [n for statement in body for n in ast.walk(statement)]
            called = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
            # A local variable named like a function (`account = ...`) is not that function.
            bound = {n.id for n in nodes if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
            bound |= {a.arg for n in [*nodes, fn] for a in _arguments(n)}
            guarded = _swallowed(nodes)
            for node in nodes:
                if id(node) in guarded and not isinstance(node, ast.Constant):
                    continue
                if isinstance(node, ast.Constant) and node.value in codes:
                    found.add(node.value)
                elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                    base = node.value
                    if isinstance(base, ast.Name) and base.id in aliases:
                        calls |= target(f"{aliases[base.id]}:{node.attr}")
                    elif isinstance(base, ast.Name) and base.id in ("self", "cls") and owner:
                        calls.add(f"{module}:{owner}.{node.attr}")
                    elif id(node) in called and node.attr not in _LIBRARY_METHODS:
                        calls |= methods.get(node.attr, set())
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in bound:
                    if node.id in names:
                        calls |= target(names[node.id])
                    elif node.id in local:
                        calls |= target(f"{module}:{node.id}")
            graph[key] = (found, calls, isinstance(fn, ast.Assign))
    return graph


def _library_methods() -> frozenset[str]:
    """Method names the libraries' objects answer to (a PynamoDB model's `query`, a dict's `get`): a call of one on
    an object of unknown type is taken for the library's, not for a product method that happens to share it."""
    from pynamodb.models import Model

    return frozenset(name for kind in (Model, dict, list, set, str, bytes) for name in dir(kind))


_LIBRARY_METHODS = _library_methods()


Function = ast.FunctionDef | ast.AsyncFunctionDef


def _functions(module: str, tree: ast.Module) -> Iterator[tuple[str, Function | ast.Assign, str | None]]:
    """Module functions, methods and module-level names (a lockout's error factory, a table of codes), by key,
    with their definition and their class."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield f"{module}:{node.name}", node, None
        elif isinstance(node, ast.Assign):
            for name in (t.id for t in node.targets if isinstance(t, ast.Name)):
                yield f"{module}:{name}", node, None
        elif isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{module}:{node.name}.{member.name}", member, node.name


def _arguments(node: ast.AST) -> list[ast.arg]:
    args = getattr(node, "args", None)
    if not isinstance(args, ast.arguments):
        return []
    return [*args.posonlyargs, *args.args, *args.kwonlyargs, *filter(None, (args.vararg, args.kwarg))]


_CATCH_ALL = {"KabaoError", "Exception", "BaseException"}


def _swallowed(nodes: list[ast.AST]) -> set[int]:
    """Nodes inside a `try` whose handler catches every KabaoError and does not raise again: what they call
    cannot answer the route (a message sent best-effort, a push whose failure is recorded for a retry)."""
    inside: set[int] = set()
    for node in nodes:
        if not isinstance(node, ast.Try):
            continue
        for handler in node.handlers:
            caught = handler.type
            names = (
                {e.id for e in caught.elts if isinstance(e, ast.Name)}
                if isinstance(caught, ast.Tuple)
                else {caught.id}
                if isinstance(caught, ast.Name)
                else set()
            )
            raises = any(isinstance(n, ast.Raise) for stmt in handler.body for n in ast.walk(stmt))
            if (caught is None or names & _CATCH_ALL) and not raises:
                inside |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return inside


def reachable(graph: Graph, key: str) -> set[str]:
    """Every code down the call graph from `key`, tables included."""
    certain, possible = reach(graph, key)
    return certain | possible


def reach(graph: Graph, key: str) -> tuple[set[str], set[str]]:
    """(certain, possible): codes named by the functions down the call graph from `key`, and codes reached only
    through module-level data they use: the ledger's shortfall code per account (which one a route meets depends on
    the accounts its postings debit) or a lockout's error factory (raised by counting an attempt, not by resetting
    the count). The walk cannot tell those apart, so a route declares the possible codes it can meet, no more."""
    seen: set[tuple[str, bool]] = set()
    todo: list[tuple[str, bool]] = [(key, False)]  # (function, reached through module-level data)
    certain: set[str] = set()
    possible: set[str] = set()
    while todo:
        current, through_data = todo.pop()
        if (current, through_data) in seen or current not in graph:
            continue
        seen.add((current, through_data))
        codes, calls, data = graph[current]
        through_data = through_data or data
        (possible if through_data else certain).update(codes)
        todo.extend((call, through_data) for call in calls)
    return certain, possible - certain


def _impossible(route: Route) -> set[str]:
    """Codes its declaration rules out: a body error without a body, an idempotency error without the header."""
    impossible = {"INVALID_JSON", "REQUEST_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "INVALID_CURSOR"}
    if not route.idempotent:
        impossible |= {"INVALID_IDEMPOTENCY_KEY", "IDEMPOTENCY_KEY_REUSED"}
    if not route.role:
        impossible |= {"FORBIDDEN", "UNAUTHENTICATED", "TOKEN_EXPIRED"}
    return impossible


def check() -> tuple[dict[tuple[str, str], list[str]], dict[tuple[str, str], list[str]]]:
    """(undeclared, stale) per route: codes its handler can reach that it does not declare, and codes it declares
    (`errors=`) that nothing it calls can raise or that its declaration already implies."""
    import app  # noqa: F401  (every route declared)
    from mini_program_api.platform.errors import STATUS
    from mini_program_api.routes.endpoint import ROUTES, implied_errors

    graph = _graph(set(STATUS))
    missing, stale = {}, {}
    for route in ROUTES:
        codes, possible = reach(graph, f"{route.module}:{route.name}")
        implied = implied_errors(
            route.role, route.body is not None, route.query is not None, route.path, route.idempotent
        )
        if codes - route.errors - _impossible(route):
            missing[(route.method, route.path)] = sorted(codes - route.errors - _impossible(route))
        if route.declared - ((codes | possible) - implied):
            stale[(route.method, route.path)] = sorted(route.declared - ((codes | possible) - implied))
    return missing, stale


if __name__ == "__main__":
    missing, stale = check()
    for label, found in (("undeclared", missing), ("declared but unreachable or implied", stale)):
        for (method, path), codes in sorted(found.items(), key=lambda item: (item[0][1], item[0][0])):
            print(f"{label}: {method} {path}: {', '.join(codes)}")
