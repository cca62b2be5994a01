"""An import-linter contract that no module imports itself through others (`type = acyclic_modules`).

import-linter's own `acyclic_siblings` weighs packages against packages: `members` and `coupons` use each other's
modules without any module depending on itself, so it would refuse a layout that has no cycle. This contract
looks at modules, where a cycle is what bites: two threads importing it from opposite ends can be handed a
half-built module (infra/local/api.py), and a cold start pays for the whole loop. Imports inside functions count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


class AcyclicModulesContract(Contract):
    type_name = "acyclic_modules"

    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        roots = tuple(str(p) for p in self.packages)  # type: ignore[attr-defined]
        modules = sorted(m for m in graph.modules if m.startswith(roots))
        cycles = _strongly_connected(modules, lambda m: graph.find_modules_directly_imported_by(m))
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for group in check.metadata["cycles"]:
            output.print_error("these modules import one another: " + ", ".join(group))
            output.new_line()


def _strongly_connected(modules: list[str], imported_by: Callable[[str], Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: every group of modules that reach one another, largest first."""
    inside = set(modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in modules:
        if start in index:
            continue
        work = [(start, iter(sorted(set(imported_by(start)) & inside)))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(set(imported_by(child)) & inside))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return sorted(groups, key=len, reverse=True)
