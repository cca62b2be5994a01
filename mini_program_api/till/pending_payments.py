"""Counter sales waiting for the member's confirmation on their phone (till/checkout.py decides and completes them).

One per till Idempotency-Key: its id is derived from the key, so the till's retries
find the same one. It is bound to one member (it lives in their partition: another
member's token cannot even find it), one store, one request fingerprint and one key,
and it completes once: the sale's transaction sets it DONE only while it is PENDING
and unexpired (`stage_done`), next to the key's operation record. The till may withdraw it
(`withdraw`: the member pays another way), also only while PENDING: a withdrawn one is never
confirmed, and one confirmed first is not withdrawn.

A pointer item in the key's own partition (beside the operation record) lets a till
retry with the scanned code find the member after that 60-second code expired: the
confirmation has two minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from mini_program_api.db.models import Lookup, member_pk
from mini_program_api.db.spending import PendingPayment
from mini_program_api.db.transact import Cancelled, Transaction, update_if
from mini_program_api.money import idempotency
from mini_program_api.money.idempotency import Key, Request
from mini_program_api.platform import clock
from mini_program_api.platform.errors import KabaoError

PENDING, DONE, WITHDRAWN = "PENDING", "DONE", "WITHDRAWN"
TTL = timedelta(minutes=2)
_KEEP = timedelta(days=1)  # DynamoDB may delete it after this (TTL); expiry never depends on it


def _sk(confirmation_id: str) -> str:
    return f"PENDING#{confirmation_id}"


def _pointer(req: Request) -> Lookup:
    return Lookup(req.key.item_key[0], "PENDING", target=req.member_id)


def open_for(req: Request, store_id: str, staff_id: str, order_id: str, fields: Mapping[str, Any]) -> PendingPayment:
    """The key's pending confirmation: made now, or the one its first attempt made.

    The same key for another request (another member, store or amount) is 422; an expired one
    stays expired (the till starts a new sale under a new key)."""
    now = clock.now()
    confirmation_id = req.key.derived_id("C")
    pending = PendingPayment(
        member_pk(req.key.merchant_id, req.member_id),
        _sk(confirmation_id),
        merchant_id=req.key.merchant_id,
        confirmation_id=confirmation_id,
        member_id=req.member_id,
        store_id=store_id,
        staff_id=staff_id,
        op_key=req.key.op_key,
        order_id=order_id,
        fingerprint=req.fingerprint,
        member_code=req.member_code,
        status=PENDING,
        created_at=now,
        expires_at=now + TTL,
        expires_ttl=now + TTL + _KEEP,
        **fields,
    )
    tx = Transaction()
    tx.put("pending", pending, condition=PendingPayment.sk.does_not_exist())
    tx.put("pointer", _pointer(req), condition=Lookup.pk.does_not_exist() | (Lookup.target == req.member_id))
    try:
        tx.commit()
    except Cancelled as exc:
        if "pointer" in exc.failed:  # the key waits for another member's confirmation
            raise idempotency.reused() from exc
        pending = get(req.key.merchant_id, req.member_id, confirmation_id)
        if pending.fingerprint != req.fingerprint:
            raise idempotency.reused() from exc
    return pending


def get(merchant_id: str, member_id: str, confirmation_id: str) -> PendingPayment:
    try:
        return PendingPayment.get(member_pk(merchant_id, member_id), _sk(confirmation_id), consistent_read=True)
    except PendingPayment.DoesNotExist:
        raise KabaoError("CONFIRMATION_NOT_FOUND", "no such payment to confirm") from None


def mine(merchant_id: str, member_id: str) -> list[PendingPayment]:
    """The member's payments still waiting for them (at most a few: each lives two minutes)."""
    now = clock.now()
    return [
        p
        for p in PendingPayment.query(
            member_pk(merchant_id, member_id), PendingPayment.sk.startswith("PENDING#"), consistent_read=True
        )
        if p.status == PENDING and now < p.expires_at
    ]


def member_for(key: Key, member_code: str) -> str | None:
    """The member a pending confirmation under `key` was opened for with this very code."""
    try:
        member_id = Lookup.get(key.item_key[0], "PENDING", consistent_read=True).target
    except Lookup.DoesNotExist:
        return None
    pending = get(key.merchant_id, member_id, key.derived_id("C"))
    return member_id if pending.member_code == idempotency.code_hash(key.merchant_id, member_code) else None


def waiting(req: Request) -> PendingPayment | None:
    """The key's confirmation still waiting for the member, for a sale the till's password completes instead
    (None: none was opened, or it is done). The key waiting for another request is 422; an expired one stays
    expired: the till starts a new sale."""
    try:
        pending = get(req.key.merchant_id, req.member_id, req.key.derived_id("C"))
    except KabaoError:
        return None
    if pending.fingerprint != req.fingerprint:
        raise idempotency.reused()
    if pending.status == DONE:
        return None
    require_open(pending)
    return pending


def withdraw(key: Key, store_id: str) -> PendingPayment:
    """The till stops waiting (the member pays another way): the confirmation under the till's `key` can no
    longer be confirmed on the phone. Set only while PENDING, so against the member's confirmation the first
    wins: the answer's status says which (WITHDRAWN, or DONE: the sale was made, its order is the receipt).
    Only the store that opened it may withdraw it; any other till is told it does not exist."""
    try:
        member_id = Lookup.get(key.item_key[0], "PENDING", consistent_read=True).target
    except Lookup.DoesNotExist:
        raise KabaoError("CONFIRMATION_NOT_FOUND", "no payment waits under this Idempotency-Key") from None
    pending = get(key.merchant_id, member_id, key.derived_id("C"))
    if pending.store_id != store_id:
        raise KabaoError("CONFIRMATION_NOT_FOUND", "no payment waits under this Idempotency-Key")
    if pending.status == PENDING:
        update_if(pending, [PendingPayment.status.set(WITHDRAWN)], PendingPayment.status == PENDING)
        pending = get(key.merchant_id, member_id, key.derived_id("C"))
    return pending


def expired() -> KabaoError:
    return KabaoError("CONFIRMATION_EXPIRED", "this payment waited too long: the till starts it again")


def withdrawn() -> KabaoError:
    return KabaoError("CONFIRMATION_WITHDRAWN", "the till withdrew this payment: the till starts it again")


def require_open(pending: PendingPayment) -> None:
    if pending.status == WITHDRAWN:
        raise withdrawn()
    if clock.now() >= pending.expires_at:
        raise expired()


def closed(pending: PendingPayment) -> KabaoError:
    """Why the sale's transaction could not complete `pending`: withdrawn by the till, or expired (a
    confirmation that completed meanwhile is replayed by the caller's idempotency.once)."""
    current = get(pending.merchant_id, pending.member_id, pending.confirmation_id)
    return withdrawn() if current.status == WITHDRAWN else expired()


def stage_done(tx: Transaction, pending: PendingPayment) -> None:
    """Complete it in the sale's own transaction: once, and only before it expires."""
    tx.update(
        "pending",
        pending,
        actions=[PendingPayment.status.set(DONE)],
        condition=(PendingPayment.status == PENDING) & (PendingPayment.expires_at > clock.now()),
    )
