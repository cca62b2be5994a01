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


_INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed


def invite_code() -> str:
    """8 characters (40 bits): shared in links and posters, so short and unambiguous."""
    return "".join(secrets.choice(_INVITE_ALPHABET) for _ in range(8))
