"""The audit trail: every staff and admin action, with who, which store, what and when.

A record is added to the same transaction as the action it records, so the trail
can neither miss an action nor show one that did not happen. Records are grouped
by merchant-local day, and each day is split over `SHARDS` partitions
(`MCH#{mid}#AUDIT#{day}#{shard}`): every staff action writes one, a checkout included, so
one partition per day would take a busy merchant's whole till (bench/heat.py measured it at
88% of a partition's 1000 writes/s at 5000 requests/s). The shard is a hash of the record's
own random id, so records spread evenly and a record's place never changes.

Reading a day queries its shards, and the day's partition from before the split
(`MCH#{mid}#AUDIT#{day}`, `legacy_pk`: records written before it stay there), and merges
them by sort key (`{iso time}#{rand}`, one order over every shard), so one sort key is the
cursor for all of them. `trail` pages newest first across days, reading at most
`MAX_DAYS_PER_PAGE` days per page, so a page of a quiet month costs a bounded number of
Queries. A record about a member is also copied into the member's partition in the same
transaction, so `about_member` pages it without a scan.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime, timedelta
from typing import Any

from mini_program_api.db import schema
from mini_program_api.db.models import member_pk
from mini_program_api.db.staff import AuditRecord
from mini_program_api.db.transact import Transaction
from mini_program_api.merchants import merchants
from mini_program_api.platform import clock, ids, paging
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError

MAX_DAYS_PER_PAGE = 31
SHARDS = 8  # a day's partitions: 1/8 of a busy day's writes each (bench/README.md, heat)
_MEMBER_PREFIX = "AUDIT#"


def audit_pk(merchant_id: str, day: str, shard: int) -> str:
    return f"MCH#{merchant_id}#AUDIT#{day}#{shard}"


def legacy_pk(merchant_id: str, day: str) -> str:
    """The one partition a day had before it was sharded: still read, never written."""
    return f"MCH#{merchant_id}#AUDIT#{day}"


def shard_of(sk: str) -> int:
    """A record's shard, from its own sort key (its random part makes it even)."""
    return schema.shard_of(sk, SHARDS)


def day_pks(merchant_id: str, day: str) -> list[str]:
    """Every partition a day's records can be in."""
    return [legacy_pk(merchant_id, day), *(audit_pk(merchant_id, day, n) for n in range(SHARDS))]


def record(
    tx: Transaction,
    actor: Principal,
    action: str,
    target: str,
    detail: dict[str, str | int] | None = None,
    at: datetime | None = None,
    member_id: str | None = None,
) -> None:
    """`member_id`: the member the action concerns (by default the detail's `member_id`), whose trail gets a copy."""
    at = at or clock.now()
    day = clock.local_date(merchants.get(actor.merchant_id).timezone, at).isoformat()
    detail = dict(detail or {})
    about = member_id or (str(detail["member_id"]) if detail.get("member_id") else None)
    sk = f"{at.isoformat(timespec='microseconds')}#{ids.new_id()[:8]}"
    fields: dict[str, Any] = dict(
        actor=actor.subject,
        role=actor.role,
        store_id=actor.store_id,
        action=action,
        target=target,
        detail=detail,
        at=at,
        member_id=about,
    )
    tx.put("audit", AuditRecord(audit_pk(actor.merchant_id, day, shard_of(sk)), sk, **fields))
    if about:
        tx.put("audit_member", AuditRecord(member_pk(actor.merchant_id, about), _MEMBER_PREFIX + sk, **fields))


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
    """Every record of a day, oldest first."""
    records: list[AuditRecord] = []
    after: str | None = None
    while True:
        got, more = paging.merged(AuditRecord, day_pks(merchant_id, local_day), after, 100, newest_first=False)
        records += got
        if not more:
            return records
        after = records[-1].sk


def day_page(merchant_id: str, local_day: str, cursor: str | None, limit: int) -> paging.Page[AuditRecord]:
    """One page of a day's records, oldest first; the cursor is the last sort key read."""
    after = paging.after_of(cursor) if cursor else None
    items, more = paging.merged(AuditRecord, day_pks(merchant_id, local_day), after, limit, newest_first=False)
    return paging.Page(items, paging.after_cursor(items[-1].sk) if more else None)


def trail(merchant_id: str, cursor: str | None, limit: int, since: date) -> paging.Page[AuditRecord]:
    """The merchant's records newest first across days, from today back to `since` (no record is older than
    the merchant). The cursor names the day and the last record read; an empty stretch of days ends a page
    early (with a cursor) after `MAX_DAYS_PER_PAGE` days, so no page reads without bound."""
    tz = merchants.get(merchant_id).timezone
    day, after = _trail_start(cursor) if cursor else (clock.local_date(tz), None)
    items: list[AuditRecord] = []
    for _ in range(MAX_DAYS_PER_PAGE):
        if day < since:
            return paging.Page(items, None)
        need = limit - len(items)
        got, more = paging.merged(AuditRecord, day_pks(merchant_id, day.isoformat()), after, need, newest_first=True)
        items += got
        if more or len(items) >= limit:
            return paging.Page(items, _trail_cursor(day, items[-1].sk))
        day, after = day - timedelta(days=1), None
    return paging.Page(items, _trail_cursor(day, None) if day >= since else None)


def _trail_cursor(day: date, after: str | None) -> str:
    raw = json.dumps({"day": day.isoformat(), "after": after}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _trail_start(cursor: str) -> tuple[date, str | None]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        day = date.fromisoformat(data["day"])
        after = data["after"]
        if after is not None and not isinstance(after, str) or set(data) != {"day", "after"}:
            raise ValueError
    except (ValueError, TypeError, KeyError, RecursionError, binascii.Error):
        raise KabaoError("INVALID_CURSOR", "cursor is not valid for this list") from None
    return day, after


def about_member(merchant_id: str, member_id: str, cursor: str | None, limit: int) -> paging.Page[AuditRecord]:
    """The records about one member, newest first (their copies in the member's partition)."""
    return paging.query(
        AuditRecord.query,
        member_pk(merchant_id, member_id),
        {"sk": _MEMBER_PREFIX},
        cursor,
        limit,
        range_key_condition=AuditRecord.sk.startswith(_MEMBER_PREFIX),
        scan_index_forward=False,
    )
