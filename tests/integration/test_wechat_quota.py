"""WeChat's own rate limits (45011 "api minute-quota reach limit", 45009 "reach max api daily quota limit"): the
member is answered 429 RATE_LIMITED, as API Gateway's throttle answers (tests/infra/test_throttling.py), never a
500 or WeChat's number, and nothing is written. The sandbox answers them when told to (monkeypatched here)."""

from __future__ import annotations

from typing import Any

import pytest

from mini_program_api.db.models import LOOKUP, Lookup, lookup_pk


@pytest.mark.parametrize("errcode", [45011, 45009])
def test_login_when_wechat_rate_limits_code2session_is_429_and_creates_no_member(
    api: Any, merchant: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch, errcode: int
) -> None:
    monkeypatch.setattr(sandbox, "_code2session", lambda request: {"errcode": errcode, "errmsg": "quota"})
    status, body = api.post("/v1/auth/login", {"appid": merchant.appid, "code": "test:quota-member"})
    assert (status, body["error"]["code"]) == (429, "RATE_LIMITED"), body
    assert str(errcode) not in body["error"]["message"]
    with pytest.raises(Lookup.DoesNotExist):
        Lookup.get(lookup_pk(merchant.merchant_id, "OPENID", "quota-member"), LOOKUP)

    monkeypatch.undo()  # WeChat answers again: the member logs in (the code was never used)
    status, body = api.post("/v1/auth/login", {"appid": merchant.appid, "code": "test:quota-member"})
    assert status == 200 and body["created"] is True


def test_phone_binding_when_wechat_rate_limits_is_429_and_binds_nothing(
    api: Any, merchant: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = api.login(merchant, "quota-phone")["token"]
    monkeypatch.setattr(sandbox, "_phone", lambda request: {"errcode": 45011, "errmsg": "api minute-quota reach limit"})
    status, body = api.post("/v1/me/phone", {"code": "phone:13900000045"}, token=token)
    assert (status, body["error"]["code"]) == (429, "RATE_LIMITED"), body
    status, me = api.get("/v1/me", token=token)
    assert status == 200 and me["phone"] is None
