"""Partition heat: the partition key of every DynamoDB read and write, with its capacity units (bench/heat.py).

A botocore event hook on the product's one DynamoDB client (`mini_program_api/db/models.py` `connection()`)
sees every call's parameters (`before-parameter-build`) and its answer (`after-call`), and books each item
the call touches on the partition that serves it: the table's (`pk`), or an index's (`due_pk`, `cards_pk`,
`roster_pk`). A GSI takes writes too: an item write whose index key is set, changed or removed writes the
index partition (a change is a delete on the old key and a put on the new one), and a write that changes an
attribute an INCLUDE index projects writes it in place. Neither shows in the table write's parameters alone,
so the recorder keeps each item's index keys as last seen (a put, an update's ALL_NEW answer, a read) and
applies each update's SET and REMOVE to them.

Units follow DynamoDB's rules from item sizes (names + values): a write 1 unit per KB (2 in a transaction), a
read 1 per 4 KB (half if eventually consistent, 2 in a transaction), a Query per 4 KB of what it returned; an
index write 1 per KB of the projected item (keys and small projections: 1). DynamoDB Local's own
ReturnConsumedCapacity totals are kept beside them (`reported`) as a check.

Each booking carries the operation it served: the HTTP request on the server thread that made the call
(set by infra/local/api.py's handler, ids in the path replaced by `{id}`), or the recorder's `phase` for calls
outside a request (a job, a bench's own set-up).

Local stage only. `KABAO_HEAT_RECORD=<file>` makes the local API server (`make dev`, infra/local/api.py)
install one and write its bookings to the file as JSON at exit; bench/heat.py installs one in its own process.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import re
import signal
import sys
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

ENV = "KABAO_HEAT_RECORD"
TABLE = "table"
_request = threading.local()
_ID = re.compile(r"^(?=.*\d)[A-Za-z0-9_\-.:]{8,}$")
_ASSIGN = re.compile(r"(#[\w]+)\s*=\s*(:[\w]+)")


def set_request(method: str, path: str) -> None:
    """The HTTP request this thread now serves (the local API's handler calls it per request)."""
    _request.operation = f"{method} {route_of(path)}"


def clear_request() -> None:
    _request.operation = None


def route_of(path: str) -> str:
    """The path with its ids (segments of 8+ characters with a digit) as `{id}` and without its query."""
    return "/".join("{id}" if _ID.match(part) else part for part in path.split("?", 1)[0].split("/"))


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item in its wire form: attribute names plus values (numbers about half their digits)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    (kind, v), *_ = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return len(v.lstrip("-").replace(".", "")) // 2 + 1
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + item_size(v)
    if kind == "L":
        return 3 + sum(_value_size(x) + 1 for x in v)
    return sum(len(str(x)) for x in v)  # SS, NS, BS


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: str
    range_key: str
    projected: frozenset[str] | None  # non-key attributes an INCLUDE index copies; None: ALL; empty: KEYS_ONLY


def indexes() -> list[Index]:
    """The table's GSIs as db/schema.py declares them."""
    from mini_program_api.db.schema import GLOBAL_SECONDARY_INDEXES

    found = []
    for gsi in GLOBAL_SECONDARY_INDEXES:
        spec: dict[str, Any] = dict(gsi)
        keys = {k["KeyType"]: k["AttributeName"] for k in spec["KeySchema"]}
        kind = spec["Projection"]["ProjectionType"]
        projected: frozenset[str] | None = None if kind == "ALL" else frozenset()
        if kind == "INCLUDE":
            projected = frozenset(spec["Projection"]["NonKeyAttributes"])
        found.append(Index(spec["IndexName"], keys["HASH"], keys["RANGE"], projected))
    return found


@dataclass
class Booking:
    reads: float = 0.0  # read units
    writes: float = 0.0  # write units
    read_calls: int = 0
    write_calls: int = 0
    writers: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # operation -> write units
    readers: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # operation -> read units


class Recorder:
    """Bookings per (index or "table", partition key): units and which operations spent them."""

    def __init__(self) -> None:
        self.indexes = indexes()
        self.bookings: dict[tuple[str, str], Booking] = defaultdict(Booking)
        self.reported = {"read": 0.0, "write": 0.0}  # DynamoDB Local's own ConsumedCapacity totals
        self.operations: dict[str, int] = defaultdict(int)  # API requests seen per route
        self.phase = "outside a request"
        self.counting = True
        self._known: dict[tuple[str, str], tuple[dict[str, str], int]] = {}  # item -> (index key attrs, size)
        self._params = threading.local()
        self._lock = threading.Lock()
        self._by_name = {i.name: i for i in self.indexes}

    # --- botocore hooks --------------------------------------------------------------------------

    def install(self, client: Any) -> Recorder:
        events = client.meta.events
        events.register("before-parameter-build.dynamodb", self._before, unique_id="kabao-heat-params")
        events.register("after-call.dynamodb", self._after, unique_id="kabao-heat-after")
        return self

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        params.setdefault("ReturnConsumedCapacity", "TOTAL")
        self._params.pending = (model.name, params)

    def _after(self, model: Any, parsed: dict[str, Any] | None = None, **_: Any) -> None:
        pending = getattr(self._params, "pending", None)
        self._params.pending = None
        if not pending or pending[0] != model.name:
            return
        self.observe(model.name, pending[1], parsed or {})

    # --- booking ---------------------------------------------------------------------------------

    def observe(self, operation: str, params: dict[str, Any], answer: dict[str, Any]) -> None:
        """Book one DynamoDB call: its request parameters and its parsed answer (an error's answer too)."""
        with self._lock:
            self._observe(operation, params, answer)

    def _observe(self, operation: str, params: dict[str, Any], answer: dict[str, Any]) -> None:
        if self.counting:
            consumed = answer.get("ConsumedCapacity") or []
            for c in consumed if isinstance(consumed, list) else [consumed]:
                self.reported["write" if operation in _WRITES else "read"] += float(c.get("CapacityUnits", 0.0))
        if operation == "GetItem":
            self._read(params["Key"], answer.get("Item"), params.get("ConsistentRead", False))
        elif operation == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                found = {_key(item): item for item in answer.get("Responses", {}).get(table, [])}
                for key in request["Keys"]:
                    self._read(key, found.get(_key(key)), request.get("ConsistentRead", False))
        elif operation == "TransactGetItems":
            for entry in params["TransactItems"]:
                self._read(entry["Get"]["Key"], None, True, transaction=True)
        elif operation in ("Query", "Scan"):
            self._query(operation, params, answer)
        elif operation == "PutItem":
            self._write(params["Item"], put=params["Item"], units=1)
        elif operation == "UpdateItem":
            self._update(params, units=1, new=answer.get("Attributes"))
        elif operation == "DeleteItem":
            self._write(params["Key"], put=None, units=1, delete=True)
        elif operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                (kind, spec), *_ = entry.items()
                if kind == "Put":
                    self._write(spec["Item"], put=spec["Item"], units=2)
                elif kind == "Update":
                    self._update(spec, units=2, new=None)
                elif kind == "Delete":
                    self._write(spec["Key"], put=None, units=2, delete=True)
                else:  # ConditionCheck: a transactional read of the item
                    self._book(TABLE, _pk(spec["Key"]), reads=2.0)
        elif operation == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                for request in requests:
                    if "PutRequest" in request:
                        item = request["PutRequest"]["Item"]
                        self._write(item, put=item, units=1)
                    else:
                        self._write(request["DeleteRequest"]["Key"], put=None, units=1, delete=True)

    def _read(
        self, key: dict[str, Any], item: dict[str, Any] | None, consistent: bool, transaction: bool = False
    ) -> None:
        size = item_size(item) if item else 0
        if item:
            self._remember(item)
        per = 2.0 if transaction else 1.0 if consistent else 0.5
        self._book(TABLE, _pk(key), reads=per * max(1, math.ceil(size / 4096)))

    def _query(self, operation: str, params: dict[str, Any], answer: dict[str, Any]) -> None:
        items = answer.get("Items", [])
        if "IndexName" not in params:  # whole items (an index's may be only its keys)
            for item in items:
                self._remember(item)
        size = sum(item_size(item) for item in items)
        units = max(1, math.ceil(size / 4096)) * (1.0 if params.get("ConsistentRead") else 0.5)
        index = params.get("IndexName") or TABLE
        if operation == "Scan":
            self._book(index, "(scan)", reads=units)
            return
        hash_name = "pk" if index == TABLE or index not in self._by_name else self._by_name[index].hash_key
        names = params.get("ExpressionAttributeNames", {})
        values = params.get("ExpressionAttributeValues", {})
        for name, value in _ASSIGN.findall(params.get("KeyConditionExpression", "")):
            if names.get(name, name) == hash_name:
                self._book(index, values[value]["S"], reads=units)
                return
        self._book(index, "(unknown)", reads=units)

    def _update(self, spec: dict[str, Any], units: int, new: dict[str, Any] | None) -> None:
        names = spec.get("ExpressionAttributeNames", {})
        values = spec.get("ExpressionAttributeValues", {})
        expression = spec.get("UpdateExpression", "")
        sets, removes, touched = _clauses(expression, names, values)
        self._write(spec["Key"], put=None, units=units, sets=sets, removes=removes, touched=touched, new=new)

    def _write(
        self,
        key: dict[str, Any],
        put: dict[str, Any] | None,
        units: int,
        delete: bool = False,
        sets: dict[str, str] | None = None,
        removes: set[str] | None = None,
        touched: set[str] | None = None,
        new: dict[str, Any] | None = None,
    ) -> None:
        item_key = _key(key)
        old_keys, old_size = self._known.get(item_key, ({}, 0))
        index_attrs = {a for i in self.indexes for a in (i.hash_key, i.range_key)}
        if put is not None:
            new_keys = {a: put[a]["S"] for a in index_attrs if a in put and "S" in put[a]}
            size, touched = item_size(put), set(put)
        elif delete:
            new_keys, size, touched = {}, old_size, set()
        else:
            new_keys = {a: v for a, v in old_keys.items() if a not in (removes or set())}
            new_keys.update({a: v for a, v in (sets or {}).items() if a in index_attrs})
            if new is not None:  # an update's ALL_NEW answer: the item as it is now
                new_keys = {a: new[a]["S"] for a in index_attrs if a in new and "S" in new[a]}
            size = item_size(new) if new else max(old_size, item_size(key))
        self._book(TABLE, _pk(key), writes=units * max(1, math.ceil(size / 1024)))
        for index in self.indexes:
            before = (old_keys.get(index.hash_key), old_keys.get(index.range_key))
            after = (new_keys.get(index.hash_key), new_keys.get(index.range_key))
            if before != after:
                if before[0]:
                    self._book(index.name, before[0], writes=1.0)
                if after[0]:
                    self._book(index.name, after[0], writes=float(max(1, math.ceil(self._projected(index, size)))))
            elif after[0] and index.projected is not None and (touched or set()) & index.projected:
                self._book(index.name, after[0], writes=1.0)
            elif after[0] and index.projected is None and (touched or put is not None):
                self._book(index.name, after[0], writes=float(max(1, math.ceil(size / 1024))))
        if delete:
            self._known.pop(item_key, None)
        else:
            self._known[item_key] = (new_keys, size)

    @staticmethod
    def _projected(index: Index, size: int) -> float:
        return size / 1024 if index.projected is None else 1.0

    def _remember(self, item: dict[str, Any]) -> None:
        index_attrs = {a for i in self.indexes for a in (i.hash_key, i.range_key)}
        keys = {a: item[a]["S"] for a in index_attrs if a in item and "S" in item[a]}
        self._known[_key(item)] = (keys, item_size(item))

    def _book(self, index: str, pk: str, reads: float = 0.0, writes: float = 0.0) -> None:
        if not self.counting:
            return
        booking = self.bookings[(index, pk)]
        booking.reads += reads
        booking.writes += writes
        booking.read_calls += 1 if reads else 0
        booking.write_calls += 1 if writes else 0
        operation = getattr(_request, "operation", None) or self.phase
        if writes:
            booking.writers[operation] += writes
        if reads:
            booking.readers[operation] += reads

    # --- reading it back -------------------------------------------------------------------------

    def count_request(self, method: str, path: str) -> None:
        with self._lock:
            if self.counting:
                self.operations[f"{method} {route_of(path)}"] += 1

    def reset(self) -> None:
        """Forget the bookings (not what is known of the items' index keys)."""
        with self._lock:
            self.bookings = defaultdict(Booking)
            self.reported = {"read": 0.0, "write": 0.0}
            self.operations = defaultdict(int)

    def dump(self) -> dict[str, Any]:
        with self._lock:
            return {
                "bookings": [
                    {
                        "index": index,
                        "pk": pk,
                        "reads": b.reads,
                        "writes": b.writes,
                        "read_calls": b.read_calls,
                        "write_calls": b.write_calls,
                        "writers": dict(b.writers),
                        "readers": dict(b.readers),
                    }
                    for (index, pk), b in self.bookings.items()
                ],
                "reported": dict(self.reported),
                "operations": dict(self.operations),
            }


_WRITES = frozenset({"TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"})
_installed: list[Recorder] = []


def _pk(key: dict[str, Any]) -> str:
    return str(key["pk"]["S"])


def _key(item: dict[str, Any]) -> tuple[str, str]:
    return str(item["pk"]["S"]), str(item.get("sk", {}).get("S", ""))


def _clauses(
    expression: str, names: dict[str, str], values: dict[str, Any]
) -> tuple[dict[str, str], set[str], set[str]]:
    """An UpdateExpression's SETs of string values, its REMOVEs, and every top-level attribute it touches."""
    sets: dict[str, str] = {}
    removes: set[str] = set()
    touched: set[str] = set()
    for clause in re.split(r"\b(?=SET |REMOVE |ADD |DELETE )", expression):
        verb, _, body = clause.strip().partition(" ")
        for part in _split_top(body):
            target = part.strip().split("=", 1)[0].strip().split(" ", 1)[0].split(".", 1)[0].split("[", 1)[0]
            name = names.get(target, target)
            if not name:
                continue
            touched.add(name)
            if verb == "REMOVE":
                removes.add(name)
            elif verb == "SET":
                match = _ASSIGN.match(part.strip())
                if match and "S" in values.get(match.group(2), {}):
                    sets[name] = values[match.group(2)]["S"]
    return sets, removes, touched


def _split_top(body: str) -> list[str]:
    """Split on commas outside parentheses (if_not_exists(#a, :b) stays one part)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    return [p for p in parts if p.strip()]


def install(client: Any | None = None) -> Recorder:
    """A recorder on the product's DynamoDB client (one per process)."""
    from mini_program_api.platform.config import settings

    if not settings().is_local:
        raise RuntimeError("the heat recorder is for the local stack only")
    if not _installed:
        from mini_program_api.db.models import connection

        _installed.append(Recorder().install(client or connection().client))
    return _installed[0]


def installed() -> Recorder | None:
    return _installed[0] if _installed else None


def install_from_env() -> None:
    """`KABAO_HEAT_RECORD=<file>`: record in this server and write the bookings to the file at exit."""
    path = os.environ.get(ENV)
    if not path:
        return
    recorder = install()

    def write() -> None:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(recorder.dump(), out)

    atexit.register(write)
    if threading.current_thread() is threading.main_thread():  # make dev stops its servers with SIGTERM
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
