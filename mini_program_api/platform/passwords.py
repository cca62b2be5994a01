"""Secrets people type: salted slow hashes, and the atomic count of wrong guesses that locks them.

Shared by staff logins (staff/accounts.py) and members' spending passwords (till/spending_password.py),
so both get the same hash and the same race-free lockout.

Hashes are scrypt (hashlib, RFC 7914; N=2^17, r=8, p=1 as OWASP asks, a random 16-byte
salt), compared in constant time: a 6-digit PIN has only 10^6 values, so the hash must be
slow and salted for a leaked table not to give them all away. N=2^17 takes 128 MiB and
about half a second; the stored string carries its own parameters, so hashes made at an
older, weaker N (2^14 before) still verify, and `accept` replaces them at the next right
password. Local stages may lower N with KABAO_SCRYPT_LOG2N (the test suite does, for speed:
hundreds of logins); other stages never go below 2^17.

Lockout: each attempt is counted as a failure atomically BEFORE its secret is
checked (`count_attempt`), so of any number of concurrent guesses at most `limit`
are checked; the rest are refused. A wrong guess leaves its count; the guess that
fills the count sets the lock (`lock_when_full`, exactly once); a right one resets
the count (the caller's write). The item and its attribute names are the caller's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from pynamodb.expressions.update import Action
from pynamodb.models import Model

from mini_program_api.db.transact import update_if
from mini_program_api.platform.config import settings
from mini_program_api.platform.errors import KabaoError

PRODUCTION_LOG2N = 17
_R, _P, _DKLEN = 8, 1, 32
_MAX_LOG2N = 20  # a stored hash asking for more memory than this (1 GiB) is refused, not attempted


def work_factor() -> int:
    """log2 N for new hashes (see the module docstring)."""
    config = settings()
    return config.scrypt_log2n if config.is_local else max(config.scrypt_log2n, PRODUCTION_LOG2N)


def _maxmem(n: int, r: int, p: int) -> int:
    # OpenSSL needs 128*r*(N+p+2) bytes (V plus B); hashlib's default cap of 32 MiB is below N=2^15.
    return 128 * r * (n + p + 2) + 1024 * 1024


def hash_password(password: str, salt: bytes | None = None, log2n: int | None = None) -> str:
    """A new hash at today's work factor (`log2n` only to make older-style hashes, in tests)."""
    salt = salt or os.urandom(16)
    n = 2 ** (log2n if log2n is not None else work_factor())
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=_R, p=_P, dklen=_DKLEN, maxmem=_maxmem(n, _R, _P))
    b64 = base64.b64encode
    return f"scrypt${n}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    _, n_text, r_text, p_text, salt, digest = stored.split("$")
    n, r, p = int(n_text), int(r_text), int(p_text)
    if n > 2**_MAX_LOG2N:
        raise ValueError("stored password hash asks for an unreasonable work factor")
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=n, r=r, p=p, dklen=len(expected), maxmem=_maxmem(n, r, p)
    )
    return hmac.compare_digest(actual, expected)


def needs_rehash(stored: str) -> bool:
    """Whether `stored` was made with weaker parameters than today's (never a downgrade)."""
    _, n, r, p, *_ = stored.split("$")
    return int(n) < 2 ** work_factor() or (int(r), int(p)) != (_R, _P)


def accept(item: Model, attribute: str, password: str, stored: str, actions: Sequence[Action]) -> None:
    """A right password: apply `actions` (the lockout reset) to `item` and, if `stored` is weaker than
    today's parameters, replace it by a hash of `password` at today's, in the same write. The
    upgrade is conditional on the hash still being `stored`: a password changed meanwhile is kept."""
    field = getattr(type(item), attribute)
    if needs_rehash(stored):
        upgraded = hash_password(password)
        if update_if(item, [*actions, field.set(upgraded)], field == stored):
            setattr(item, attribute, upgraded)  # callers may write again on the condition of this hash
            return
    item.update(actions=list(actions))


class Lockout:
    """The failure count `failed` and lock `locked` (attribute names) on items of one model."""

    def __init__(
        self, model: type[Model], failed: str, locked: str, limit: int, minutes: int, error: Callable[[], KabaoError]
    ) -> None:
        self.model, self.limit, self.minutes, self.error = model, limit, minutes, error
        self.failed, self.locked = getattr(model, failed), getattr(model, locked)
        self._locked_name = locked

    def count_attempt(self, item: Model, now: datetime, on_lock: Callable[[], None] | None = None) -> None:
        """Count this attempt before its secret is checked; raise `error` when locked or the count is full."""
        locked_until = getattr(item, self._locked_name)
        if locked_until is not None:
            if now < locked_until:
                raise self.error()
            # The lock has run out: count afresh (once, whichever attempt comes first).
            update_if(item, [self.failed.set(0), self.locked.remove()], self.locked == locked_until)
        room = self.failed.does_not_exist() | (self.failed < self.limit)
        if not update_if(item, [self.failed.add(1)], room):
            self.lock_when_full(item, now, on_lock)  # the attempt that filled the count may not have locked yet
            raise self.error()

    def lock_when_full(self, item: Model, now: datetime, on_lock: Callable[[], None] | None = None) -> bool:
        """Lock once the count is full; True (and `on_lock` called) for the one call that set the lock."""
        locked = update_if(
            item,
            [self.locked.set(now + timedelta(minutes=self.minutes))],
            (self.failed >= self.limit) & self.locked.does_not_exist(),
        )
        if locked and on_lock is not None:
            on_lock()
        return locked

    def reset(self) -> list[Action]:
        """The actions a right secret applies."""
        return [self.failed.set(0), self.locked.remove()]
