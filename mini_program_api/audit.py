"""The audit trail: every staff and admin action, with who, which store, what and when.

A record is added to the same transaction as the action it records, so the trail
can neither miss an action nor show one that did not happen. Records are grouped
by merchant-local day (one Query lists a day).
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from . import clock, ids, merchants
from .auth import Principal
from .db.models import AuditRecord
from .db.transact import Transaction


def audit_pk(merchant_id: str, day: str) -> str:
    return f"MCH#{merchant_id}#AUDIT#{day}"


def record(tx: Transaction, actor: Principal, action: str, target: str,
           detail: dict[str, str | int] | None = None, at: datetime | None = None) -> None:
    at = at or clock.now()
    day = clock.local_date(merchants.get(actor.merchant_id).timezone, at).isoformat()
    tx.put("audit", AuditRecord(
        audit_pk(actor.merchant_id, day), f"{at.isoformat(timespec='microseconds')}#{ids.new_id()[:8]}",
        actor=actor.subject, role=actor.role, store_id=actor.store_id, action=action, target=target,
        detail=dict(detail or {}), at=at,
    ))


def changes(old: Any, new: Any) -> dict[str, str | int]:
    """A change's detail: the values before and after, as compact JSON (times ISO, maps as dicts)."""
    return {"old": _json(old), "new": _json(new)}


def _json(value: Any) -> str:
    def plain(v: Any) -> Any:
        if isinstance(v, datetime):
            return v.isoformat()
        if hasattr(v, "as_dict"):
            return v.as_dict()
        raise TypeError(f"{type(v).__name__} is not recorded")

    return json.dumps(value, default=plain, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def day(merchant_id: str, local_day: str) -> list[AuditRecord]:
    return list(AuditRecord.query(audit_pk(merchant_id, local_day), consistent_read=True))
