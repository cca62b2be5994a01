"""Secrets people type: salted slow hashes, and the atomic count of wrong guesses that locks them.

Shared by staff logins (staff.py) and members' spending passwords (spending_password.py),
so both get the same hash and the same race-free lockout.

Hashes are scrypt (hashlib, RFC 7914; N=2^14, r=8, p=1, a random 16-byte salt),
compared in constant time: a 6-digit PIN has only 10^6 values, so the hash must be
slow and salted for a leaked table not to give them all away.

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
from collections.abc import Callable
from datetime import datetime, timedelta

from pynamodb.expressions.update import Action
from pynamodb.models import Model

from .db.transact import update_if
from .errors import KabaoError

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32, "maxmem": 64 * 1024 * 1024}


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    _, n, r, p, salt, digest = stored.split("$")
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                            dklen=len(expected), maxmem=_SCRYPT["maxmem"])
    return hmac.compare_digest(actual, expected)


class Lockout:
    """The failure count `failed` and lock `locked` (attribute names) on items of one model."""

    def __init__(self, model: type[Model], failed: str, locked: str, limit: int, minutes: int,
                 error: Callable[[], KabaoError]) -> None:
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
        locked = update_if(item, [self.locked.set(now + timedelta(minutes=self.minutes))],
                           (self.failed >= self.limit) & self.locked.does_not_exist())
        if locked and on_lock is not None:
            on_lock()
        return locked

    def reset(self) -> list[Action]:
        """The actions a right secret applies."""
        return [self.failed.set(0), self.locked.remove()]
