"""What a request did to DynamoDB: every call PynamoDB dispatched, with its answer.

A spy, not a mock: each call still goes to DynamoDB Local; the list only lets a
test count the writes a request made and the items its queries read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from pynamodb.connection.base import Connection

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})


@dataclass
class Calls:
    calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def clear(self) -> None:
        self.calls.clear()

    def named(self, *operations: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        return [c for c in self.calls if c[0] in operations]

    @property
    def writes(self) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        return [c for c in self.calls if c[0] in WRITES]

    @property
    def items_read_by_queries(self) -> int:
        """Items DynamoDB read for Query calls (before any filter): what a request path costs."""
        return sum(int(response.get("ScannedCount", 0)) for _, _, response in self.named("Query"))


def record(monkeypatch: pytest.MonkeyPatch) -> Calls:
    calls = Calls()
    original = Connection.dispatch

    def dispatch(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> dict[str, Any]:
        response = original(self, operation_name, operation_kwargs)
        calls.calls.append((operation_name, operation_kwargs, response))
        return response

    monkeypatch.setattr(Connection, "dispatch", dispatch)
    return calls
