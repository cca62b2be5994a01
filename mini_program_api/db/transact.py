"""One TransactWriteItems with named parts, sent so that a resend is applied once.

DynamoDB reports cancellation reasons by position; the parts are sent in the
order they were labelled per kind (condition checks, deletes, puts, updates), so
a cancellation says which labelled condition failed.

Every commit carries one ClientRequestToken, kept for every resend of that
commit: botocore's own retry after a read timeout and ours after a conflict,
throttling or a lost connection. DynamoDB applies a token once (for 10 minutes),
so a transaction that committed before its response was lost is not applied
again, and is not mistaken for a failed condition either. The token is per
commit, not a hash of the request: two separate operations can send identical
requests (adding 1 to a counter) and must both count.

Single-item conditional writes (`update_if`, `put_new`) go through the same path
for the same reason: a resent conditional write would otherwise fail its own
condition and report that someone else had won.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Sequence
from typing import Any, cast

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from mini_program_api.db.models import connection
from mini_program_api.platform.errors import KabaoError

_KINDS = ("check", "delete", "put", "update")
ATTEMPTS = 6
CONDITION_FAILED = "ConditionalCheckFailed"
# Cancellation reasons that say "not now", never "no": nothing was written, so the same request may go again.
_TRANSIENT_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
)
_TRANSIENT_ERRORS = frozenset(
    {
        "TransactionInProgressException",
        "TransactionConflictException",  # a single-item write meeting a transaction on its item (botocore: no retry)
        "ThrottlingException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "InternalServerError",
        "ServiceUnavailable",
        None,
    }
)  # None: no answer at all (timeout, connection)


class Cancelled(Exception):
    """The transaction was refused because these labelled conditions failed (label -> reason code)."""

    def __init__(self, failed: dict[str, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in failed.items()))
        self.failed = failed


class Transaction:
    def __init__(self) -> None:
        self._ops: dict[str, list[tuple[str, dict[str, Any]]]] = {k: [] for k in _KINDS}
        # Report counters (reports/counters.py), merged per item: one transaction may touch an item
        # only once, and several parts of one operation (its ledger, its sale, its coupon) count on one item.
        self._counts: dict[tuple[type[Model], str, str], dict[str, int]] = {}

    def put(self, label: str, model: Model, condition: Condition | None = None) -> None:
        self._ops["put"].append((label, model.get_save_kwargs_from_instance(condition=condition)))

    def update(self, label: str, model: Model, actions: Sequence[Action], condition: Condition | None = None) -> None:
        self._ops["update"].append(
            (label, model.get_update_kwargs_from_instance(actions=list(actions), condition=condition))
        )

    def delete(self, label: str, model: Model, condition: Condition | None = None) -> None:
        self._ops["delete"].append((label, model.get_delete_kwargs_from_instance(condition=condition)))

    def check(self, label: str, model_cls: type[Model], hash_key: Any, range_key: Any, condition: Condition) -> None:
        self._ops["check"].append(
            (label, model_cls.get_operation_kwargs_from_class(hash_key, range_key=range_key, condition=condition))
        )

    def count(self, model_cls: type[Model], pk: str, sk: str, measures: dict[str, int]) -> None:
        """Add `measures` (attribute -> delta) to a counter item when the transaction commits, unconditionally."""
        merged = self._counts.setdefault((model_cls, pk, sk), {})
        for name, delta in measures.items():
            merged[name] = merged.get(name, 0) + delta

    def _stage_counts(self) -> None:
        for (model_cls, pk, sk), measures in self._counts.items():
            actions = [Path(name).add(delta) for name, delta in sorted(measures.items()) if delta]
            if actions:
                self.update(f"count:{pk}|{sk}", model_cls(pk, sk), actions)
        self._counts = {}

    def commit(self) -> None:
        """Commit atomically; raise `Cancelled` when a labelled condition fails.

        Conflicts, throttling and lost answers are retried with jitter under the
        same token. Still failing after that: 409 CONCURRENT_UPDATE for conflicts,
        503 DATABASE_UNAVAILABLE otherwise; either way the client may retry.
        """
        self._stage_counts()
        labels = [label for kind in _KINDS for label, _ in self._ops[kind]]
        token = uuid.uuid4().hex
        busy = False
        for attempt in range(ATTEMPTS):
            try:
                connection().transact_write_items(
                    condition_check_items=[kw for _, kw in self._ops["check"]],
                    delete_items=[kw for _, kw in self._ops["delete"]],
                    put_items=[kw for _, kw in self._ops["put"]],
                    update_items=[kw for _, kw in self._ops["update"]],
                    client_request_token=token,
                )
                return
            except TransactWriteError as exc:
                busy = _raise_unless_transient(exc, labels)
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
        if busy:
            raise KabaoError("CONCURRENT_UPDATE", "too many concurrent updates, retry later")
        raise KabaoError("DATABASE_UNAVAILABLE", "the database did not answer, retry later")


def _raise_unless_transient(exc: TransactWriteError, labels: list[str]) -> bool:
    """Raise what a caller must see; return whether a transient refusal was a conflict (busy items)."""
    # Not `exc.cause_response_code`: a timeout's cause has `response = None`, which that property trips on.
    code = (getattr(exc.cause, "response", None) or {}).get("Error", {}).get("Code")
    if code == "TransactionCanceledException":
        pairs = zip(labels, exc.cancellation_reasons, strict=False)
        reasons = {label: reason.code for label, reason in pairs if reason}
        failed = {label: reason for label, reason in reasons.items() if reason == CONDITION_FAILED}
        if failed:
            raise Cancelled(failed) from exc
        if not set(reasons.values()) <= _TRANSIENT_REASONS:
            raise exc  # ValidationError, item too large: a bug, never reported as a failed condition
        return "TransactionConflict" in reasons.values()
    if code in _TRANSIENT_ERRORS:
        return False
    raise exc


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` is DynamoDB not answering through every one of botocore's attempts (throttled, busy,
    timed out, unreachable) rather than refusing the request: what the caller may try again later,
    503 DATABASE_UNAVAILABLE. Reads and the few writes outside a `Transaction` meet it as a PynamoDB
    error; a transaction's commit handles its own (above). A refusal (a validation error, an item not
    found) is not: that is a bug or the caller's to handle."""
    from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, HTTPClientError
    from pynamodb.exceptions import PynamoDBException

    cause = exc.cause if isinstance(exc, PynamoDBException) else None
    if isinstance(cause, HTTPClientError | EndpointConnectionError | ConnectTimeoutError):
        return True  # no answer at all: a timeout or a lost connection (not botocore refusing the request itself)
    if isinstance(cause, ClientError):
        return cause.response.get("Error", {}).get("Code") in _TRANSIENT_ERRORS - {None}
    return False


