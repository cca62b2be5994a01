"""Exactly once per operation: one operation record per idempotency key.

A value-moving request carries a key (the client's `Idempotency-Key`, or a natural
one: the day of a sign-in, a WeChat transaction id). The operation writes ONE
record for it, with `attribute_not_exists`, in its own transaction: the request's
fingerprint (merchant, member, kind, the ids and amounts that define it) and its
result (amounts posted, ids made). So:

- the same key with the same fingerprint returns the first result, whatever today's
  balances, settings or member codes would make of the request now;
- the same key with another fingerprint is 422 IDEMPOTENCY_KEY_REUSED;
- a race between the two is decided by the record's condition: one commits, the
  other finds the record and replays (or is refused).

Ledger entries keep their own `attribute_not_exists` (entry key from the op key),
but only as a second line of defence: the record is what says "same operation".

How long a record is kept depends on whose key it is. A client's `Idempotency-Key` is remembered for
`CLIENT_KEY_RETENTION` (7 days, stated in the contract): a client retries within minutes or, at worst, the
next day, and without a bound every checkout, claim and order would leave a record forever. After that DynamoDB's
TTL deletes it and the key is forgotten (the operation's own items, its order or coupon and its ledger entries,
stay). Natural keys (a sign-in's day, a WeChat transaction id, a referral, a welcome gift, an expiry) are kept:
each stands for something that happens once in the member's history, like a ledger entry, and some are asked
about again long after (opening an open card settles a referral reward once more).

Whose key it is decides where the record lives. A member's own keys (sign-in, claims,
rewards, punch-card purchases, top-ups, and natural keys of their ledger) are scoped
to that member: two members never collide. Staff and admin keys (`SHARED_SCOPES`)
are scoped to the merchant: one checkout key cannot serve two members, and a retry
is recognised before the scanned member code is resolved again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol, TypeVar

from mini_program_api.db.ledger import OperationRecord
from mini_program_api.db.models import member_pk
from mini_program_api.db.transact import Cancelled, Transaction
from mini_program_api.platform import clock
from mini_program_api.platform.errors import KabaoError

T = TypeVar("T")
LABEL = "operation"  # the record's label in a transaction
# Scopes whose keys belong to the merchant's staff or admins, not to one member.
SHARED_SCOPES = frozenset(
    {
        "checkout",
        "punchuse",
        "punchgive",
        "gift",
        "template",
        "punchplan",
        "topupplan",
        "adjust",
        "admincoupon",
        "punchvisits",
        "issuejob",
        "memberjob",
    }
)
# Scopes of the clients' Idempotency-Keys (`client_key`): their records expire after CLIENT_KEY_RETENTION.
CLIENT_SCOPES = frozenset(
    {
        "adjust",
        "admincoupon",
        "checkout",
        "claim",
        "gift",
        "issuejob",
        "memberjob",  # a tag or export job over a filter's members (member_care/member_jobs.py)
        "offers",  # a listing of offers: its key writes no record, it makes its exposure count once (shelf.py)
        "punchbuy",
        "punchgive",
        "punchplan",
        "punchuse",
        "punchvisits",
        "reward",
        "template",
        "topup",
        "topupplan",
    }
)
CLIENT_KEY_RETENTION = timedelta(days=7)
_CLIENT_KEY = re.compile(r"[A-Za-z0-9_\-]{8,64}")

Fields = Mapping[str, str | int | None]


class Key(NamedTuple):
    """One operation's key: `op_key` is `{scope}:{value}` and also keys its ledger entries."""

    merchant_id: str
    op_key: str
    member_id: str | None  # the member who owns it; None for a shared (staff/admin) scope

    @property
    def item_key(self) -> tuple[str, str]:
        if self.member_id is None:
            return f"MCH#{self.merchant_id}#OP#{self.op_key}", "OP"
        return member_pk(self.merchant_id, self.member_id), f"OP#{self.op_key}"

    @property
    def expires(self) -> bool:
        """A client's key (forgotten after CLIENT_KEY_RETENTION), not a natural one (kept)."""
        return self.op_key.partition(":")[0] in CLIENT_SCOPES

    def derived_id(self, prefix: str) -> str:
        """A stable id for what the operation creates (an order, a coupon, a card): a retry makes the same."""
        pk, sk = self.item_key
        return prefix + hashlib.sha256(f"{pk}|{sk}".encode()).hexdigest()[:24]


def key(merchant_id: str, op_key: str, member_id: str | None) -> Key:
    """The key `op_key` names: a member's own unless its scope (the part before ':') is shared."""
    shared = op_key.partition(":")[0] in SHARED_SCOPES
    if not shared and member_id is None:
        raise ValueError(f"{op_key!r} is a member's own key: name the member")
    return Key(merchant_id, op_key, None if shared else member_id)


