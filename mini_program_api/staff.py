"""Stores and the people who work for a merchant: counter staff and back-office admins.

Passwords are hashed with scrypt and compared in constant time (passwords.py). Five wrong passwords in a row lock the
account for 15 minutes; each attempt is counted atomically before its password
is checked, so concurrent guesses get no more than five checks between them. An
unknown username costs the same hash as a known one, so timing does not reveal
which usernames exist.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from . import audit, auth, clock, paging
from .auth import Principal
from .db.models import StaffAccount, Store, staff_pk, store_pk
from .db.transact import Cancelled, Transaction
from .errors import KabaoError
from .passwords import Lockout, accept, check_password, hash_password

MAX_FAILED_LOGINS = 5
LOCK_MINUTES = 15
MIN_PASSWORD_LENGTH = 10
CREATE_RETRY_WINDOW = timedelta(minutes=15)


@cache
def _dummy_hash() -> str:
    """Hashed on first need, not at import: scrypt costs tens of ms that every cold start would pay."""
    return hash_password("not-a-real-password", salt=b"\0" * 16)


def create_store(actor: Principal, store_id: str, name: str) -> Store:
    """Create a store once; the same request again (a client retry) returns it, another is 409."""
    store = Store(store_pk(actor.merchant_id), store_id, merchant_id=actor.merchant_id, store_id=store_id,
                  name=name, created_at=clock.now())
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


def create_account(actor: Principal | None, merchant_id: str, username: str, password: str, role: str,
                   store_id: str | None) -> StaffAccount:
    """A staff account (bound to an existing store) or an admin account (no store).

    The same request again within `CREATE_RETRY_WINDOW` (a client retry after a lost answer)
    returns the account; any other request for a taken username is 409. `actor` None is the
    bootstrap of a merchant's first admin (infra/deploy/accounts.py)."""
    if role not in ("staff", "admin"):
        raise KabaoError("VALIDATION_ERROR", "role is staff or admin")
    if (role == "staff") != (store_id is not None):
        raise KabaoError("VALIDATION_ERROR", "staff accounts need a store_id; admin accounts have none")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise KabaoError("VALIDATION_ERROR", f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    tx = Transaction()
    if store_id is not None:
        get_store(merchant_id, store_id)
        tx.check("store", Store, store_pk(merchant_id), store_id, Store.sk.exists())
    account = StaffAccount(staff_pk(merchant_id), username, merchant_id=merchant_id, username=username, role=role,
                           store_id=store_id, password_hash=hash_password(password), created_at=clock.now())
    tx.put("account", account, condition=StaffAccount.sk.does_not_exist())
    if actor is not None:
        audit.record(tx, actor, "STAFF_CREATED", username, {"role": role, "store_id": store_id or ""})
    try:
        tx.commit()
    except Cancelled as exc:
        if "store" in exc.failed:
            raise KabaoError("STORE_NOT_FOUND", f"no store {store_id}") from exc
        existing = StaffAccount.get(staff_pk(merchant_id), username, consistent_read=True)
        if not _same_create(existing, password, role, store_id):
            raise KabaoError("ALREADY_EXISTS", f"username {username} is taken") from exc
        return existing
    return account


def _same_create(account: StaffAccount, password: str, role: str, store_id: str | None) -> bool:
    """Whether `account` is what this create request made: same role, store and password, made just now
    (the window keeps a create from becoming a way to test the passwords of older accounts)."""
    return (account.role == role and account.store_id == store_id
            and clock.now() - account.created_at <= CREATE_RETRY_WINDOW
            and check_password(password, account.password_hash))


def accounts(merchant_id: str, cursor: str | None = None, limit: int = 100) -> paging.Page[StaffAccount]:
    return paging.partition(StaffAccount, staff_pk(merchant_id), cursor, limit)


@dataclass(frozen=True)
class Session:
    token: str
    expires_in: int
    principal: Principal


def login(merchant_id: str, username: str, password: str) -> Session:
    try:
        account = StaffAccount.get(staff_pk(merchant_id), username, consistent_read=True)
    except StaffAccount.DoesNotExist:
        check_password(password, _dummy_hash())
        raise KabaoError("INVALID_CREDENTIALS", "wrong username or password") from None
    now = clock.now()
    _LOCKOUT.count_attempt(account, now)
    if not check_password(password, account.password_hash):
        _LOCKOUT.lock_when_full(account, now)  # the attempt stays counted as a failure
        raise KabaoError("INVALID_CREDENTIALS", "wrong username or password")
    accept(account, "password_hash", password, account.password_hash, _LOCKOUT.reset())
    principal = Principal(merchant_id, username, account.role, account.store_id)
    token, expires_in = auth.issue(principal)
    return Session(token, expires_in, principal)


_LOCKOUT = Lockout(StaffAccount, "failed_logins", "locked_until", MAX_FAILED_LOGINS, LOCK_MINUTES,
                   lambda: KabaoError("ACCOUNT_LOCKED", "too many wrong passwords, try again later"))
