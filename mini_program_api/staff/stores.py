"""A merchant's stores: created once, renamed, closed for good (never deleted: orders and staff name them).

Closing a store takes it off the members' list, refuses logins there and revokes its staff's sessions.
"""

from __future__ import annotations

from collections.abc import Iterable

from mini_program_api.db.staff import StaffAccount, Store, staff_pk, store_pk
from mini_program_api.db.transact import Cancelled, Transaction
from mini_program_api.platform import clock, paging
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.staff import audit


def create_store(actor: Principal, store_id: str, name: str) -> Store:
    """Create a store once; the same request again (a client retry) returns it, another is 409."""
    store = Store(
        store_pk(actor.merchant_id),
        store_id,
        merchant_id=actor.merchant_id,
        store_id=store_id,
        name=name,
        created_at=clock.now(),
    )
    tx = Transaction()
    tx.put("store", store, condition=Store.sk.does_not_exist())
    audit.record(tx, actor, "STORE_CREATED", store_id, {"name": name})
    try:
        tx.commit()
    except Cancelled as exc:
        existing = get_store(actor.merchant_id, store_id)
        if existing.name != name:
            raise KabaoError("ALREADY_EXISTS", f"store {store_id} already exists") from exc
        return existing
    return store


def stores(merchant_id: str, cursor: str | None = None, limit: int = 100) -> paging.Page[Store]:
    return paging.partition(Store, store_pk(merchant_id), cursor, limit)


def open_stores(merchant_id: str, cursor: str | None = None, limit: int = 100) -> paging.Page[Store]:
    """A page of the stores members see: closed ones are left out (a page may hold fewer than `limit`)."""
    page = stores(merchant_id, cursor, limit)
    return paging.Page([s for s in page.items if s.closed_at is None], page.cursor)


def rename_store(actor: Principal, store_id: str, name: str) -> Store:
    """A new name (the same name changes and records nothing); pinned to the name it replaces."""
    store = get_store(actor.merchant_id, store_id)
    if store.name == name:
        return store
    tx = Transaction()
    tx.update("store", store, actions=[Store.name.set(name)], condition=Store.name == store.name)
    audit.record(tx, actor, "STORE_RENAMED", store_id, audit.changes(store.name, name))
    try:
        tx.commit()
    except Cancelled as exc:
        raise KabaoError("CONCURRENT_UPDATE", "the store changed meanwhile, read it again") from exc
    return get_store(actor.merchant_id, store_id)


def close_store(actor: Principal, store_id: str) -> Store:
    """Close for good: off the members' store list, no more logins there, its staff's sessions revoked.
    Closing a closed store records nothing but revokes again (finishing a close that stopped half way)."""
    store = get_store(actor.merchant_id, store_id)
    if store.closed_at is None:
        tx = Transaction()
        tx.update(
            "store", store, actions=[Store.closed_at.set(clock.now())], condition=Store.closed_at.does_not_exist()
        )
        audit.record(tx, actor, "STORE_CLOSED", store_id)
        try:
            tx.commit()
        except Cancelled:
            pass  # closed by a concurrent request: its record stands
    # One partition holds the merchant's accounts: read once, only this store's bumped.
    for account in StaffAccount.query(staff_pk(actor.merchant_id), filter_condition=StaffAccount.store_id == store_id):
        account.update(actions=[StaffAccount.token_version.add(1)])
    return get_store(actor.merchant_id, store_id)


def require_stores(merchant_id: str, store_ids: Iterable[str]) -> None:
    """Every id names one of the merchant's stores (404 STORE_NOT_FOUND otherwise). Stores are never
    deleted, so a read is enough: nothing has to be pinned in the caller's transaction."""
    wanted = set(store_ids)
    found = {s.store_id for s in Store.batch_get([(store_pk(merchant_id), sid) for sid in wanted])} if wanted else set()
    if wanted - found:
        raise KabaoError("STORE_NOT_FOUND", f"no such stores: {', '.join(sorted(wanted - found))}")


def get_store(merchant_id: str, store_id: str) -> Store:
    try:
        return Store.get(store_pk(merchant_id), store_id)
    except Store.DoesNotExist:
        raise KabaoError("STORE_NOT_FOUND", f"no store {store_id}") from None
