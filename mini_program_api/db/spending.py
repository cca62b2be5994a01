"""A member's spending password and the till's sales waiting for it (till/spending_password.py,
till/pending_payments.py).

A family of the table's models (see `models.py`): a module apart, so that a request builds only the model classes
it uses. Keys are documented in `schema.py`.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute

from mini_program_api.db.models import Item
from mini_program_api.db.schema import TTL_ATTRIBUTE


class SpendingPassword(Item):
    """A member's spending password (消费密码) and their password-free limit, in their partition (sk SPENDPWD).

    Its own item, not the member row: wrong guesses are counted on it without touching the row
    that every sale is pinned to."""

    password_hash = UnicodeAttribute(null=True)  # scrypt (platform/passwords.py); None: the member set none
    free_limit = NumberAttribute(default=0)  # fen per payment without the password; 0: always ask
    failed_attempts = NumberAttribute(default=0)
    locked_until = UTCDateTimeAttribute(null=True)
    changed_at = UTCDateTimeAttribute(null=True)


class PendingPayment(Item):
    """A counter sale waiting for the member to confirm it with their password (till/checkout.py).

    In the member's partition (sk PENDING#{confirmation_id}); its id comes from the till's
    Idempotency-Key, so a retry of the sale finds it rather than making another."""

    merchant_id = UnicodeAttribute()
    confirmation_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    store_id = UnicodeAttribute()
    staff_id = UnicodeAttribute()
    op_key = UnicodeAttribute()
    order_id = UnicodeAttribute()
    fingerprint = UnicodeAttribute()
    member_code = UnicodeAttribute(null=True)  # hash, as on the operation record
    amount = NumberAttribute()
    coupon_id = UnicodeAttribute(null=True)
    points = NumberAttribute()
    stored_value = NumberAttribute()
    status = UnicodeAttribute()  # PENDING | DONE | WITHDRAWN (by the till); expiry is computed on read
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    expires_ttl = TTLAttribute(null=True, attr_name=TTL_ATTRIBUTE)
