"""The people who work for a merchant: counter staff and back-office admins, their logins and sessions.

Passwords are hashed with scrypt and compared in constant time (platform/passwords.py). Five wrong passwords
in a row lock the account for 15 minutes; each attempt is counted atomically before its password
is checked, so concurrent guesses get no more than five checks between them. An
unknown username costs the same hash as a known one, so timing does not reveal
which usernames exist.

Sessions: a token carries its account's `token_version` at login, and every staff
and admin call reads the account once (`require_session`, one consistent read, with a sale's first items):
a disabled account, a reset password or a revocation (each bumps the version) ends
every session of that account at once, not when its tokens expire. Logins, failed
logins and lockouts are in the audit trail, each record written right after the
attempt's own write (its count, or the reset and hash upgrade of passwords.accept).
A closed store takes no logins, and closing it revokes its staff's sessions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cache
from typing import NamedTuple

from mini_program_api.db.models import ItemKey, Known, get_together
from mini_program_api.db.staff import StaffAccount, Store, staff_pk, store_pk
from mini_program_api.db.transact import Cancelled, Transaction
from mini_program_api.platform import auth, clock, paging
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.platform.passwords import Lockout, accept, check_password, hash_password
from mini_program_api.staff import audit, stores

MAX_FAILED_LOGINS = 5
LOCK_MINUTES = 15
MIN_PASSWORD_LENGTH = 10
CREATE_RETRY_WINDOW = timedelta(minutes=15)


@cache
def _dummy_hash() -> str:
    """Hashed on first need, not at import: scrypt costs tens of ms that every cold start would pay."""
    return hash_password("not-a-real-password", salt=b"\0" * 16)


def create_account(
    actor: Principal | None, merchant_id: str, username: str, password: str, role: str, store_id: str | None
) -> StaffAccount:
    """A staff account (bound to an existing store) or an admin account (no store).

    The same request again within `CREATE_RETRY_WINDOW` (a client retry after a lost answer)
    returns the account; any other request for a taken username is 409. `actor` None is the
    bootstrap of a merchant's first admin (infra/deploy/accounts.py)."""
    if role not in ("staff", "admin"):
        raise KabaoError("VALIDATION_ERROR", "role is staff or admin")
    if (role == "staff") != (store_id is not None):
        raise KabaoError("VALIDATION_ERROR", "staff accounts need a store_id; admin accounts have none")
    _check_password_rule(password)
    tx = Transaction()
    if store_id is not None:
        if stores.get_store(merchant_id, store_id).closed_at is not None:
            raise KabaoError("STORE_CLOSED", f"store {store_id} is closed")
        tx.check("store", Store, store_pk(merchant_id), store_id, Store.sk.exists() & Store.closed_at.does_not_exist())
    account = StaffAccount(
        staff_pk(merchant_id),
        username,
        merchant_id=merchant_id,
        username=username,
        role=role,
        store_id=store_id,
        password_hash=hash_password(password),
        created_at=clock.now(),
    )
    tx.put("account", account, condition=StaffAccount.sk.does_not_exist())
    if actor is not None:
        audit.record(tx, actor, "STAFF_CREATED", username, {"role": role, "store_id": store_id or ""})
    try:
        tx.commit()
    except Cancelled as exc:
        if "store" in exc.failed:
            raise KabaoError("STORE_CLOSED", f"store {store_id} was closed meanwhile") from exc
        existing = StaffAccount.get(staff_pk(merchant_id), username, consistent_read=True)
        if not _same_create(existing, password, role, store_id):
            raise KabaoError("ALREADY_EXISTS", f"username {username} is taken") from exc
        return existing
    return account


def _same_create(account: StaffAccount, password: str, role: str, store_id: str | None) -> bool:
    """Whether `account` is what this create request made: same role, store and password, made just now
    (the window keeps a create from becoming a way to test the passwords of older accounts)."""
    return (
        account.role == role
        and account.store_id == store_id
        and clock.now() - account.created_at <= CREATE_RETRY_WINDOW
        and check_password(password, account.password_hash)
    )


def accounts(merchant_id: str, cursor: str | None = None, limit: int = 100) -> paging.Page[StaffAccount]:
    return paging.partition(StaffAccount, staff_pk(merchant_id), cursor, limit)


class Session(NamedTuple):
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
    principal = Principal(merchant_id, username, account.role, account.store_id, int(account.token_version or 0))

    def locked() -> None:
        _note(principal, "STAFF_LOCKED", {"minutes": LOCK_MINUTES})

    try:
        _LOCKOUT.count_attempt(account, now, on_lock=locked)
    except KabaoError:
        _note(principal, "STAFF_LOGIN_REFUSED", {"reason": "locked"})
        raise
    if not check_password(password, account.password_hash):
        _LOCKOUT.lock_when_full(account, now, on_lock=locked)  # the attempt stays counted as a failure
        _note(principal, "STAFF_LOGIN_FAILED", {"reason": "wrong_password"})
        raise KabaoError("INVALID_CREDENTIALS", "wrong username or password")
    # Only someone who knows the password learns that the account is disabled or its store closed.
    refusal = _login_refusal(account)
    accept(account, "password_hash", password, account.password_hash, _LOCKOUT.reset())
    _note(
        principal,
        "STAFF_LOGIN_REFUSED" if refusal else "STAFF_LOGIN",
        {"reason": refusal.code.lower()} if refusal else {},
    )
    if refusal:
        raise refusal
    token, expires_in = auth.issue(principal)
    return Session(token, expires_in, principal)


