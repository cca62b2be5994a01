"""Consent records: every agreement a member gave, kept so the merchant can show what was agreed and when (PIPL).

Two kinds, both in the member's partition under `CONSENT#{time}#{rand}` (newest last by sort key, listed
newest first): the membership terms' version agreed to when the card opened or when the merchant's terms
changed (`TERMS`, decision `AGREE`), and each answer to a subscribe-message request as the mini program
reports it (`SUBSCRIBE`: `ACCEPT`, `REJECT`, `BAN`, `FILTER`, wx.requestSubscribeMessage's words). A record is
written in the transaction of what it records (the card opening, the grant), so neither exists without the
other. Records are never updated; an account erasure keeps them, as they name no person once the member row
is erased (data_rights/erasure.py).
"""

from __future__ import annotations

from datetime import datetime

from mini_program_api.db.models import member_pk
from mini_program_api.db.notices import Consent
from mini_program_api.db.transact import Transaction
from mini_program_api.platform import ids, paging

TERMS, SUBSCRIBE = "TERMS", "SUBSCRIBE"
AGREE = "AGREE"
DECISIONS = ("ACCEPT", "REJECT", "BAN", "FILTER")
PREFIX = "CONSENT#"


def _record(
    merchant_id: str,
    member_id: str,
    at: datetime,
    kind: str,
    decision: str,
    terms_version: str | None = None,
    template_id: str | None = None,
) -> Consent:
    sk = f"{PREFIX}{at.isoformat(timespec='microseconds')}#{ids.new_id()[:8]}"
    return Consent(
        member_pk(merchant_id, member_id),
        sk,
        at=at,
        kind=kind,
        decision=decision,
        terms_version=terms_version,
        template_id=template_id,
    )


def stage_terms(tx: Transaction, merchant_id: str, member_id: str, version: str, at: datetime) -> None:
    """The member agreed to terms `version` at `at`: recorded in `tx`, the write that records the agreement."""
    tx.put(
        "consent:terms",
        _record(merchant_id, member_id, at, kind=TERMS, terms_version=version, decision=AGREE),
        condition=Consent.sk.does_not_exist(),
    )


def stage_subscribe(
    tx: Transaction, merchant_id: str, member_id: str, template_id: str, decision: str, at: datetime
) -> None:
    """The member's answer `decision` to subscribe-message template `template_id`."""
    if decision not in DECISIONS:
        raise ValueError(f"unknown subscribe decision {decision!r}")
    tx.put(
        f"consent:{template_id}",
        _record(merchant_id, member_id, at, kind=SUBSCRIBE, template_id=template_id, decision=decision),
        condition=Consent.sk.does_not_exist(),
    )


def page(merchant_id: str, member_id: str, cursor: str | None, limit: int) -> paging.Page[Consent]:
    """The member's consent records, newest first."""
    return paging.query(
        Consent.query,
        member_pk(merchant_id, member_id),
        {"sk": PREFIX},
        cursor,
        limit,
        range_key_condition=Consent.sk.startswith(PREFIX),
        scan_index_forward=False,
    )
