"""Locally generated WeChat Pay keys for the sandbox and the tests. LOCAL DEV ONLY: never used in AWS.

A merchant's APIv3 set-up has three secrets: its API private key (with a
certificate serial number), its APIv3 key (AES-256-GCM for notify resources)
and, on WeChat's side, the platform certificate or the newer "WeChat Pay public
key" that signs every response and notify. All are generated fresh in memory:
the local stack keeps no state between runs, so nothing is written to disk.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_pem: str
    cert_pem: str
    serial: str  # upper-case hex, as WeChat prints certificate serials


def _key_pair(common_name: str) -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return KeyPair(
        private_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        public_pem=key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        serial=format(cert.serial_number, "X"),
    )


@dataclass(frozen=True)
class MerchantPayKeys:
    """What a merchant holds: its API key pair and its APIv3 key."""

    mchid: str
    api: KeyPair
    apiv3_key: str


def merchant_keys(mchid: str) -> MerchantPayKeys:
    return MerchantPayKeys(mchid, _key_pair(f"kabao dev merchant {mchid}"), secrets.token_hex(16))


@dataclass(frozen=True)
class PlatformKeys:
    """What WeChat Pay holds: the platform certificate key and the WeChat Pay public key (with its id)."""

    platform: KeyPair
    public_key: KeyPair
    public_key_id: str


def platform_keys() -> PlatformKeys:
    return PlatformKeys(
        _key_pair("kabao dev WeChat Pay platform"),
        _key_pair("kabao dev WeChat Pay public key"),
        f"PUB_KEY_ID_{secrets.token_hex(12).upper()}",
    )