def update_if(model: Model, actions: Sequence[Action], condition: Condition) -> bool:
    """A single-item conditional update; False (not an error) when the condition no longer holds."""
    tx = Transaction()
    tx.update("item", model, actions, condition)
    try:
        tx.commit()
    except Cancelled:
        return False
    return True


def put_new(model: Model) -> bool:
    """A single-item put that never overwrites; False when the key is taken."""
    tx = Transaction()
    cls: Any = type(model)  # every kabao model has `sk`; pynamodb's Model does not declare it
    tx.put("item", model, cls.sk.does_not_exist())
    try:
        tx.commit()
    except Cancelled:
        return False
    return True


def at_version(model: type[Model], version: int) -> Condition:
    """The item is still at `version` (its `version` attribute) as read: a write pinned to it is
    cancelled by any change made since. Version 0 also matches items written before versions."""
    attribute = cast(Any, model).version
    pinned = attribute == version
    return pinned | attribute.does_not_exist() if not version else pinned


def commit_pinned(tx: Transaction, label: str, what: str) -> None:
    """Commit `tx`, whose part `label` is pinned with `at_version`: if that part fails, the `what`
    changed since it was read, 409 CONCURRENT_UPDATE (other failures are the caller's)."""
    try:
        tx.commit()
    except Cancelled as exc:
        if label not in exc.failed:
            raise
        raise KabaoError("CONCURRENT_UPDATE", f"the {what} changed meanwhile, read it again") from exc
