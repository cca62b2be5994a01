"""A WeChat Pay notify's signature and encryption, checked by wechat/pay_notify.py with cryptography alone.

Given a notify signed with the WeChat Pay public key (as the sandbox and WeChat sign one), when anything in it
is not exactly what WeChat Pay signed and encrypted, then it is INVALID_NOTIFY. Platform certificates (fetched
from WeChat Pay) are held by tests/integration/test_pay_notify.py against the sandbox.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from functools import cache
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mini_program_api.platform.errors import KabaoError
from mini_program_api.wechat import pay_notify
from mini_program_api.wechat.pay_config import PayConfig

APIV3_KEY = "0123456789abcdef0123456789abcdef"
KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"


@cache
def _wechat_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _config(apiv3_key: str = APIV3_KEY) -> PayConfig:
    public = (
        _wechat_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return PayConfig("1900000001", "wx0000000000000001", "SERIAL", "unused", apiv3_key, public.decode(), KEY_ID)


def _resource(plain: dict[str, Any], key: str = APIV3_KEY, **override: Any) -> dict[str, Any]:
    nonce = secrets.token_hex(6)
    sealed = AESGCM(key.encode()).encrypt(nonce.encode(), json.dumps(plain).encode(), b"transaction")
    resource = {
        "algorithm": "AEAD_AES_256_GCM",
        "nonce": nonce,
        "associated_data": "transaction",
        "ciphertext": base64.b64encode(sealed).decode(),
        "original_type": "transaction",
    }
    return {**resource, **override}


def _notify(
    resource: dict[str, Any] | None = None, at: float | None = None, **envelope: Any
) -> tuple[dict[str, str], str]:
    body = json.dumps(
        {
            "id": "EV-2018022511223320873",
            "event_type": "TRANSACTION.SUCCESS",
            "resource_type": "encrypt-resource",
            "resource": resource
            if resource is not None
            else _resource({"out_trade_no": "T1", "trade_state": "SUCCESS"}),
            **envelope,
        }
    )
    timestamp, nonce = str(int(at if at is not None else time.time())), secrets.token_hex(16)
    signed = _wechat_key().sign(f"{timestamp}\n{nonce}\n{body}\n".encode(), padding.PKCS1v15(), hashes.SHA256())
    headers = {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": base64.b64encode(signed).decode(),
        "Wechatpay-Serial": KEY_ID,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }
    return headers, body


def _refused(headers: dict[str, str], body: str, config: PayConfig | None = None) -> None:
    with pytest.raises(KabaoError) as refused:
        pay_notify.parse(config or _config(), headers, body, time.time())
    assert (refused.value.code, refused.value.status) == ("INVALID_NOTIFY", 401)


def test_a_notify_as_wechat_signs_it_is_opened() -> None:
    headers, body = _notify()
    event, resource = pay_notify.parse(_config(), headers, body, time.time())
    assert (event, resource) == ("TRANSACTION.SUCCESS", {"out_trade_no": "T1", "trade_state": "SUCCESS"})
    lowered = {k.lower(): v for k, v in headers.items()}  # the endpoint hands headers over lower-cased
    assert pay_notify.parse(_config(), lowered, body, time.time())[0] == "TRANSACTION.SUCCESS"


def test_a_bad_signature_is_refused() -> None:
    headers, body = _notify()
    forged = _wechat_key().sign(b"something else\n", padding.PKCS1v15(), hashes.SHA256())
    _refused({**headers, "Wechatpay-Signature": base64.b64encode(forged).decode()}, body)
    _refused({**headers, "Wechatpay-Signature": "not base64!"}, body)
    _refused({**headers, "Wechatpay-Signature": ""}, body)


def test_a_body_changed_after_signing_is_refused() -> None:
    headers, body = _notify()
    _refused(headers, body.replace("TRANSACTION.SUCCESS", "REFUND.SUCCESS"))
    _refused(headers, body + " ")


def test_signed_by_another_key_is_refused() -> None:
    headers, body = _notify()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    config = _config()
    _refused(headers, body, config._replace(public_key=pem))


@pytest.mark.parametrize(
    "headers",
    [
        {"Wechatpay-Serial": "PUB_KEY_ID_SOMEONE_ELSE"},  # not the merchant's key id, and not a certificate serial
        {"Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA4096"},
        {"Wechatpay-Timestamp": ""},
        {"Wechatpay-Timestamp": "1e9"},
    ],
)
def test_a_header_other_than_signed_is_refused(headers: dict[str, str]) -> None:
    signed, body = _notify()
    _refused({**signed, **headers}, body)


def test_an_old_or_future_timestamp_is_refused_even_if_signed() -> None:
    for offset in (-pay_notify.NOTIFY_MAX_AGE_SECONDS - 5, pay_notify.NOTIFY_MAX_AGE_SECONDS + 5):
        headers, body = _notify(at=time.time() + offset)
        _refused(headers, body)


@pytest.mark.parametrize(
    "resource",
    [
        _resource({"out_trade_no": "T1"}, key="f" * 32),  # sealed under another APIv3 key
        _resource({"out_trade_no": "T1"}, algorithm="AEAD_AES_128_GCM"),
        _resource({"out_trade_no": "T1"}, associated_data="certificate"),
        _resource({"out_trade_no": "T1"}, nonce="000000000000"),
        _resource({"out_trade_no": "T1"}, ciphertext="@@@"),
        {"algorithm": "AEAD_AES_256_GCM"},
    ],
)
def test_a_resource_that_does_not_open_is_refused(resource: dict[str, Any]) -> None:
    headers, body = _notify(resource)
    _refused(headers, body)


def test_a_resource_not_encrypted_is_refused() -> None:
    headers, body = _notify(resource_type="plain-resource")
    _refused(headers, body)
    headers, body = _notify(resource=[])  # type: ignore[arg-type]
    _refused(headers, body)


def test_the_pem_loaders_and_aesgcm_are_cryptographys_own() -> None:
    """pay_notify.py takes them from cryptography's bindings (a cold notify skips the packages that re-export
    them): an upgrade that moved them fails here, not in production."""
    from cryptography import x509
    from cryptography.hazmat.bindings._rust import openssl
    from cryptography.hazmat.bindings._rust import x509 as rust_x509
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    assert serialization.load_pem_public_key is openssl.keys.load_pem_public_key
    assert serialization.load_pem_private_key is openssl.keys.load_pem_private_key
    assert x509.load_pem_x509_certificate is rust_x509.load_pem_x509_certificate
    assert AESGCM is openssl.aead.AESGCM


def test_a_pay_configs_repr_names_the_merchant_not_its_keys() -> None:
    """A repr can reach a log line or a traceback: the private key and the APIv3 key never show in it."""
    config = PayConfig("1900000001", "wx0000000000000001", "SERIAL", "PRIVATE-KEY-PEM", "APIV3-KEY-32-BYTES")
    shown = repr(config)
    assert "1900000001" in shown and "SERIAL" in shown
    assert "PRIVATE-KEY-PEM" not in shown and "APIV3-KEY-32-BYTES" not in shown and "APIV3" not in str([config])
