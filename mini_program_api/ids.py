"""Identifiers: opaque ids for rows, and the numbers members and staff see."""
from __future__ import annotations

import secrets
import uuid


def new_id() -> str:
    return uuid.uuid4().hex


def card_number() -> str:
    """12 digits, no leading zero: printed on the card, typed by staff, so digits only."""
    return str(10**11 + secrets.randbelow(9 * 10**11))


def member_code() -> str:
    """18 random digits (about 60 bits): scanned as a barcode, unguessable within its minute of life."""
    return f"{secrets.randbelow(10**18):018d}"
