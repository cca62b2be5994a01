"""The webhook outbox: an event's item, staged in the very transaction that makes the event happen.

As the 卡包 sync's outbox (wallet/outbox.py), the write is part of the event's own TransactWriteItems, so an
event is delivered iff it committed: a cancelled checkout leaves no outbox item, a committed one cannot lose
its item to a crash after the commit. Each call site is one line, `outbox.add(tx, ...)`.

Only merchants with an endpoint pay for the write: `Merchant.webhook_endpoints` (read from the merchant row
this container caches, merchants.get) is 0 for the others. The cache means a container may still skip events
for up to `merchants.CACHE_SECONDS` after a merchant's first endpoint is registered elsewhere; after the last
one is removed, the few items written meanwhile are dropped by the job (no endpoint wants them).

Each event is its own item (a new id), on the `webhook_events` due list from now, sharded by the member's
partition so one member's events are one shard's, oldest first: the delivery job fans each out to the
endpoints that want it, in the member's order.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mini_program_api.merchants import merchants
from mini_program_api.platform import clock

if TYPE_CHECKING:
    from mini_program_api.db.models import Merchant
    from mini_program_api.db.transact import Transaction

# A transaction holds at most 100 parts; every event call site adds one.


def new_event_id() -> str:
    """`evt_` + the real time in ns (hex) + randomness: events of one member that carry the same time (the
    clock's resolution, a test's frozen clock) still sort in the order they were made, within a process."""
    from mini_program_api.platform import ids

    return f"evt_{time.time_ns():016x}{ids.new_id()[:12]}"


def wanted(merchant: Merchant | str) -> bool:
    """Whether the merchant has any endpoint: from its row when the caller holds it, else the cached row."""
    row = merchants.get(merchant) if isinstance(merchant, str) else merchant
    return int(row.webhook_endpoints or 0) > 0


def add(
    tx: Transaction,
    merchant: Merchant | str,
    member_id: str,
    event_type: str,
    data: dict[str, Any],
    prefix: str = "",
) -> None:
    """Stage event `event_type` about the member in `tx`, if the merchant (its row, or its id) listens.

    `data` is JSON-ready (ints, strings, lists, dicts); `member_id` is added to it. `prefix` keeps labels apart
    when one transaction carries two members' parts (as ledger.stage's)."""
    if not wanted(merchant):
        return
    # Here: a merchant without endpoints (most) never builds the webhook models (a cold notify's or checkout's).
    from mini_program_api.jobs import due
    from mini_program_api.webhooks import events
    from mini_program_api.webhooks.models import EVENTS_JOB, WebhookEvent, events_pk

    merchant_id = merchant if isinstance(merchant, str) else merchant.merchant_id
    at = clock.now()
    event_id = new_event_id()
    pk = events_pk(merchant_id, member_id)
    due_pk, due_sk = due.slot(EVENTS_JOB, pk, at)
    item = WebhookEvent(
        pk,
        f"{due.stamp(at)}#{event_id}",
        merchant_id=merchant_id,
        member_id=member_id,
        event_id=event_id,
        type=event_type,
        payload=events.body(event_type, at, {"member_id": member_id, **data}),
        created_at=at,
        due_pk=due_pk,
        due_sk=due_sk,
    )
    tx.put(f"{prefix}webhook:{event_id}", item)


_STORED_VALUE = ("principal", "bonus")


def ledger(tx: Transaction, merchant_id: str, member_id: str, op: Any, prefix: str = "") -> None:
    """`points.changed` and/or `stored_value.changed` for one ledger operation (money/ledger.py `stage`,
    which every change of points, principal and bonus goes through), each with that operation's entries."""
    postings = [(p.account.value, int(p.amount)) for p in op.postings]
    points = [(a, n) for a, n in postings if a == "points"]
    stored = [(a, n) for a, n in postings if a in _STORED_VALUE]
    if not (points or stored):
        return
    from mini_program_api.webhooks import events  # here, as in `add`

    for event_type, entries in ((events.POINTS_CHANGED, points), (events.STORED_VALUE_CHANGED, stored)):
        if entries:
            data = events.ledger_entries(op.op_key, op.kind, entries, op.memo)
            add(tx, merchant_id, member_id, event_type, data, prefix)
