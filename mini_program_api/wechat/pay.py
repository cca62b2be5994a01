"""WeChat Pay APIv3 (api.mch.weixin.qq.com) through wechatpayv3: the calls that go out (prepay, query, close,
refunds). Notifies coming in are verified and decrypted without it (wechat/pay_notify.py).

wechatpayv3 fixes its gateway to api.mch.weixin.qq.com and downloads platform
certificates from it while constructing the client. `_Core` points the gateway at
`WECHATPAY_API_BASE` and defers the certificate download to the first signature
that needs it, which wechatpayv3 already does lazily when it meets an unknown
serial. Responses and notifies are verified with the WeChat Pay public key when
the merchant has one (serial `PUB_KEY_ID_...`) and with platform certificates
otherwise: WeChat moves merchants from one to the other gradually.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from functools import cache
from typing import Any

import requests
from wechatpayv3 import SignType, WeChatPay, WeChatPayType
from wechatpayv3.core import Core

from mini_program_api.platform.config import settings
from mini_program_api.platform.errors import KabaoError
from mini_program_api.telemetry import metrics
from mini_program_api.wechat.pay_config import PayConfig

log = logging.getLogger(__name__)

TIMEOUT = (3, 8)


class _Core(Core):
    def __init__(self, gateway: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._gate_way = gateway

    def _init_certificates(self) -> None:
        # Fetched from our gateway on first use (see module docstring), not from the default one now.
        pass


class _Client(WeChatPay):
    def __init__(self, config: PayConfig, gateway: str) -> None:
        # WeChatPay.__init__ would build a Core on the fixed gateway; these are the attributes it sets.
        self._type = WeChatPayType.MINIPROG
        self._mchid = config.mchid
        self._appid = config.appid
        self._notify_url = None
        self._partner_mode = False
        self._core = _Core(
            gateway,
            mchid=config.mchid,
            cert_serial_no=config.cert_serial_no,
            private_key=config.private_key,
            apiv3_key=config.apiv3_key,
            timeout=TIMEOUT,
            public_key=config.public_key,
            public_key_id=config.public_key_id,
        )


class WeChatPayApi:
    def __init__(self, config: PayConfig) -> None:
        self.config = config
        self._client = _Client(config, settings().wechatpay_api_base)

    def jsapi_prepay(
        self, out_trade_no: str, description: str, amount: int, openid: str, time_expire: str, notify_url: str
    ) -> str:
        status, body = self._call(
            self._client.pay,
            description=description,
            out_trade_no=out_trade_no,
            amount={"total": amount, "currency": "CNY"},
            payer={"openid": openid},
            time_expire=time_expire,
            notify_url=notify_url,
        )
        if status != 200:
            raise self._failure("prepay", status, body)
        return str(json.loads(body)["prepay_id"])

    def pay_params(self, prepay_id: str) -> dict[str, str]:
        """What wx.requestPayment takes: the four signed fields plus the RSA signature."""
        timestamp, nonce, package = str(int(time.time())), secrets.token_hex(16), f"prepay_id={prepay_id}"
        signature = self._client.sign([self.config.appid, timestamp, nonce, package], SignType.RSA_SHA256)
        return {"timeStamp": timestamp, "nonceStr": nonce, "package": package, "signType": "RSA", "paySign": signature}

    def query(self, out_trade_no: str) -> dict[str, Any] | None:
        """The order as WeChat knows it, or None when WeChat never saw it."""
        return self._read("query", self._client.query, out_trade_no=out_trade_no)

    def close(self, out_trade_no: str) -> bool:
        """Close an unpaid order; False when WeChat says it was paid after all (query and credit it)."""
        status, body = self._call(self._client.close, out_trade_no=out_trade_no)
        if status in (200, 204, 404):
            return True
        if status == 400 and _code(body) == "ORDERPAID":
            return False
        raise self._failure("close", status, body)

    def refund(self, out_trade_no: str, out_refund_no: str, refund: int, total: int, notify_url: str) -> dict[str, Any]:
        """Request a refund. REFUND_REFUSED when WeChat Pay refuses it for good (400: the request can never
        succeed, e.g. past the one-year refund window; 404: no such order); WECHAT_UNAVAILABLE otherwise
        (system errors, rate limits, an empty merchant account: worth trying again later)."""
        status, body = self._call(
            self._client.refund,
            out_refund_no=out_refund_no,
            amount={"refund": refund, "total": total, "currency": "CNY"},
            out_trade_no=out_trade_no,
            notify_url=notify_url,
        )
        if status in (400, 404):
            self._failure("refund", status, body)
            raise KabaoError("REFUND_REFUSED", "WeChat Pay refused the refund", wechat_code=_code(body) or str(status))
        if status != 200:
            raise self._failure("refund", status, body)
        return json.loads(body)

    def query_refund(self, out_refund_no: str) -> dict[str, Any] | None:
        return self._read("refund query", self._client.query_refund, out_refund_no=out_refund_no)

    def _read(self, what: str, fn: Any, **kwargs: Any) -> dict[str, Any] | None:
        status, body = self._call(fn, **kwargs)
        if status == 404:
            return None
        if status != 200:
            raise self._failure(what, status, body)
        return json.loads(body)

    def _call(self, fn: Any, **kwargs: Any) -> tuple[int, Any]:
        try:
            return fn(**kwargs)
        except requests.RequestException:
            log.error("wechat pay unreachable", extra={"mchid": self.config.mchid})
            metrics.count(metrics.WECHAT_FAILED, api="pay", reason="unreachable")
            raise KabaoError("WECHAT_UNAVAILABLE", "WeChat Pay is unreachable, retry shortly") from None
        except Exception as exc:  # noqa: BLE001 - wechatpayv3 signals a bad response signature this way
            log.error("wechat pay response rejected", extra={"mchid": self.config.mchid, "reason": str(exc)})
            metrics.count(metrics.WECHAT_FAILED, api="pay", reason="unverifiable")
            raise KabaoError("WECHAT_UNAVAILABLE", "WeChat Pay answered with an unverifiable response") from None

    def _failure(self, what: str, status: int, body: Any) -> KabaoError:
        log.error(
            "wechat pay refused",
            extra={"mchid": self.config.mchid, "call": what, "status": status, "code": _code(body)},
        )
        metrics.count(metrics.WECHAT_FAILED, api="pay", reason=_code(body) or str(status), call=what)
        return KabaoError("WECHAT_UNAVAILABLE", f"WeChat Pay refused the {what} ({_code(body) or status})")


def _code(body: Any) -> str | None:
    try:
        return str(json.loads(body).get("code"))
    except (TypeError, ValueError, AttributeError):
        return None


@cache
def for_config(config: PayConfig) -> WeChatPayApi:
    """One client per merchant configuration per container: it caches platform certificates."""
    return WeChatPayApi(config)
