"""WeChat Pay APIv3 notifies verified and decrypted with cryptography's primitives: the one place for the rule.

A notify is WeChat waiting on a cold container (it gives up after 5 s and sends again), and all it needs is
an RSA-SHA256 signature checked and an AES-256-GCM resource opened. wechatpayv3's client did both, but
building it imports wechatpayv3 and requests, which a notify used for nothing else (bench/cold_start.py: a
fifth of its first answer). Calls that go out to WeChat Pay (prepay, query, close, refunds) keep the client
(wechat/pay.py).

The rule (WeChat Pay's "验证签名" and "回调报文解密"):

- `Wechatpay-Signature-Type` is WECHATPAY2-SHA256-RSA2048, and `Wechatpay-Signature` is the base64 RSA
  PKCS#1 v1.5 SHA-256 signature of `{Wechatpay-Timestamp}\\n{Wechatpay-Nonce}\\n{body}\\n`;
- the timestamp is within `NOTIFY_MAX_AGE_SECONDS` of now (a replay of an old notify is refused);
- the key is the WeChat Pay public key when `Wechatpay-Serial` is its id (`PUB_KEY_ID_...`), otherwise the
  platform certificate with that serial: WeChat moves merchants from certificates to the public key one by
  one. Certificates are fetched from `GET /v3/certificates` (signed with the merchant's API key) on the first
  serial not yet known, each opened with the APIv3 key (its GCM tag is what vouches for it) and used within
  its validity; an unknown serial fetches them again at most once a minute, so forged serials cannot make
  every notify a call to WeChat;
- the body's `resource_type` is `encrypt-resource` and its resource AEAD_AES_256_GCM under the merchant's
  APIv3 key (nonce and associated data as given).

Anything else is INVALID_NOTIFY (401), and nothing is applied.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import urllib3

from mini_program_api.platform import clock
from mini_program_api.platform.config import settings
from mini_program_api.platform.errors import KabaoError
from mini_program_api.wechat.pay_config import PayConfig

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

log = logging.getLogger(__name__)

NOTIFY_MAX_AGE_SECONDS = 300
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
REFRESH_AT_MOST_EVERY_SECONDS = 60.0
TIMEOUT_SECONDS = 5.0

# Per merchant set-up, per container: platform certificates' keys by serial (as an int: WeChat prints serials in
# hex, either case), with their validity, and when they were last fetched.
_certificates: dict[PayConfig, dict[int, tuple[RSAPublicKey, datetime, datetime]]] = {}
_fetched_at: dict[PayConfig, float] = {}
_lock = threading.Lock()


def parse(
    config: PayConfig,
    headers: dict[str, str],
    body: str,
    now: float,
    signing: Callable[[], PayConfig] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Verify and decrypt a notify: (event_type, resource). Anything doubtful is INVALID_NOTIFY. `signing`: the
    set-up with the API private key, asked for only when certificates are fetched (`config` may lack the key)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get("wechatpay-timestamp", "")
    seconds = clock.unix_seconds(timestamp)
    if seconds is None:
        raise KabaoError("INVALID_NOTIFY", "missing or malformed Wechatpay-Timestamp")
    if abs(now - seconds) > NOTIFY_MAX_AGE_SECONDS:
        raise KabaoError("INVALID_NOTIFY", "notify timestamp is more than 5 minutes off")
    if lowered.get("wechatpay-signature-type", "") != SIGNATURE_TYPE:
        raise KabaoError("INVALID_NOTIFY", "notify signature or encryption did not verify")
    key = _verifying_key(config, lowered.get("wechatpay-serial", ""), now, signing)
    message = f"{timestamp}\n{lowered.get('wechatpay-nonce', '')}\n{body}\n"
    if key is None or not _verified(key, message, lowered.get("wechatpay-signature", "")):
        raise KabaoError("INVALID_NOTIFY", "notify signature or encryption did not verify")
    try:
        envelope = json.loads(body)
        resource = envelope["resource"] if envelope.get("resource_type") == "encrypt-resource" else None
        plain = _decrypt(config.apiv3_key, resource) if isinstance(resource, dict) else None
        opened = json.loads(plain) if plain is not None else None
    except (ValueError, TypeError, KeyError, AttributeError):
        opened = None
    if not isinstance(opened, dict):
        raise KabaoError("INVALID_NOTIFY", "notify signature or encryption did not verify")
    return str(envelope.get("event_type", "")), opened


def _verified(key: RSAPublicKey, message: str, signature: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        key.verify(base64.b64decode(signature, validate=True), message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def _decrypt(apiv3_key: str, resource: dict[str, Any]) -> bytes | None:
    """An AEAD_AES_256_GCM resource opened with the APIv3 key; None when it is not one or does not open."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.bindings._rust import openssl  # its AESGCM is `ciphers.aead`'s (see below)

    nonce, ciphertext = resource.get("nonce"), resource.get("ciphertext")
    associated = resource.get("associated_data") or ""
    if resource.get("algorithm") != "AEAD_AES_256_GCM" or not isinstance(nonce, str) or not isinstance(ciphertext, str):
        return None
    if not isinstance(associated, str):
        return None
    try:
        return openssl.aead.AESGCM(apiv3_key.encode()).decrypt(
            nonce.encode(), base64.b64decode(ciphertext, validate=True), associated.encode()
        )
    except (InvalidTag, binascii.Error, ValueError):
        return None


