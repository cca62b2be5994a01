"""The Mini Program server API (api.weixin.qq.com) through wechatpy.

wechatpy hard-codes api.weixin.qq.com in a few places; the subclass below points
every call at `WECHAT_API_BASE` so the sandbox and production differ only in
configuration. WeChat answers errors with HTTP 200 and an `errcode`; they are
mapped here to our error codes so no WeChat number leaks past this module.
"""

from __future__ import annotations

import json
import logging
from functools import cache, cached_property
from typing import Any, NamedTuple, NoReturn

import urllib3

from mini_program_api.platform.config import settings
from mini_program_api.platform.errors import KabaoError
from mini_program_api.telemetry import metrics

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5.0
# 40029 invalid code, 40163 code already used, 40226 risky user blocked by WeChat.
_BAD_CODE = {40029, 40163, 40226}
_RATE_LIMITED = {45011, 45009}


class Session(NamedTuple):
    openid: str
    unionid: str | None


class MiniProgram:
    def __init__(self, appid: str, secret: str) -> None:
        self.appid = appid
        self._secret = secret
        self._base = settings().wechat_api_base

    @cached_property
    def _client(self) -> Any:  # token_client.SharedTokenClient, not imported here
        """wechatpy, built (and imported, with requests) on the first call that needs an access token: wechatpy
        adds one to every call it makes, jscode2session's included, which needs none (a read of the shared token,
        or a refresh under its lease, on a cold login)."""
        from mini_program_api.wechat.token_client import SharedTokenClient

        return SharedTokenClient(self.appid, self._secret, self._base, TIMEOUT_SECONDS)

    def code_to_session(self, js_code: str) -> Session:
        """wx.login code -> openid. The session_key is dropped here: it never leaves this call.

        A plain GET through urllib3 (botocore's HTTP library, so already loaded), not wechatpy: jscode2session
        needs no access token, and a login is the member's first request to a cold container."""
        params = {"appid": self.appid, "secret": self._secret, "js_code": js_code, "grant_type": "authorization_code"}
        try:
            response = _http().request(
                "GET", f"{self._base}/sns/jscode2session", fields=params, timeout=TIMEOUT_SECONDS, retries=False
            )
        except urllib3.exceptions.HTTPError:
            self._unreachable()
        try:
            result = json.loads(response.data) if response.status == 200 else None
        except ValueError:
            result = None
        if not isinstance(result, dict):  # an HTTP error status or not WeChat's JSON: no answer from WeChat
            self._refused(None)
        if result.get("errcode"):
            self._refused(int(result["errcode"]))
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
        import requests
        from wechatpy.exceptions import WeChatClientException

        try:
            return fn(*args, **kwargs)
        except WeChatClientException as exc:
            self._refused(exc.errcode)
        except requests.RequestException:
            self._unreachable()

    def _refused(self, errcode: int | None) -> NoReturn:
        """WeChat's refusal, as our error: the one place its numbers are read."""
        if errcode in _BAD_CODE:
            raise KabaoError("INVALID_CODE", "the WeChat code is invalid, expired or already used")
        if errcode in _RATE_LIMITED:
            metrics.count(metrics.WECHAT_FAILED, api="miniprogram", reason=str(errcode))
            raise KabaoError("RATE_LIMITED", "WeChat is rate limiting this mini program, retry shortly")
        log.error("wechat call failed", extra={"errcode": errcode, "appid": self.appid})
        metrics.count(metrics.WECHAT_FAILED, api="miniprogram", reason=str(errcode))
        raise KabaoError("WECHAT_UNAVAILABLE", "WeChat did not accept the request")

    def _unreachable(self) -> NoReturn:
        log.error("wechat unreachable", extra={"appid": self.appid})
        metrics.count(metrics.WECHAT_FAILED, api="miniprogram", reason="unreachable")
        raise KabaoError("WECHAT_UNAVAILABLE", "WeChat is unreachable, retry shortly")


@cache
def _http() -> urllib3.PoolManager:
    """One connection pool per container for code2session. As many connections as the local server has threads
    (a Lambda uses one): urllib3 would open, use once and drop every connection past `maxsize`."""
    import certifi

    return urllib3.PoolManager(maxsize=32, ca_certs=certifi.where())


@cache
def for_app(appid: str, secret: str) -> MiniProgram:
    """One client per app per container: it caches the access token between invocations."""
    return MiniProgram(appid, secret)
