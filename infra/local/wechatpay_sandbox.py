"""WeChat Pay APIv3 sandbox (api.mch.weixin.qq.com), served by the WeChat sandbox under /v3 and /_sandbox/pay.

It behaves as APIv3 does where the backend can tell: requests must carry a valid
merchant signature (401 SIGN_ERROR otherwise); every 2xx answer is signed with
the platform certificate key or the WeChat Pay public key (per merchant, as
WeChat migrates merchants one by one); notify resources are AES-256-GCM
encrypted with the merchant's APIv3 key; an out_trade_no prepays once.

Sandbox controls:

- ``POST /_sandbox/pay/merchants`` registers a merchant: ``{mchid, appid, apiv3_key,
  api_public_key, api_serial, sign_with: "platform"|"public_key"}``;
  ``GET /_sandbox/pay/keys`` gives the public key (and id) merchants configure.
- ``POST /_sandbox/pay/{out_trade_no}`` pays an order and delivers its notify:
  ``{"times": 1, "concurrent": false, "bad_signature": false, "stale": false,
  "notify": true, "tamper": {}}`` (tamper overrides fields of the signed resource);
  answers the delivery statuses, 0 for a delivery that got no answer in time (WeChat
  counts it failed and sends again later; kabao may still have applied it).
- ``GET /_sandbox/pay/orders/{out_trade_no}`` shows what WeChat Pay holds for an order:
  its trade state, transaction id and refunds (what a soak test checks kabao against).
- ``POST /_sandbox/refunds/{out_refund_no}`` settles a refund (``{"status":
  "SUCCESS"|"ABNORMAL"|"CLOSED", "times": 1, "concurrent": false}``) and notifies.
- ``POST /_sandbox/pay/refund-failures/{out_trade_no}`` makes refund requests for an
  order fail: ``{"status": 400, "code": "INVALID_REQUEST", "times": null}`` (null:
  for good, as WeChat refuses a refund past its one-year window; a number: that many
  times, e.g. 500 SYSTEM_ERROR). Every refund request is counted in ``refund_calls``.
- ``"after": seconds`` (pay and settle a refund): each of the ``times`` notifies goes out on its own
  at a random moment within that many seconds, so copies arrive apart and out of order with what the
  backend does meanwhile; ``GET /_sandbox/pay/deliveries`` says how many are still to be answered.
- Faults (``POST /_sandbox/faults`` on the WeChat sandbox, shared with this one): a rate of APIv3
  calls refused, answered late, or applied with the answer lost (``faults.SandboxFaults``).
"""

from __future__ import annotations

import base64
import json
import random
import re
import secrets
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from werkzeug.wrappers import Request, Response

from .devkeys import PlatformKeys, platform_keys
from .faults import SandboxFaults

_AUTH = re.compile(r'(\w+)="([^"]*)"')
_CST = timezone(timedelta(hours=8))
# WeChat waits 5 s for a notify's answer; the sandbox waits longer, as the local stack shares two
# cores with the tests, and then counts the delivery failed rather than failing the caller.
NOTIFY_TIMEOUT = 10