def _login_refusal(account: StaffAccount) -> KabaoError | None:
    if account.disabled:
        return KabaoError("ACCOUNT_DISABLED", "this account is disabled")
    if account.store_id is not None and stores.get_store(account.merchant_id, account.store_id).closed_at is not None:
        return KabaoError("STORE_CLOSED", "this account's store is closed")
    return None


def _note(actor: Principal, action: str, detail: dict[str, str | int]) -> None:
    tx = Transaction()
    audit.record(tx, actor, action, actor.subject, detail)
    tx.commit()


def require_session(principal: Principal, also: Sequence[ItemKey] = ()) -> Known:
    """The token's account still exists as it was at login, is enabled and has not been revoked since:
    one consistent read per staff or admin call (a revocation takes effect on the next call).
    `also`: keys the call reads first (routes/endpoint.py's `reads`), read in the same round trip and returned by
    key; nothing of them reaches the call unless the session holds."""
    account, *rest = get_together([(StaffAccount, staff_pk(principal.merchant_id), principal.subject), *also])
    if not isinstance(account, StaffAccount):
        raise KabaoError("UNAUTHENTICATED", "this account does not exist")
    if account.role != principal.role or account.store_id != principal.store_id:
        raise KabaoError("UNAUTHENTICATED", "this token does not match its account")
    if account.disabled:
        raise KabaoError("ACCOUNT_DISABLED", "this account is disabled")
    if principal.token_version is None or int(account.token_version or 0) != principal.token_version:
        raise KabaoError("SESSION_REVOKED", "this session has been ended, log in again")
    return {(pk, sk): item for (_, pk, sk), item in zip(also, rest, strict=True)}


def account(merchant_id: str, username: str) -> StaffAccount:
    try:
        return StaffAccount.get(staff_pk(merchant_id), username, consistent_read=True)
    except StaffAccount.DoesNotExist:
        raise KabaoError("STAFF_NOT_FOUND", f"no staff account {username}") from None


def set_disabled(actor: Principal, username: str, disabled: bool) -> StaffAccount:
    """Disable (every session ends at once) or enable again (sessions ended stay ended). An account
    already so changes and records nothing; an admin cannot disable their own account."""
    if disabled and username == actor.subject:
        raise KabaoError("CANNOT_DISABLE_SELF", "an admin cannot disable their own account")
    current = account(actor.merchant_id, username)
    if bool(current.disabled) == disabled:
        return current
    actions = [StaffAccount.disabled.set(disabled)] + ([StaffAccount.token_version.add(1)] if disabled else [])
    was = (
        StaffAccount.disabled == True  # noqa: E712 (a PynamoDB condition, not a test)
        if current.disabled
        else (StaffAccount.disabled.does_not_exist() | (StaffAccount.disabled == False))  # noqa: E712
    )  # noqa: E712
    return _change(actor, current, actions, was, "STAFF_DISABLED" if disabled else "STAFF_ENABLED")


def reset_password(actor: Principal, username: str, password: str) -> StaffAccount:
    """A new password: every session ends, a lock is lifted. The password is never recorded."""
    _check_password_rule(password)
    current = account(actor.merchant_id, username)
    actions = [
        StaffAccount.password_hash.set(hash_password(password)),
        StaffAccount.token_version.add(1),
        *_LOCKOUT.reset(),
    ]
    return _change(actor, current, actions, StaffAccount.sk.exists(), "STAFF_PASSWORD_RESET")


def revoke_sessions(actor: Principal, username: str) -> StaffAccount:
    """End every session of the account now (a lost phone, a shift handed over)."""
    current = account(actor.merchant_id, username)
    return _change(
        actor, current, [StaffAccount.token_version.add(1)], StaffAccount.sk.exists(), "STAFF_SESSIONS_REVOKED"
    )


def _change(actor: Principal, current: StaffAccount, actions: list, condition: object, action: str) -> StaffAccount:
    tx = Transaction()
    tx.update("account", current, actions=actions, condition=condition)  # type: ignore[arg-type]
    audit.record(tx, actor, action, current.username, {"role": current.role, "store_id": current.store_id or ""})
    try:
        tx.commit()
    except Cancelled as exc:
        raise KabaoError("CONCURRENT_UPDATE", "the account changed meanwhile, read it again") from exc
    return account(actor.merchant_id, current.username)


def _check_password_rule(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise KabaoError("VALIDATION_ERROR", f"password must be at least {MIN_PASSWORD_LENGTH} characters")


_LOCKOUT = Lockout(
    StaffAccount,
    "failed_logins",
    "locked_until",
    MAX_FAILED_LOGINS,
    LOCK_MINUTES,
    lambda: KabaoError("ACCOUNT_LOCKED", "too many wrong passwords, try again later"),
)
