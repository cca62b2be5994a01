"""The no-cycles import contract (infra/lint/import_cycles.py) finds a cycle, and only a cycle."""

from __future__ import annotations

from infra.lint.import_cycles import _strongly_connected


def test_a_cycle_through_three_modules_is_found_and_a_chain_is_not() -> None:
    edges = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": [], "e": ["d"]}
    assert _strongly_connected(sorted(edges), lambda m: edges[m]) == [["a", "b", "c"]]
    edges["c"] = ["d"]
    assert _strongly_connected(sorted(edges), lambda m: edges[m]) == []


def test_two_separate_cycles_are_both_reported_largest_first() -> None:
    edges = {"a": ["b"], "b": ["a"], "x": ["y"], "y": ["z"], "z": ["x"]}
    assert _strongly_connected(sorted(edges), lambda m: edges[m]) == [["x", "y", "z"], ["a", "b"]]
