"""wechatpy's client for the APIs that need an access token (the phone number, subscribe messages, the card API),
pointed at `WECHAT_API_BASE`, with the access token shared by every container (tokens.py).

Apart from miniprogram.py so that importing the Mini Program adapter does not import wechatpy and requests:
a login calls only code2session, which needs neither (miniprogram.py), and they are most of a cold login's
imports (bench/cold_start.py).
"""

from __future__ import annotations

from typing import Any

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from mini_program_api.wechat import tokens


class _TimeoutSession(requests.Session):
    """wechatpy fetches access tokens without a timeout; a hung WeChat must not hang a Lambda."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        return super().request(*args, **kwargs)


class SharedTokenClient(WeChatClient):
    """Access tokens are shared by every container (tokens.py): stable_token, cached in DynamoDB.

    Also the official account's client for the card API (wechat/card.py): same token rules."""

    def __init__(self, appid: str, secret: str, base: str, timeout: float) -> None:
        super().__init__(appid, secret, timeout=timeout, session=tokens.SharedTokens())
        self._http = _TimeoutSession(timeout)
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
