"""Dynamic member codes: what the mini program shows and staff scan at checkout.

A code is random, lives `KABAO_MEMBER_CODE_TTL` seconds (60 by default) and maps
to the member through a Lookup item. The card number is never the code: a photo
of a card must not be enough to spend its balance.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from mini_program_api.db.ledger import OperationRecord
from mini_program_api.db.models import (
    LOOKUP,
    PROFILE,
    ItemKey,
    Known,
    Lookup,
    Member,
    Merchant,
    get_together,
    lookup_pk,
    merchant_pk,
)
from mini_program_api.db.transact import put_new
from mini_program_api.members import members
from mini_program_api.merchants import merchants
from mini_program_api.money import idempotency
from mini_program_api.money.idempotency import Key
from mini_program_api.platform import clock, ids
from mini_program_api.platform.config import settings
from mini_program_api.platform.errors import KabaoError


def ttl_seconds() -> int:
    return settings().member_code_ttl_seconds


def issue(member: Member) -> tuple[str, datetime]:
    members.require_card(member)
    expires_at = clock.now() + timedelta(seconds=ttl_seconds())
    while True:
        code = ids.member_code()
        lookup = Lookup(
            lookup_pk(member.merchant_id, "CODE", code),
            LOOKUP,
            target=member.member_id,
            expires_at=expires_at,
            expires_ttl=expires_at,
        )
        if put_new(lookup):
            return code, expires_at
        # else: a 1-in-10^18 collision with a live code: draw again


def reads_ahead(merchant_id: str, scope: str, code: str, idempotency_key: str | None) -> list[ItemKey]:
    """What a staff sale by scanned code (`scope`: its Idempotency-Key's scope) reads first (`resolve`): known from
    the request alone, so routes/endpoint.py reads them in the round trip that checks the staff session."""
    return _first_reads(merchant_id, code, idempotency.client_key(merchant_id, scope, idempotency_key), True)


def _first_reads(merchant_id: str, code: str, retry_of: Key, merchant_next: bool) -> list[ItemKey]:
    wanted: list[ItemKey] = [
        (OperationRecord, *retry_of.item_key),
        (Lookup, lookup_pk(merchant_id, "CODE", code), LOOKUP),
    ]
    if merchant_next and merchants.fresh(merchant_id) is None:
        wanted.append((Merchant, merchant_pk(merchant_id), PROFILE))
    return wanted


def resolve(
    merchant_id: str, code: str, retry_of: Key | None = None, merchant_next: bool = False, known: Known | None = None
) -> str:
    """The member id behind a scanned code; expired or unknown codes are the same 404.

    `retry_of`: the key of the staff request the code came with. A retry of an operation that
    already ran carries its first code, maybe expired by now: its record names the member. The record and
    the code are read in one round trip (both keys are known), each as consistently as alone; with
    `merchant_next` (the caller reads the merchant next), so is the merchant's row when this container has no
    fresh copy (merchants.remember): a cold container's sale makes one round trip where it made three.
    `known`: those items as the request read them with its session (`reads_ahead`), not read again."""
    if retry_of is None:
        try:
            lookup: Lookup | None = Lookup.get(lookup_pk(merchant_id, "CODE", code), LOOKUP, consistent_read=True)
        except Lookup.DoesNotExist:
            lookup = None
    else:
        record, found, *merchant = get_together(_first_reads(merchant_id, code, retry_of, merchant_next), known)
        if merchant and merchant[0] is not None:
            merchants.remember(cast(Merchant, merchant[0]))
        member_id = idempotency.recorded_member(retry_of, code, cast(OperationRecord | None, record))
        if member_id is not None:
            return member_id
        lookup = cast(Lookup | None, found)
    if lookup is None or lookup.expires_at is None or lookup.expires_at <= clock.now():
        raise KabaoError("NOT_FOUND", "member code unknown or expired, ask the member to refresh it")
    return lookup.target
