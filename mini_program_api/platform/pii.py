"""Phone numbers at rest: encrypted for display, keyed-hashed for uniqueness and lookup.

Both keys are derived from one master secret (`KABAO_PII_KEY`) with HKDF, so
rotating it is one parameter. The hash is an HMAC, not a bare SHA-256, because
the space of Chinese mobile numbers is small enough to enumerate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import cache
from typing import TYPE_CHECKING

from mini_program_api.platform.config import settings
from mini_program_api.platform.secrets import resolve

if TYPE_CHECKING:
    from cryptography.fernet import Fernet


def _derive(master: bytes, purpose: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


@cache
def _keys() -> tuple[Fernet, bytes]:
    # cryptography is imported on the first phone seen, not at import: most handlers never touch one.
    from cryptography.fernet import Fernet

    master = resolve(settings().pii_key_ref).encode()
    fernet = Fernet(base64.urlsafe_b64encode(_derive(master, b"kabao/phone/encrypt")))
    return fernet, _derive(master, b"kabao/phone/lookup")


def encrypt_phone(phone: str) -> str:
    return _keys()[0].encrypt(phone.encode()).decode()


def decrypt_phone(token: str) -> str:
    return _keys()[0].decrypt(token.encode()).decode()


def phone_hash(merchant_id: str, phone: str) -> str:
    return hmac.new(_keys()[1], f"{merchant_id}:{phone}".encode(), hashlib.sha256).hexdigest()


def mask_phone(phone: str) -> str:
    """What a view shows of a number (138****0000). Every writer of `phone_enc` stores this beside it
    (`Member.phone_masked`, in the same write), so reads need neither the key nor cryptography."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def shown_phone(phone_enc: str | None, phone_masked: str | None) -> str | None:
    """The masked number a view shows, from a member row's two attributes: the stored copy, or for a row bound
    before the copy existed the cipher decrypted and masked (which costs the key's derivation, an SSM read in
    AWS, and cryptography's import on a cold container). Nothing is shown without the cipher: the copy follows
    it (both are set and removed in one write)."""
    if not phone_enc:
        return None
    return phone_masked or mask_phone(decrypt_phone(phone_enc))


@cache
def sealer(purpose: str) -> Fernet:
    """Encryption at rest for another kind of secret kabao itself generates (a webhook's signing secret,
    shown to the admin once), under its own key derived from the same master: one parameter to keep."""
    from cryptography.fernet import Fernet

    master = resolve(settings().pii_key_ref).encode()
    return Fernet(base64.urlsafe_b64encode(_derive(master, f"kabao/{purpose}".encode())))
