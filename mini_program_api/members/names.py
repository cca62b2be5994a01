"""Members by name, without a scan: one `NameEntry` per member with a name, in the partition of the normalized
name's first character (pk `MCH#{mid}#NAME#{first}`, sk `{normalized}#{member_id}`).

Names repeat (two 张伟), so a search is a paged Query of `begins_with(sk, query)`: "张" lists every 张 (a
surname's partition: reads only, written once per naming), "张伟" narrows it. The entry is written in the same
transaction that sets or changes the name (`stage`: the card opening, an admin's correction), so the index is never
behind the member row. Members named before this index existed need their entry written once (no backfill yet)."""

from __future__ import annotations

import unicodedata

from mini_program_api.db.names import NameEntry, names_pk
from mini_program_api.db.transact import Transaction
from mini_program_api.platform import paging
from mini_program_api.platform.errors import KabaoError

MAX_QUERY = 32


def normalized(name: str) -> str:
    """What a search compares: NFKC (full-width letters), case folded, every space dropped ("Li Lei" = "lilei")."""
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())


def _key(merchant_id: str, member_id: str, name: str) -> tuple[str, str] | None:
    norm = normalized(name)
    if not norm:
        return None
    return names_pk(merchant_id, norm[0]), f"{norm}#{member_id}"


def stage(tx: Transaction, merchant_id: str, member_id: str, old: str | None, new: str | None) -> None:
    """Move the member's entry from `old` to `new` (either None: no name) in `tx`, the transaction that changes
    the name."""
    before = _key(merchant_id, member_id, old) if old else None
    after = _key(merchant_id, member_id, new) if new else None
    if before == after:
        return
    if before is not None:
        tx.delete("name_old", NameEntry(*before))
    if after is not None:
        tx.put("name_new", NameEntry(*after, member_id=member_id))


def search(merchant_id: str, query: str, cursor: str | None, limit: int) -> paging.Page[NameEntry]:
    """Members whose normalized name starts with the query's, by name then member id, paged."""
    norm = normalized(query)
    if not 1 <= len(norm) <= MAX_QUERY:
        raise KabaoError("VALIDATION_ERROR", f"a name query has 1 to {MAX_QUERY} characters")
    return paging.query(
        NameEntry.query,
        names_pk(merchant_id, norm[0]),
        {"sk": norm},
        cursor,
        limit,
        range_key_condition=NameEntry.sk.startswith(norm),
    )
