"""One TransactWriteItems with named parts, so a cancellation says which condition failed.

DynamoDB reports cancellation reasons by position; PynamoDB sends condition
checks, deletes, puts and updates in that order whatever order they were added
in, so the labels are kept per kind and concatenated the same way.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from ..errors import KabaoError
from .models import connection

_KINDS = ("check", "delete", "put", "update")
CONFLICT_ATTEMPTS = 5


class Cancelled(Exception):
    """The transaction was refused because of these labelled conditions (label -> reason code)."""

    def __init__(self, failed: dict[str, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in failed.items()))
        self.failed = failed


class Transaction:
    def __init__(self) -> None:
        self._ops: dict[str, list[tuple[str, Callable[[TransactWrite], None]]]] = {k: [] for k in _KINDS}

    def put(self, label: str, model: Model, condition: Condition | None = None) -> None:
        self._ops["put"].append((label, lambda tw: tw.save(model, condition=condition)))

    def update(self, label: str, model: Model, actions: list[Action], condition: Condition | None = None) -> None:
        self._ops["update"].append((label, lambda tw: tw.update(model, actions=actions, condition=condition)))

    def delete(self, label: str, model: Model, condition: Condition | None = None) -> None:
        self._ops["delete"].append((label, lambda tw: tw.delete(model, condition=condition)))

    def check(self, label: str, model_cls: type[Model], hash_key: Any, range_key: Any, condition: Condition) -> None:
        self._ops["check"].append(
            (label, lambda tw: tw.condition_check(model_cls, hash_key, range_key, condition=condition))
        )

    def commit(self) -> None:
        """Commit atomically; raise `Cancelled` when a condition fails.

        TransactionConflict (another transaction holds an item) is retried with
        jitter: nothing was written, so retrying is always safe.
        """
        ordered = [(label, op) for kind in _KINDS for label, op in self._ops[kind]]
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                with TransactWrite(connection=connection()) as tw:
                    for _, op in ordered:
                        op(tw)
                return
            except TransactWriteError as exc:
                if exc.cause_response_code != "TransactionCanceledException":
                    raise
                failed = {
                    label: reason.code
                    for (label, _), reason in zip(ordered, exc.cancellation_reasons)
                    if reason is not None
                }
                if any(code != "TransactionConflict" for code in failed.values()):
                    raise Cancelled(failed) from exc
                time.sleep(random.uniform(0, 0.02 * 2**attempt))
        raise KabaoError("CONCURRENT_UPDATE", "too many concurrent updates, retry later")


def update_if(model: Model, actions: list[Action], condition: Condition) -> bool:
    """A single-item conditional update; False (not an error) when the condition no longer holds."""
    try:
        model.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def put_new(model: Model) -> bool:
    """A single-item put that never overwrites; False when the key is taken."""
    try:
        model.save(condition=type(model).sk.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
