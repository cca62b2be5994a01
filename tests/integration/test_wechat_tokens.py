"""Access tokens shared by every container: one stable_token fetch for all, refreshed once when it expires."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from mini_program_api.db.tokens import SharedToken
from mini_program_api.wechat import tokens
from mini_program_api.wechat.miniprogram import MiniProgram


def _app(sandbox: Any) -> tuple[str, str]:
    appid, secret = f"wx{uuid.uuid4().hex[:14]}", f"secret-{uuid.uuid4().hex}"
    sandbox.apps[appid] = secret
    return appid, secret


def _containers(appid: str, secret: str, n: int) -> list[str]:
    """`n` cold containers at once, each with its own client (no memory shared), each asking for a token."""
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: MiniProgram(appid, secret)._client.access_token, range(n)))


def test_50_cold_containers_fetch_one_token(sandbox: Any, clock: Any) -> None:
    appid, secret = _app(sandbox)
    got = _containers(appid, secret, 50)
    assert len(set(got)) == 1 and got[0]
    assert sandbox.token_fetches[appid] == 1
    # A later container finds it in the table; one that holds it in memory reads nothing at all.
    warm = MiniProgram(appid, secret)
    assert warm._client.access_token == got[0] == warm._client.access_token
    assert sandbox.token_fetches[appid] == 1


def test_an_expiring_token_is_refreshed_once_for_everyone(sandbox: Any, clock: Any) -> None:
    appid, secret = _app(sandbox)
    first = _containers(appid, secret, 5)[0]
    clock.advance(seconds=7200 - 60)  # within the margin: every container treats it as expired
    again = _containers(appid, secret, 20)
    assert len(set(again)) == 1
    assert sandbox.token_fetches[appid] == 2
    assert again[0] == first  # stable_token: WeChat's token is still valid, so it is the same one


def test_a_lease_left_by_a_dead_container_is_taken_over(sandbox: Any, clock: Any) -> None:
    appid, secret = _app(sandbox)
    key = f"{appid}_access_token"
    SharedToken(f"WXTOKEN#{key}", "LEASE", value="dead", expires_at=clock.now - timedelta(seconds=1)).save()
    assert _containers(appid, secret, 3)[0]
    assert sandbox.token_fetches[appid] == 1


def test_a_wrong_secret_is_wechat_unavailable_and_caches_nothing(sandbox: Any, clock: Any) -> None:
    import pytest

    from mini_program_api.platform.errors import KabaoError

    appid, _ = _app(sandbox)
    with pytest.raises(KabaoError) as raised:
        MiniProgram(appid, "wrong").phone_number("phone:13800138000")
    assert raised.value.code == "WECHAT_UNAVAILABLE"
    assert tokens.SharedTokens().get(f"{appid}_access_token") is None
