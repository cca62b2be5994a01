"""A merchant's members as a list the reports' jobs can page: the sparse `roster_index` GSI (db/schema.py).

Sharded so one merchant's members are not one GSI partition: a job walks the shards in order, and its
cursor (the last member id read) lets it resume in the next invocation. The same index lists the
members of an RFM segment (partition `SEG#{mid}#{segment}`, see rfm.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mini_program_api.db.models import Member
from mini_program_api.db.schema import shard_of
from mini_program_api.platform import paging
from mini_program_api.platform.errors import KabaoError

ROSTER_SHARDS = 16  # was 4: every balance change rewrites the projected row (bench/README.md, heat)
_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def roster_pk(merchant_id: str, n: int) -> str:
    return f"ROSTER#{merchant_id}#{n}"


def keys(merchant_id: str, member_id: str) -> dict[str, Any]:
    """The member row's place on the roster: set when the member is created."""
    n = shard_of(member_id, ROSTER_SHARDS)
    return {"roster_pk": roster_pk(merchant_id, n), "roster_sk": member_id}


def page(pk: str, after: str | None, limit: int, model: Any = Member) -> paging.Page[Any]:
    """Up to `limit` items of index partition `pk` after member id `after`; the cursor is the last id.

    Eventually consistent (a GSI has no other reads): a member created a moment ago may be missed."""
    if after is not None and not _ID.fullmatch(after):
        raise KabaoError("INVALID_CURSOR", "cursor is not valid for this list")
    condition = model.roster_sk > after if after else None
    items = list(model.roster.query(pk, range_key_condition=condition, limit=limit, page_size=limit))
    return paging.Page(items, str(items[-1].roster_sk) if len(items) == limit else None)


def merchant_ids() -> Iterator[str]:
    """Every merchant's id, a page at a time (the nightly report jobs' walk)."""
    from mini_program_api.db.models import Merchant
    from mini_program_api.merchants.merchants import MERCHANTS

    after: str | None = None
    while True:
        got = page(MERCHANTS, after, 100, model=Merchant)
        yield from (str(merchant.roster_sk) for merchant in got.items)
        if got.cursor is None:
            return
        after = got.cursor
