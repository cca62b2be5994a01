"""A merchant's WeChat Pay APIv3 set-up, resolved from its secret references (topup.orders.pay_config).

Apart from wechat/pay.py so that a notify, which only verifies and decrypts (wechat/pay_notify.py), never
imports wechatpayv3 and requests to name it: a cold notify is WeChat waiting on us (bench/cold_start.py).
"""

from __future__ import annotations

from typing import NamedTuple


class PayConfig(NamedTuple):
    mchid: str
    appid: str
    cert_serial_no: str
    private_key: str
    apiv3_key: str
    public_key: str | None = None
    public_key_id: str | None = None

    def __repr__(self) -> str:
        """Without the private key and the APIv3 key: a repr can reach a log line or a traceback."""
        return f"PayConfig(mchid={self.mchid!r}, appid={self.appid!r}, cert_serial_no={self.cert_serial_no!r}, ...)"
