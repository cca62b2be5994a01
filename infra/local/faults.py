"""Faults in the local stack's DynamoDB calls, and scheduled jobs killed mid-run (`make soak CHAOS=1`, tests).

The soak holds every money invariant under concurrency; this is for what concurrency never shows:
DynamoDB throttling a call, cancelling a transaction for a conflict, or applying a write whose answer
never arrives. They are injected by botocore event hooks on the product's one DynamoDB client
(`mini_program_api/db/models.py` `connection()`), so every model and transaction meets them exactly
where AWS would put them: before the HTTP request (`before-send`), per attempt, under botocore's own
retries and then the product's.

- ``throttle``: ProvisionedThroughputExceededException or ThrottlingException (nothing written).
  botocore retries these itself, so most never reach the product; a share of faulted calls
  (``stubborn``) fail every attempt, as a long throttling episode does, and reach it.
- ``conflict``: a TransactWriteItems cancelled with a TransactionConflict reason (nothing written).
- ``timeout``: the write is sent and applied, then the caller sees a read timeout (or a closed
  connection): the case a resend must not apply twice.
- ``killed``: `Killed` raised at a job thread's n-th DynamoDB call (`kill_after`), after the call was
  applied or before it was sent: a Lambda stopped mid-run, between any two writes. It is a
  BaseException, so no `except Exception` in the product can swallow it.

Only a local stage honours it, and only with ``KABAO_FAULTS`` set (``install`` refuses otherwise): the
hook is never installed in AWS, whatever the environment says. A test scripts one fault at one call
(`inject`) to reproduce what a random run found.
"""

from __future__ import annotations

import contextvars
import json
import os
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ENV = "KABAO_FAULTS"
WRITES = frozenset({"TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"})
_THROTTLES = (
    ("ProvisionedThroughputExceededException", "The level of configured provisioned throughput was exceeded"),
    ("ThrottlingException", "Rate of requests exceeds the allowed throughput."),
)


# A job run's countdown to its kill (`kill_after`): a one-item box, shared by the copies of the run's context its
# reader threads run in, so the run's calls count wherever they are made.
_KILL: contextvars.ContextVar[list[int | None] | None] = contextvars.ContextVar("kabao_faults_kill", default=None)


class Killed(BaseException):
    """The job's process died at this DynamoDB call (see `kill_after`)."""


@dataclass
class Scripted:
    """One fault for the next call of `operation` that `matches` (its request parameters), on `attempts`
    attempts in a row (botocore makes 4 by default: 4 reaches the product)."""

    operation: str
    kind: str  # throttle | conflict | timeout
    attempts: int = 1
    matches: Callable[[dict[str, Any]], bool] = lambda params: True


@dataclass
class _Plan:
    kind: str
    attempts: int
    operation: str