def _sign(private_pem: str, message: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def _now_iso() -> str:
    return datetime.now(_CST).isoformat(timespec="seconds")


class PaySandbox:
    def __init__(self, keys: PlatformKeys | None = None, faults: SandboxFaults | None = None) -> None:
        self.keys = keys or platform_keys()
        self.merchants: dict[str, dict[str, Any]] = {}
        self.orders: dict[tuple[str, str], dict[str, Any]] = {}
        self.refunds: dict[tuple[str, str], dict[str, Any]] = {}
        self.closed_calls: list[str] = []
        self.refund_calls: list[str] = []  # out_trade_no of every refund request, in order
        self.refund_failures: dict[str, dict[str, Any]] = {}  # out_trade_no -> {"status", "code", "times"}
        self.faults = faults or SandboxFaults()
        self.pending_deliveries = 0  # notifies sent later (``after``), not yet answered
        self._lock = threading.RLock()

    # --- dispatch --------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path.startswith("/_sandbox/"):
            return self._control(request, path, method)
        raw = request.get_data(as_text=True)
        mchid = self._authenticate(request, raw)
        if mchid is None:
            return _error(401, "SIGN_ERROR", "签名错误")
        body = json.loads(raw) if raw else {}
        fault = self.faults.choose(_api_name(method, path))
        if fault == "fail":
            return _error(500, "SYSTEM_ERROR", "系统错误")
        if fault == "late":
            time.sleep(self.faults.late_seconds)
        answer = self._api(mchid, path, method, body)
        return Response(b"", status=504) if fault == "lost" else answer

    def _api(self, mchid: str, path: str, method: str, body: dict[str, Any]) -> Response:
        with self._lock:
            if path == "/v3/certificates" and method == "GET":
                return self._signed(mchid, 200, self._certificates(mchid))
            if path == "/v3/pay/transactions/jsapi" and method == "POST":
                return self._jsapi(mchid, body)
            match = re.fullmatch(r"/v3/pay/transactions/out-trade-no/([^/]+)(/close)?", path)
            if match and method == "GET" and not match.group(2):
                order = self.orders.get((mchid, match.group(1)))
                return (
                    self._signed(mchid, 200, self._transaction(order))
                    if order
                    else _error(404, "ORDER_NOT_EXIST", "订单不存在")
                )
            if match and method == "POST" and match.group(2):
                return self._close(mchid, match.group(1))
            if path == "/v3/refund/domestic/refunds" and method == "POST":
                return self._refund(mchid, body)
            match = re.fullmatch(r"/v3/refund/domestic/refunds/([^/]+)", path)
            if match and method == "GET":
                refund = self.refunds.get((mchid, match.group(1)))
                return (
                    self._signed(mchid, 200, self._refund_view(refund))
                    if refund
                    else _error(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
                )
        return _error(404, "NOT_FOUND", "no such API in the sandbox")

    # --- APIv3 -----------------------------------------------------------------------

    def _jsapi(self, mchid: str, body: dict[str, Any]) -> Response:
        merchant = self.merchants[mchid]
        out_trade_no = str(body.get("out_trade_no", ""))
        total = body.get("amount", {}).get("total")
        if body.get("appid") != merchant["appid"] or body.get("mchid") != mchid:
            return _error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
        if (
            not (6 <= len(out_trade_no) <= 32)
            or not isinstance(total, int)
            or total <= 0
            or not body.get("payer", {}).get("openid")
        ):
            return _error(400, "PARAM_ERROR", "参数错误")
        existing = self.orders.get((mchid, out_trade_no))
        if existing:
            if existing["request"] != body:
                return _error(400, "INVALID_REQUEST", "201 商户订单号重复")
            if existing["trade_state"] != "NOTPAY":
                return _error(
                    400, "ORDERPAID" if existing["trade_state"] == "SUCCESS" else "ORDERCLOSED", "订单状态不允许"
                )
            return self._signed(mchid, 200, {"prepay_id": existing["prepay_id"]})
        order = {
            "request": body,
            "mchid": mchid,
            "appid": body["appid"],
            "out_trade_no": out_trade_no,
            "total": total,
            "openid": body["payer"]["openid"],
            "notify_url": body.get("notify_url"),
            "trade_state": "NOTPAY",
            "prepay_id": f"wx{uuid.uuid4().hex}",
            "transaction_id": None,
            "success_time": None,
        }
        self.orders[(mchid, out_trade_no)] = order
        return self._signed(mchid, 200, {"prepay_id": order["prepay_id"]})

    def _close(self, mchid: str, out_trade_no: str) -> Response:
        order = self.orders.get((mchid, out_trade_no))
        self.closed_calls.append(out_trade_no)
        if order is None:
            return _error(404, "ORDER_NOT_EXIST", "订单不存在")
        if order["trade_state"] == "SUCCESS":
            return _error(400, "ORDERPAID", "订单已支付")
        order["trade_state"] = "CLOSED"
        return self._signed(mchid, 204, None)

    def _refund(self, mchid: str, body: dict[str, Any]) -> Response:
        out_refund_no = str(body.get("out_refund_no", ""))
        self.refund_calls.append(str(body.get("out_trade_no")))
        failure = self.refund_failures.get(str(body.get("out_trade_no")))
        if failure is not None and failure.get("times") != 0:
            if failure.get("times") is not None:
                failure["times"] -= 1
            return _error(int(failure["status"]), str(failure["code"]), "sandbox: refund refused")
        order = next(
            (
                o
                for o in self.orders.values()
                if o["mchid"] == mchid
                and (
                    o["out_trade_no"] == body.get("out_trade_no")
                    or (o["transaction_id"] and o["transaction_id"] == body.get("transaction_id"))
                )
            ),
            None,
        )
        if order is None or order["trade_state"] not in {"SUCCESS", "REFUND"}:
            return _error(400, "INVALID_REQUEST", "订单未支付")
        amount = body.get("amount", {})
        refund_amount = amount.get("refund")
        existing = self.refunds.get((mchid, out_refund_no))
        if existing:
            return self._signed(mchid, 200, self._refund_view(existing))
        already = sum(
            r["amount"]
            for r in self.refunds.values()
            if r["out_trade_no"] == order["out_trade_no"] and r["status"] != "CLOSED"
        )
        if (
            amount.get("total") != order["total"]
            or not isinstance(refund_amount, int)
            or not 0 < refund_amount <= order["total"] - already
        ):
            return _error(400, "PARAM_ERROR", "退款金额错误")
        refund = {
            "mchid": mchid,
            "out_refund_no": out_refund_no,
            "refund_id": f"5030{secrets.randbelow(10**24):024d}",
            "out_trade_no": order["out_trade_no"],
            "transaction_id": order["transaction_id"],
            "amount": refund_amount,
            "total": order["total"],
            "status": "PROCESSING",
            "notify_url": body.get("notify_url"),
            "success_time": None,
        }
        self.refunds[(mchid, out_refund_no)] = refund
        order["trade_state"] = "REFUND"
        return self._signed(mchid, 200, self._refund_view(refund))

    def _certificates(self, mchid: str) -> dict[str, Any]:
        plain = self.keys.platform.cert_pem
        resource = self._encrypt(mchid, plain, "certificate")
        return {
            "data": [
                {
                    "serial_no": self.keys.platform.serial,
                    "effective_time": _now_iso(),
                    "expire_time": (datetime.now(_CST) + timedelta(days=3650)).isoformat(timespec="seconds"),
                    "encrypt_certificate": resource,
                }
            ]
        }

    # --- sandbox controls --------------------------------------------------------------

    def _control(self, request: Request, path: str, method: str) -> Response:
        body = json.loads(request.get_data() or b"{}")
        if path == "/_sandbox/pay/keys":
            return _json(
                200,
                {
                    "public_key_id": self.keys.public_key_id,
                    "public_key": self.keys.public_key.public_pem,
                    "platform_serial": self.keys.platform.serial,
                },
            )
        if path == "/_sandbox/pay/merchants" and method == "POST":
            with self._lock:
                self.merchants[str(body["mchid"])] = body
            return _json(200, {"ok": True})
        if path == "/_sandbox/pay/deliveries" and method == "GET":
            return _json(200, {"pending": self.pending_deliveries})
        match = re.fullmatch(r"/_sandbox/pay/orders/([^/]+)", path)
        if match and method == "GET":
            return self._order_record(match.group(1))
        match = re.fullmatch(r"/_sandbox/pay/refund-failures/([^/]+)", path)
        if match and method == "POST":
            with self._lock:
                self.refund_failures[match.group(1)] = {"status": 400, "code": "INVALID_REQUEST", "times": None, **body}
            return _json(200, {"ok": True})
        match = re.fullmatch(r"/_sandbox/pay/([^/]+)", path)
        if match and method == "POST":
            return self.pay(match.group(1), **body)
        match = re.fullmatch(r"/_sandbox/refunds/([^/]+)", path)
        if match and method == "POST":
            return self.settle_refund(match.group(1), **body)
        return _error(404, "NOT_FOUND", "no such sandbox control")

    def pay(
        self,
        out_trade_no: str,
        times: int = 1,
        concurrent: bool = False,
        bad_signature: bool = False,
        stale: bool = False,
        notify: bool = True,
        tamper: dict[str, Any] | None = None,
        after: float = 0.0,
    ) -> Response:
        with self._lock:
            order = next((o for (_, no), o in self.orders.items() if no == out_trade_no), None)
            if order is None:
                return _error(404, "ORDER_NOT_EXIST", "订单不存在")
            if order["trade_state"] == "NOTPAY":
                order.update(
                    trade_state="SUCCESS",
                    transaction_id=f"4200{secrets.randbelow(10**24):024d}",
                    success_time=_now_iso(),
                )
            elif order["trade_state"] not in {"SUCCESS", "REFUND"}:
                return _error(400, "ORDERCLOSED", "订单已关闭")
            resource = {**self._transaction(order), **(tamper or {})}  # tamper: forge fields (tests)
            mchid, url = order["mchid"], order["notify_url"]
        statuses = self._deliver(
            mchid,
            url,
            "TRANSACTION.SUCCESS",
            "支付成功",
            "transaction",
            resource,
            times if notify else 0,
            concurrent,
            bad_signature,
            stale,
            after,
        )
        return _json(200, {"transaction_id": order["transaction_id"], "deliveries": statuses})

    def _order_record(self, out_trade_no: str) -> Response:
        with self._lock:
            order = next((o for (_, no), o in self.orders.items() if no == out_trade_no), None)
            if order is None:
                return _error(404, "ORDER_NOT_EXIST", "订单不存在")
            refunds = [self._refund_view(r) for r in self.refunds.values() if r["out_trade_no"] == out_trade_no]
            return _json(
                200,
                {
                    "trade_state": order["trade_state"],
                    "transaction_id": order["transaction_id"],
                    "total": order["total"],
                    "refunds": refunds,
                },
            )

    def settle_refund(
        self,
        out_refund_no: str,
        status: str = "SUCCESS",
        times: int = 1,
        concurrent: bool = False,
        bad_signature: bool = False,
        stale: bool = False,
        after: float = 0.0,
    ) -> Response:
        with self._lock:
            refund = next((r for (_, no), r in self.refunds.items() if no == out_refund_no), None)
            if refund is None:
                return _error(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
            refund.update(status=status, success_time=_now_iso() if status == "SUCCESS" else None)
            resource = {
                "mchid": refund["mchid"],
                "out_trade_no": refund["out_trade_no"],
                "transaction_id": refund["transaction_id"],
                "out_refund_no": out_refund_no,
                "refund_id": refund["refund_id"],
                "refund_status": status,
                "success_time": refund["success_time"],
                "user_received_account": "支付用户零钱",
                "amount": {
                    "total": refund["total"],
                    "refund": refund["amount"],
                    "payer_total": refund["total"],
                    "payer_refund": refund["amount"],
                },
            }
        statuses = self._deliver(
            refund["mchid"],
            refund["notify_url"],
            f"REFUND.{status}",
            "退款",
            "refund",
            resource,
            times,
            concurrent,
            bad_signature,
            stale,
            after,
        )
        return _json(200, {"deliveries": statuses})

    # --- signing, encryption, delivery ----------------------------------------------------

    def _authenticate(self, request: Request, raw: str) -> str | None:
        header = request.headers.get("Authorization", "")
        scheme, _, params = header.partition(" ")
        fields = dict(_AUTH.findall(params))
        merchant = self.merchants.get(fields.get("mchid", ""))
        if (
            scheme != "WECHATPAY2-SHA256-RSA2048"
            or merchant is None
            or fields.get("serial_no") != merchant["api_serial"]
        ):
            return None
        target = request.full_path.rstrip("?") if request.query_string else request.path
        message = f"{request.method}\n{target}\n{fields.get('timestamp')}\n{fields.get('nonce_str')}\n{raw}\n"
        key = serialization.load_pem_public_key(merchant["api_public_key"].encode())
        assert isinstance(key, rsa.RSAPublicKey)
        try:
            key.verify(
                base64.b64decode(fields.get("signature", "")), message.encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (InvalidSignature, ValueError):
            return None
        return fields["mchid"]

    def _signing_key(self, mchid: str) -> tuple[str, str]:
        if self.merchants[mchid].get("sign_with") == "public_key":
            return self.keys.public_key.private_pem, self.keys.public_key_id
        return self.keys.platform.private_pem, self.keys.platform.serial

    def _headers(self, mchid: str, body: str, bad_signature: bool = False, stale: bool = False) -> dict[str, str]:
        private_pem, serial = self._signing_key(mchid)
        timestamp = str(int(time.time()) - (600 if stale else 0))
        nonce = secrets.token_hex(16)
        message = f"{timestamp}\n{nonce}\n{body}\n"
        signature = _sign(private_pem, message + ("tampered" if bad_signature else ""))
        return {
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": serial,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            "Request-ID": uuid.uuid4().hex,
        }

    def _signed(self, mchid: str, status: int, payload: dict[str, Any] | None) -> Response:
        body = json.dumps(payload, ensure_ascii=False) if payload is not None else ""
        response = Response(body, status=status, content_type="application/json")
        for name, value in self._headers(mchid, body).items():
            response.headers[name] = value
        return response

    def _encrypt(self, mchid: str, plain: str, associated_data: str) -> dict[str, str]:
        nonce = secrets.token_hex(6)
        key = self.merchants[mchid]["apiv3_key"].encode()
        ciphertext = AESGCM(key).encrypt(nonce.encode(), plain.encode(), associated_data.encode())
        return {
            "algorithm": "AEAD_AES_256_GCM",
            "nonce": nonce,
            "associated_data": associated_data,
            "ciphertext": base64.b64encode(ciphertext).decode(),
        }

    def _notify_body(self, mchid: str, event: str, summary: str, original_type: str, resource: dict[str, Any]) -> str:
        encrypted = self._encrypt(mchid, json.dumps(resource, ensure_ascii=False), original_type)
        return json.dumps(
            {
                "id": str(uuid.uuid4()),
                "create_time": _now_iso(),
                "resource_type": "encrypt-resource",
                "event_type": event,
                "summary": summary,
                "resource": {"original_type": original_type, **encrypted},
            },
            ensure_ascii=False,
        )

    def _deliver(
        self,
        mchid: str,
        url: str | None,
        event: str,
        summary: str,
        original_type: str,
        resource: dict[str, Any],
        times: int,
        concurrent: bool,
        bad_signature: bool,
        stale: bool,
        after: float = 0.0,
    ) -> list[int]:
        if not url or times <= 0:
            return []
        body = self._notify_body(mchid, event, summary, original_type, resource)
        if after > 0:
            self._deliver_later(mchid, url, body, times, bad_signature, stale, after)
            return []

        def send(_: int) -> int:
            headers = {"Content-Type": "application/json", **self._headers(mchid, body, bad_signature, stale)}
            try:
                return requests.post(url, data=body.encode(), headers=headers, timeout=NOTIFY_TIMEOUT).status_code
            except requests.Timeout:
                return 0  # unanswered: a failed delivery, as WeChat counts it

        if concurrent:
            with ThreadPoolExecutor(times) as pool:
                return list(pool.map(send, range(times)))
        return [send(i) for i in range(times)]

    def _deliver_later(
        self, mchid: str, url: str, body: str, times: int, bad_signature: bool, stale: bool, after: float
    ) -> None:
        """Each delivery at its own moment within `after` seconds, on its own thread: copies of one notify
        arrive apart, after whatever the backend did meanwhile (reconciliation, a refund), in any order."""

        def send() -> None:
            try:
                time.sleep(random.uniform(0, after))
                headers = {"Content-Type": "application/json", **self._headers(mchid, body, bad_signature, stale)}
                requests.post(url, data=body.encode(), headers=headers, timeout=NOTIFY_TIMEOUT)
            except requests.RequestException:
                pass  # unanswered: WeChat would send it again later, and reconciliation settles it meanwhile
            finally:
                with self._lock:
                    self.pending_deliveries -= 1

        with self._lock:
            self.pending_deliveries += times
        for _ in range(times):
            threading.Thread(target=send, daemon=True).start()

    def signed_notify(self, out_trade_no: str) -> tuple[str, str, dict[str, str]]:
        """Pay an order and hand back its notify (url, body, headers) instead of sending it (benchmarks)."""
        self.pay(out_trade_no, notify=False)
        with self._lock:
            order = next(o for (_, no), o in self.orders.items() if no == out_trade_no)
            body = self._notify_body(
                order["mchid"], "TRANSACTION.SUCCESS", "支付成功", "transaction", self._transaction(order)
            )
            return (
                order["notify_url"],
                body,
                {"Content-Type": "application/json", **self._headers(order["mchid"], body)},
            )

    @staticmethod
    def _transaction(order: dict[str, Any]) -> dict[str, Any]:
        view: dict[str, Any] = {
            "appid": order["appid"],
            "mchid": order["mchid"],
            "out_trade_no": order["out_trade_no"],
            "trade_type": "JSAPI",
            "trade_state": order["trade_state"],
            "trade_state_desc": order["trade_state"],
            "bank_type": "OTHERS",
            "payer": {"openid": order["openid"]},
            "amount": {
                "total": order["total"],
                "payer_total": order["total"],
                "currency": "CNY",
                "payer_currency": "CNY",
            },
        }
        if order["transaction_id"]:
            view.update(transaction_id=order["transaction_id"], success_time=order["success_time"])
        return view

    @staticmethod
    def _refund_view(refund: dict[str, Any]) -> dict[str, Any]:
        return {
            "refund_id": refund["refund_id"],
            "out_refund_no": refund["out_refund_no"],
            "transaction_id": refund["transaction_id"],
            "out_trade_no": refund["out_trade_no"],
            "channel": "ORIGINAL",
            "status": refund["status"],
            "success_time": refund["success_time"],
            "create_time": _now_iso(),
            "amount": {
                "total": refund["total"],
                "refund": refund["amount"],
                "payer_total": refund["total"],
                "payer_refund": refund["amount"],
                "currency": "CNY",
            },
        }


def _api_name(method: str, path: str) -> str:
    """An APIv3 call's name for the fault counts: its path without the order's or refund's number."""
    path = re.sub(r"/(out-trade-no|refunds)/[^/]+", r"/\1/{no}", path)
    return f"{method} {path}"


def _json(status: int, payload: dict[str, Any]) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), status=status, content_type="application/json")


def _error(status: int, code: str, message: str) -> Response:
    return _json(status, {"code": code, "message": message})
