"""The Mini Program server API (api.weixin.qq.com) through wechatpy.

wechatpy hard-codes api.weixin.qq.com in a few places; the subclass below points
every call at `WECHAT_API_BASE` so the sandbox and production differ only in
configuration. WeChat answers errors with HTTP 200 and an `errcode`; they are
mapped here to our error codes so no WeChat number leaks past this module.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from mini_program_api.platform.config import settings
from mini_program_api.platform.errors import KabaoError
from mini_program_api.telemetry import metrics
from mini_program_api.wechat import tokens

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5.0
# 40029 invalid code, 40163 code already used, 40226 risky user blocked by WeChat.
_BAD_CODE = {40029, 40163, 40226}
_RATE_LIMITED = {45011, 45009}


class _TimeoutSession(requests.Session):
    """wechatpy fetches access tokens without a timeout; a hung WeChat must not hang a Lambda."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["timeout"] = kwargs.get("timeout") or TIMEOUT_SECONDS
        return super().request(*args, **kwargs)


class SharedTokenClient(WeChatClient):
    """Access tokens are shared by every container (tokens.py): stable_token, cached in DynamoDB.

    Also the official account's client for the card API (wechat/card.py): same token rules."""

    def __init__(self, appid: str, secret: str, base: str) -> None:
        super().__init__(appid, secret, timeout=TIMEOUT_SECONDS, session=tokens.SharedTokens())
        self._http = _TimeoutSession()
        self._base = base
        self.API_BASE_URL = f"{base}/cgi-bin/"
        self.wxa.API_BASE_URL = f"{base}/"
        self.card.API_BASE_URL = f"{base}/"

    def fetch_access_token(self) -> dict[str, Any]:
        token = tokens.refresh(self.session, self.access_token_key, self._stable_token)
        self.expires_at = None  # the shared storage says when it expires (SharedTokens.get)
        return {"access_token": token}

    def _stable_token(self) -> tuple[str, int]:
        response = self._http.post(
            f"{self._base}/cgi-bin/stable_token",
            json={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )
        response.raise_for_status()
        result = response.json()
        if result.get("errcode"):
            raise WeChatClientException(
                int(result["errcode"]), result.get("errmsg"), client=self, request=response.request, response=response
            )
        return str(result["access_token"]), int(result["expires_in"])


@dataclass(frozen=True)
class Session:
    openid: str
    unionid: str | None


class MiniProgram:
    def __init__(self, appid: str, secret: str) -> None:
        self.appid = appid
        self._client = SharedTokenClient(appid, secret, settings().wechat_api_base)

    def code_to_session(self, js_code: str) -> Session:
        """wx.login code -> openid. The session_key is dropped here: it never leaves this call."""
        result = self._call(self._client.wxa.code_to_session, js_code)
        return Session(openid=result["openid"], unionid=result.get("unionid"))

    def phone_number(self, code: str) -> str:
        """getPhoneNumber code -> the member's number (purePhoneNumber, no country code)."""
        result = self._call(
            self._client.post,
            "wxa/business/getuserphonenumber",
            data={"code": code},
            api_base_url=f"{self._client._base}/",
        )
        info = result["phone_info"]
        if info.get("watermark", {}).get("appid") != self.appid:
            raise KabaoError("INVALID_CODE", "phone code was issued to another mini program")
        return str(info["purePhoneNumber"])

    def send_subscribe_message(self, openid: str, template_id: str, data: dict[str, Any], page: str | None) -> None:
        self._call(self._client.wxa.send_subscribe_message, openid, template_id, data, page)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return fn(*args, **kwargs)
        except WeChatClientException as exc:
            if exc.errcode in _BAD_CODE:
                raise KabaoError("INVALID_CODE", "the WeChat code is invalid, expired or already used") from None
            if exc.errcode in _RATE_LIMITED:
                metrics.count(metrics.WECHAT_FAILED, api="miniprogram", reason=str(exc.errcode))
                raise KabaoError("RATE_LIMITED", "WeChat is rate limiting this mini program, retry shortly") from None
            log.error("wechat call failed", extra={"errcode": exc.errcode, "appid": self.appid})
            metrics.count(metrics.WECHAT_FAILED, api="miniprogram", reason=str(exc.errcode))
            raise KabaoError("WECHAT_UNAVAILABLE", "WeChat did not accept the request") from None
        except requests.RequestException:
            log.error("wechat unreachable", extra={"appid": self.appid})
            metrics.count(metrics.WECHAT_FAILED, api="miniprogram", reason="unreachable")
            raise KabaoError("WECHAT_UNAVAILABLE", "WeChat is unreachable, retry shortly") from None


@cache
def for_app(appid: str, secret: str) -> MiniProgram:
    """One client per app per container: it caches the access token between invocations."""
    return MiniProgram(appid, secret)