def client_key(merchant_id: str, scope: str, header: str | None, member_id: str | None = None) -> Key:
    """The key of a request's `Idempotency-Key` header; 400 when it is missing or malformed."""
    if scope not in CLIENT_SCOPES:
        raise ValueError(f"{scope!r} is not a client scope (CLIENT_SCOPES)")
    if header is None or not _CLIENT_KEY.fullmatch(header):
        raise KabaoError(
            "INVALID_IDEMPOTENCY_KEY",
            "Idempotency-Key header is required: 8-64 characters of letters, digits, '-' or '_'",
        )
    return key(merchant_id, f"{scope}:{header}", member_id)


class Request(NamedTuple):
    """What one key's operation is: compared with its record on every retry."""

    key: Key
    member_id: str
    kind: str
    fingerprint: str
    member_code: str | None = None  # hashed


def request(k: Key, member_id: str, kind: str, fields: Fields, member_code: str | None = None) -> Request:
    """The request `fields` define (ids and amounts, never anything computed from balances)."""
    canonical = json.dumps(
        {"merchant": k.merchant_id, "member": member_id, "kind": kind, "fields": dict(fields)},
        sort_keys=True,
        separators=(",", ":"),
    )
    return Request(
        k,
        member_id,
        kind,
        hashlib.sha256(canonical.encode()).hexdigest(),
        code_hash(k.merchant_id, member_code) if member_code else None,
    )


def code_hash(merchant_id: str, member_code: str) -> str:
    return hashlib.sha256(f"{merchant_id}:{member_code}".encode()).hexdigest()


def _record(k: Key) -> OperationRecord | None:
    try:
        return OperationRecord.get(*k.item_key, consistent_read=True)
    except OperationRecord.DoesNotExist:
        return None


def recorded_member(k: Key, member_code: str, record: OperationRecord | None) -> str | None:
    """The member the key's first attempt named with this very code (member_codes.resolve uses it, with the key's
    record as it read it just now, so a retry still finds its member after the 60-second code expired)."""
    if record is not None and record.member_code == code_hash(k.merchant_id, member_code):
        return str(record.member_id)
    return None


def first(req: Request) -> OperationRecord | None:
    """The record of this key's operation if it ran; 422 when it ran for another request."""
    record = _record(req.key)
    if record is not None and record.fingerprint != req.fingerprint:
        raise reused()
    return record


def reused() -> KabaoError:
    return KabaoError("IDEMPOTENCY_KEY_REUSED", "this idempotency key was already used for a different request")


class Fingerprinted(Protocol):
    fingerprint: Any


Made = TypeVar("Made", bound=Fingerprinted)


def same(found: Made, fingerprint: str) -> Made:
    """What an earlier request with this key made, if it had this request's body (else 422)."""
    if found.fingerprint != fingerprint:
        raise reused()
    return found


def created_once(tx: Transaction, made: Made, find: Callable[[], Made | None]) -> Made:
    """Commit `tx`, which creates `made` under an id derived from the client's key: when it is cancelled because
    a request with the same key got there first, what that one made (`same`); any other cancellation is a 409."""
    try:
        tx.commit()
    except Cancelled as exc:
        found = find()
        if found is None:
            raise KabaoError("CONCURRENT_UPDATE", "retry") from exc
        return same(found, str(made.fingerprint))
    return made


def stage(
    tx: Transaction,
    req: Request,
    result: Fields,
    amounts: Mapping[str, int] | None = None,
    at: datetime | None = None,
    prefix: str = "",
) -> None:
    """Add the record to the operation's transaction; a second one for the key cancels it (`{prefix}operation`)."""
    pk, sk = req.key.item_key
    at = at or clock.now()
    tx.put(
        prefix + LABEL,
        OperationRecord(
            pk,
            sk,
            op_key=req.key.op_key,
            kind=req.kind,
            member_id=req.member_id,
            fingerprint=req.fingerprint,
            member_code=req.member_code,
            amounts=dict(amounts or {}),
            result={k: v for k, v in result.items() if v is not None},
            created_at=at,
            expires_ttl=at + CLIENT_KEY_RETENTION if req.key.expires else None,
        ),
        condition=OperationRecord.pk.does_not_exist(),
    )


def once(req: Request, run: Callable[[], T], replay: Callable[[OperationRecord], T]) -> T:
    """`run` the operation; if its key already ran, a retry before, during or after it gets `replay`.

    `run` stages the record (`stage`, or the ledger for a ledger operation), so a key that
    already ran can never commit again: optimistic, the record is read only when `run` is
    refused (a cancelled commit, or a rule that no longer holds: the coupon used, the code
    expired, the balance spent). First attempts, the common case, cost no extra read."""
    try:
        return run()
    except (Cancelled, KabaoError):
        record = first(req)
        if record is None:
            raise
    return replay(record)
