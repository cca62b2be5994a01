"""The Mini Program adapter against the sandbox: token reuse, message recording, failure mapping."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import pytest

from mini_program_api.platform.errors import KabaoError
from mini_program_api.wechat import miniprogram
from mini_program_api.wechat.miniprogram import MiniProgram


@pytest.fixture
def app(sandbox: Any) -> MiniProgram:
    appid = f"wx{uuid.uuid4().hex[:12]}"
    sandbox.apps[appid] = "s3cret"
    return MiniProgram(appid, "s3cret")


def test_subscribe_message_is_delivered_and_token_reused(app: MiniProgram, sandbox: Any) -> None:
    tokens_before = len(sandbox.tokens)
    app.send_subscribe_message("o-1", "tmpl-expiry", {"thing1": {"value": "咖啡券"}}, "pages/coupons")
    app.send_subscribe_message("o-2", "tmpl-expiry", {"thing1": {"value": "咖啡券"}}, None)
    sent = [m for m in sandbox.messages if m["appid"] == app.appid]
    assert [(m["touser"], m["template_id"]) for m in sent] == [("o-1", "tmpl-expiry"), ("o-2", "tmpl-expiry")]
    assert sent[0]["data"] == {"thing1": {"value": "咖啡券"}} and sent[0]["page"] == "pages/coupons"
    assert len(sandbox.tokens) == tokens_before + 1  # one access token for both sends


def test_expired_access_token_is_refreshed_once(app: MiniProgram, sandbox: Any) -> None:
    app.send_subscribe_message("o-1", "t", {}, None)
    for token, (appid, _) in list(sandbox.tokens.items()):
        if appid == app.appid:
            sandbox.tokens[token] = (appid, 0.0)  # WeChat revoked it early
    app.send_subscribe_message("o-2", "t", {}, None)
    assert [m["touser"] for m in sandbox.messages if m["appid"] == app.appid] == ["o-1", "o-2"]
    # The refused token was replaced for every container: a cold one gets the new one, fetching nothing.
    fetches = sandbox.token_fetches[app.appid]
    assert MiniProgram(app.appid, sandbox.apps[app.appid])._client.access_token == app._client.access_token
    assert sandbox.tokens[app._client.access_token][1] > 0 and sandbox.token_fetches[app.appid] == fetches == 2


def test_phone_number_is_read_from_the_code(app: MiniProgram, sandbox: Any) -> None:
    other = f"wx{uuid.uuid4().hex[:12]}"
    sandbox.apps[other] = "x"
    assert MiniProgram(other, "x").phone_number("phone:13812345678") == "13812345678"


def test_unreachable_wechat_is_503_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    monkeypatch.setattr(
        miniprogram, "settings", lambda: type("S", (), {"wechat_api_base": f"http://127.0.0.1:{closed_port}"})()
    )
    with pytest.raises(KabaoError) as exc:
        MiniProgram("wxanything", "x").code_to_session("test:o")
    assert exc.value.code == "WECHAT_UNAVAILABLE" and exc.value.status == 503
