"""WeChat access tokens shared by every container, cached in DynamoDB.

Why: `/cgi-bin/token` issues a new token on every call and retires the one other
containers hold, and its daily quota is small; with a token per Lambda container,
every cold start cuts the others off and busy days run out of quota. So tokens come
from `/cgi-bin/stable_token` (the same token again while it is valid) and live in
one item per appid that every container reads. When it is missing or about to
expire, one container at a time refreshes it: a conditional lease item says who;
the others wait for its write, and fetch themselves only if it never comes (a
stable token is the same token anyway, so that costs quota, never validity).

`SharedTokens` is wechatpy's session storage interface over that item (with a copy
in the container's memory, so a warm container reads nothing), so the wechatpy
client keeps working as it does; `refresh` is what its `fetch_access_token` calls.

The card api_ticket (卡券 api_ticket, signs `wx.addCard`'s cardExt) has the same rules (per appid,
7200 s, fetching again retires the one others hold): `shared` reads it through the same item and lease.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from wechatpy.session import SessionStorage

from mini_program_api.db.tokens import SharedToken
from mini_program_api.db.transact import Cancelled, Transaction, put_new, update_if
from mini_program_api.platform import clock

MARGIN = timedelta(seconds=120)  # a token this close to expiry counts as expired
LEASE = timedelta(seconds=5)  # how long one container may take to refresh
WAIT_STEP = 0.1


def _pk(key: str) -> str:
    return f"WXTOKEN#{key}"


class SharedTokens(SessionStorage):
    """wechatpy session storage over DynamoDB: `key` is wechatpy's `{appid}_access_token`."""

    def __init__(self) -> None:
        self._memory: dict[str, tuple[str, datetime]] = {}

    def get(self, key: str, default: str | None = None) -> str | None:
        value, expires_at = self._memory.get(key) or self._read(key)
        if value is None or expires_at - MARGIN <= clock.now():
            return default
        self._memory[key] = (value, expires_at)
        return value

    def _read(self, key: str) -> tuple[str | None, datetime]:
        try:
            item = SharedToken.get(_pk(key), "ACCESS_TOKEN", consistent_read=True)
        except SharedToken.DoesNotExist:
            return None, clock.now()
        return str(item.value), item.expires_at

    def set(self, key: str, value: str, ttl: int | None = None) -> None:
        expires_at = clock.now() + timedelta(seconds=ttl or 7200)
        SharedToken(
            _pk(key), "ACCESS_TOKEN", value=value, expires_at=expires_at, expires_ttl=expires_at + timedelta(days=1)
        ).save()
        self._memory[key] = (value, expires_at)

    def forget(self, key: str) -> str | None:
        """Drop this container's copy and return it: asked to refresh while holding one, WeChat refused it."""
        value, _ = self._memory.pop(key, (None, None))
        return value

    def delete(self, key: str) -> None:
        self._memory.pop(key, None)
        SharedToken(_pk(key), "ACCESS_TOKEN").delete()


def refresh(storage: SharedTokens, key: str, fetch: Callable[[], tuple[str, int]]) -> str:
    """A valid token for `key`: another container's fresh write, or `fetch()` (token, expires_in) under the lease.

    A token this container held when asked to refresh is one WeChat refused (revoked early):
    it is never taken back from the table, only replaced there."""
    refused = storage.forget(key)
    holder = uuid.uuid4().hex
    if _take_lease(key, holder):
        try:
            token = storage.get(key)  # the previous holder may have written it just now
            if token is None or token == refused:
                storage.forget(key)
                token, expires_in = fetch()
                storage.set(key, token, expires_in)
            return token
        finally:
            _release_lease(key, holder)
    deadline = time.monotonic() + LEASE.total_seconds()
    while time.monotonic() < deadline:
        time.sleep(WAIT_STEP)
        token = storage.get(key)
        if token is not None and token != refused:
            return token
        storage.forget(key)
    token, expires_in = fetch()  # the holder never wrote: take the lease's place
    storage.set(key, token, expires_in)
    return token


def shared(storage: SharedTokens, key: str, fetch: Callable[[], tuple[str, int]]) -> str:
    """The credential under `key` (an appid-prefixed name such as `{appid}_wx_card_ticket`): the shared
    copy while it is valid, else one container's `refresh` under the lease."""
    return storage.get(key) or refresh(storage, key, fetch)


def _release_lease(key: str, holder: str) -> None:
    """So that a refusal of the new token right away need not wait for the lease to run out."""
    tx = Transaction()
    tx.delete("lease", SharedToken(_pk(key), "LEASE"), condition=SharedToken.value == holder)
    try:
        tx.commit()
    except Cancelled:
        pass  # it ran out and another container holds it now


def _take_lease(key: str, holder: str) -> bool:
    now = clock.now()
    lease = SharedToken(_pk(key), "LEASE", value=holder, expires_at=now + LEASE, expires_ttl=now + LEASE)
    if put_new(lease):
        return True
    # A lease whose holder died (its time ran out) may be taken over.
    return update_if(
        lease, [SharedToken.value.set(holder), SharedToken.expires_at.set(now + LEASE)], SharedToken.expires_at < now
    )