@dataclass
class DynamoFaults:
    """Faults at `rate` of DynamoDB calls (0 for scripted ones only), counted by kind in `counts`."""

    rate: float = 0.0
    stubborn: float = 0.2  # share of random faults that fail every attempt, not just the first
    seed: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    active: bool = True
    _client: Any = None
    _script: list[Scripted] = field(default_factory=list)
    _local: threading.local = field(default_factory=threading.local)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _random: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    # --- switching ------------------------------------------------------------------------

    def install(self, client: Any) -> DynamoFaults:
        self._client = client
        client.meta.events.register("before-call.dynamodb", self._before_call, unique_id="kabao-faults-call")
        client.meta.events.register("before-send.dynamodb", self._before_send, unique_id="kabao-faults-send")
        return self

    def uninstall(self) -> None:
        if self._client is not None:
            self._client.meta.events.unregister("before-call.dynamodb", unique_id="kabao-faults-call")
            self._client.meta.events.unregister("before-send.dynamodb", unique_id="kabao-faults-send")
            self._client = None

    def inject(self, fault: Scripted) -> None:
        """Fail the next matching call as scripted, whatever `rate` and `active` say."""
        with self._lock:
            self._script.append(fault)

    def kill_after(self, calls: int | None) -> None:
        """Raise `Killed` at the job's `calls`-th DynamoDB call from now (None: never): its calls are this
        thread's and those of the threads it reads through in a copy of its context (jobs/due.py's shard
        readers), as a Lambda killed mid-run dies in every thread; a request served meanwhile is not counted."""
        _KILL.set([calls] if calls is not None else None)

    # --- the hooks ----------------------------------------------------------------------------

    def _before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        """Decide once per API call (botocore's retries are attempts of it) whether and how it fails."""
        self._local.plan = None
        name = model.name
        with self._lock:
            for i, fault in enumerate(self._script):
                if fault.operation == name and fault.matches(json.loads(params.get("body") or b"{}")):
                    del self._script[i]
                    self._local.plan = _Plan(fault.kind, fault.attempts, name)
                    return
            if not self.active or self._random.random() >= self.rate:
                return
            kinds = ["throttle", "timeout"] if name in WRITES else ["throttle"]
            if name == "TransactWriteItems":
                kinds.append("conflict")
            kind = self._random.choice(kinds)
            stubborn = self._random.random() < self.stubborn
        # A conflict is never retried by botocore: the product sees it whichever way.
        self._local.plan = _Plan(kind, 4 if stubborn else 1, name)

    def _before_send(self, request: Any, **_: Any) -> Any:
        box = _KILL.get()
        with self._lock:
            kill_in = box[0] if box else None
            due_now = kill_in is not None and kill_in <= 1
            if box and kill_in is not None:
                box[0] = None if due_now else kill_in - 1
        if due_now:
            if self._random.random() < 0.5 and self._operation(request) in WRITES:
                self._send(request)  # died right after the write was applied
                self._count("killed after a write")
            else:
                self._count("killed")
            raise Killed()
        plan: _Plan | None = getattr(self._local, "plan", None)
        if plan is None or plan.attempts <= 0:
            return None
        plan.attempts -= 1
        if plan.kind == "timeout":
            from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

            self._send(request)
            self._count(f"timeout after {plan.operation}")
            lost = ReadTimeoutError if self._random.random() < 0.5 else ConnectionClosedError
            raise lost(endpoint_url=request.url)
        if plan.kind == "conflict":
            self._count("TransactionConflict")
            items = len(json.loads(request.body or b"{}").get("TransactItems", [])) or 1
            reasons = [{"Code": "None"}] * items
            reasons[self._random.randrange(items)] = {
                "Code": "TransactionConflict",
                "Message": "Transaction is ongoing for the item",
            }
            return _error(
                request.url,
                "TransactionCanceledException",
                "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
                CancellationReasons=reasons,
            )
        code, message = self._random.choice(_THROTTLES)
        self._count(code)
        return _error(request.url, code, message)

    # --- helpers --------------------------------------------------------------------------------

    def _send(self, request: Any) -> None:
        response = self._client._endpoint.http_session.send(request)
        response.content  # noqa: B018 -- read, so the connection goes back to the pool

    @staticmethod
    def _operation(request: Any) -> str:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else str(target)
        return target.rpartition(".")[2]

    def _count(self, kind: str) -> None:
        with self._lock:
            self.counts[kind] += 1


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _error(url: str, code: str, message: str, **fields: Any) -> Any:
    from botocore.awsrequest import AWSResponse

    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message, **fields})
    headers = {"x-amzn-RequestId": "kabao-faults", "Content-Type": "application/x-amz-json-1.0"}
    return AWSResponse(url, 400, headers, _Raw(body.encode()))


def allowed() -> bool:
    """Faults only on a local stage, and only when the environment asks for them."""
    from mini_program_api.platform.config import settings

    return settings().is_local and bool(os.environ.get(ENV))


def install(rate: float | None = None, seed: int = 0, active: bool = True) -> DynamoFaults:
    """Hook faults into the product's DynamoDB client: at `rate` (default: ``KABAO_FAULTS`` as a rate)."""
    if not allowed():
        raise RuntimeError(f"DynamoDB faults need a local stage (KABAO_STAGE local or test) and {ENV} set")
    from mini_program_api.db.models import connection

    chosen = float(os.environ[ENV]) if rate is None else rate
    return DynamoFaults(rate=chosen, seed=seed, active=active).install(connection().client)


@dataclass
class SandboxFaults:
    """WeChat's and WeChat Pay's faults in the sandbox, at `rate` of their API calls (never the sandbox's
    own controls), a third of each kind:

    - ``fail``: refused before anything happens (WeChat's errcode -1 "system busy", Pay's 500 SYSTEM_ERROR);
    - ``late``: answered normally, `late_seconds` late;
    - ``lost``: applied, then the answer is lost (a 504 with no body): the order or refund exists at
      WeChat Pay though kabao was told nothing.
    """

    rate: float = 0.0
    late_seconds: float = 1.0
    seed: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    _random: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def set(self, rate: float, late_seconds: float = 1.0, seed: int = 0) -> None:
        with self._lock:
            self.rate, self.late_seconds, self._random = float(rate), float(late_seconds), random.Random(seed)
            self.counts.clear()

    def choose(self, api: str) -> str | None:
        """The fault for this call of `api` (a path, counted by it), or None."""
        with self._lock:
            if self.rate <= 0 or self._random.random() >= self.rate:
                return None
            kind = self._random.choice(("fail", "late", "lost"))
            self.counts[f"{kind} {api}"] += 1
            return kind

    def report(self) -> dict[str, Any]:
        with self._lock:
            return {"rate": self.rate, "late_seconds": self.late_seconds, "counts": dict(self.counts)}
