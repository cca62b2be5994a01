"""Pages of a member's lists: a bounded Query per request and an opaque cursor to the next page.

The cursor is the last key read (base64 JSON, without the partition key). The
partition key is never taken from the client, and each key attribute must keep
the list's prefix, so a cursor can reach neither another member nor another list.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from collections.abc import Callable, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

from pynamodb.exceptions import QueryError

from mini_program_api.platform.errors import KabaoError

T = TypeVar("T")


class Page(NamedTuple, Generic[T]):
    items: list[T]
    cursor: str | None


def query(
    run: Callable[..., Any], pk: str, prefixes: dict[str, str], cursor: str | None, limit: int, **query_args: Any
) -> Page[Any]:
    """One page of `run` (a Model's or index's `query`) in partition `pk`; `prefixes` are the key
    attributes other than pk, each with the prefix every item of this list has."""
    start = _start_key(cursor, pk, prefixes) if cursor else None
    results = run(pk, limit=limit, page_size=limit, last_evaluated_key=start, consistent_read=True, **query_args)
    try:
        items = list(results)
    except QueryError as exc:
        # A well-formed cursor outside this query's key range (another status's list, or an available
        # coupon's key that has expired since): DynamoDB refuses the starting key.
        code = (getattr(exc.cause, "response", None) or {}).get("Error", {}).get("Code")
        if start is None or code != "ValidationException":
            raise
        raise KabaoError("INVALID_CURSOR", "cursor is not valid for this list") from exc
    last = results.last_evaluated_key
    if not last or len(items) < limit:
        return Page(items, None)
    raw = json.dumps({name: last[name]["S"] for name in prefixes}, separators=(",", ":"), sort_keys=True)
    return Page(items, base64.urlsafe_b64encode(raw.encode()).decode().rstrip("="))


def partition(model: Any, pk: str, cursor: str | None, limit: int) -> Page[Any]:
    """One page of a whole partition of `model` (a merchant's stores, staff, plans), by sort key."""
    return query(model.query, pk, {"sk": ""}, cursor, limit)


def _start_key(cursor: str, pk: str, prefixes: dict[str, str]) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        valid = (
            isinstance(data, dict)
            and set(data) == set(prefixes)
            and all(isinstance(data[k], str) and data[k].startswith(p) for k, p in prefixes.items())
        )
    except (ValueError, TypeError, RecursionError, binascii.Error):
        valid = False
    if not valid:
        raise KabaoError("INVALID_CURSOR", "cursor is not valid for this list")
    return {"pk": {"S": pk}, **{name: {"S": value} for name, value in data.items()}}


# A list spread over several partitions (write shards) whose items share one sort-key order: a page is every
# partition's next items merged by sort key, and the cursor the last sort key read (one cursor for them all).


def merged(
    model: Any, pks: Sequence[str], beyond: str | None, limit: int, newest_first: bool
) -> tuple[list[Any], bool]:
    """Up to `limit` items of `model` past sort key `beyond` in the order asked, merged over the partitions
    `pks`, and whether more are left. Each partition is asked for `limit + 1`, so a partition that answers
    that many says there is more; none does only when every one is read to its end."""
    runs = []
    for pk in pks:
        condition = None
        if beyond is not None:
            condition = model.sk < beyond if newest_first else model.sk > beyond
        runs.append(
            list(
                model.query(
                    pk,
                    condition,
                    scan_index_forward=not newest_first,
                    limit=limit + 1,
                    page_size=limit + 1,
                    consistent_read=True,
                )
            )
        )
    items = list(heapq.merge(*runs, key=lambda item: item.sk, reverse=newest_first))
    return items[:limit], len(items) > limit


def after_cursor(sk: str) -> str:
    """The cursor of a merged list: the last sort key read."""
    raw = json.dumps({"after": sk}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def after_of(cursor: str) -> str:
    """The sort key an `after_cursor` names; anything else is INVALID_CURSOR."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(data, dict) or set(data) != {"after"} or not isinstance(data["after"], str):
            raise ValueError
    except (ValueError, TypeError, RecursionError, binascii.Error):
        raise KabaoError("INVALID_CURSOR", "cursor is not valid for this list") from None
    return str(data["after"])