def _verifying_key(
    config: PayConfig, serial: str, now: float, signing: Callable[[], PayConfig] | None = None
) -> RSAPublicKey | None:
    """The key a notify signed with `serial` is checked with: the WeChat Pay public key, or a platform
    certificate's (fetched on the first unknown serial, see the module docstring)."""
    if config.public_key_id and serial == config.public_key_id:
        return _public_key(config.public_key) if config.public_key else None
    try:
        number = int(serial, 16)
    except ValueError:
        return None
    with _lock:
        known = _certificates.get(config)
        if known is None or (
            number not in known
            and time.monotonic() - _fetched_at.get(config, float("-inf")) >= REFRESH_AT_MOST_EVERY_SECONDS
        ):
            known = _certificates[config] = _fetch_certificates(signing() if signing else config)
            _fetched_at[config] = time.monotonic()
    found = known.get(number)
    if found is None:
        return None
    key, not_before, not_after = found
    at = datetime.fromtimestamp(now, UTC)
    return key if not_before <= at <= not_after else None


# cryptography's PEM loaders and AESGCM are taken from its bindings, where `serialization`, `x509` and `ciphers.aead`
# take them from: those packages also import SSH keys, every certificate extension and every cipher and mode (about
# 8, 20 and 1.5 ms of a cold notify). tests/unit/test_pay_notify.py holds them to be the very objects the public
# names are.


@cache
def _public_key(pem: str) -> RSAPublicKey | None:
    from cryptography.hazmat.bindings._rust import openssl
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    try:
        key = openssl.keys.load_pem_public_key(pem.encode())
    except ValueError:
        return None
    return key if isinstance(key, RSAPublicKey) else None


def _fetch_certificates(config: PayConfig) -> dict[int, tuple[RSAPublicKey, datetime, datetime]]:
    """WeChat Pay's platform certificates for this merchant, by serial; empty when WeChat Pay did not answer
    with any (the notify is then refused, and WeChat sends it again later)."""
    from cryptography.hazmat.bindings._rust import x509
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    path = "/v3/certificates"
    try:
        response = _http().request(
            "GET",
            settings().wechatpay_api_base + path,
            headers={"Accept": "application/json", "Authorization": authorization(config, "GET", path, "")},
            timeout=TIMEOUT_SECONDS,
            retries=False,
        )
        listed = json.loads(response.data)["data"] if response.status == 200 else []
    except (urllib3.exceptions.HTTPError, ValueError, TypeError, KeyError):
        listed = []
    if not listed:
        log.error("wechat pay platform certificates unavailable", extra={"mchid": config.mchid})
    found: dict[int, tuple[RSAPublicKey, datetime, datetime]] = {}
    for entry in listed if isinstance(listed, list) else []:
        sealed = entry.get("encrypt_certificate") if isinstance(entry, dict) else None
        pem = _decrypt(config.apiv3_key, sealed) if isinstance(sealed, dict) else None
        if pem is None:
            continue
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            continue
        key = certificate.public_key()
        if isinstance(key, RSAPublicKey):
            found[certificate.serial_number] = (key, certificate.not_valid_before_utc, certificate.not_valid_after_utc)
    return found


def authorization(config: PayConfig, method: str, path: str, body: str) -> str:
    """The `Authorization` header of an APIv3 request, signed with the merchant's API private key."""
    from cryptography.hazmat.bindings._rust import openssl
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    key = openssl.keys.load_pem_private_key(config.private_key.encode(), password=None)
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("the merchant's API key is not an RSA key")
    timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
    message = f"{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n"
    signature = key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    return (
        f'{SIGNATURE_TYPE} mchid="{config.mchid}",nonce_str="{nonce}",'
        f'signature="{base64.b64encode(signature).decode()}",timestamp="{timestamp}",serial_no="{config.cert_serial_no}"'
    )


@cache
def _http() -> urllib3.PoolManager:
    """One pool per container for the certificate fetch (urllib3: botocore's HTTP library, already loaded)."""
    import certifi

    return urllib3.PoolManager(maxsize=4, ca_certs=certifi.where())
