"""The member's spending password (消费密码): what stands between a scanned member code and their stored value.

A member code is enough to identify a member at the counter, and anyone holding it for
its 60 seconds could otherwise spend the whole balance. So a counter sale that takes
more stored value than the member lets go without a password (`free_limit`, capped by
the merchant's `password_free_max`; 0 by default: always ask) needs the password,
typed on the member's own phone (checkout.confirm) or, where the merchant allows it,
at the till. Who is asked: every member when the merchant sets
`spending_password_required`, otherwise the members who set a password.

What protects what: the session token reads the card and makes member codes, and may only
tighten this protection (lower the limit); a member code spends up to the limit per sale; the
password confirms a sale above it, changes the password and raises the limit; a fresh phone
verification sets or resets the password and raises the limit; changing the bound number needs
the password (`bind_phone`). Raising the limit, or moving the phone, with the token alone would let
whoever stole it spend the card through member codes of their own (issue 23).

Setting and resetting need a FRESH phone verification: a getPhoneNumber code (single
use) whose number is the member's bound phone; a stolen session token alone can
neither set nor replace the password. Changing needs the old password, and that
guess counts like any other. The password is a 6-digit PIN, stored as scrypt
(platform/passwords.py), never logged or returned. Five wrong guesses in a row (at the till,
on the phone or when changing) lock stored-value spending at the counter for 15
minutes, counted atomically so concurrent guesses get at most five checks; the
member is told by subscribe message when a lock happens and when the password
changes (a missing grant is recorded by members/notices.py, never an error).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import NamedTuple

from mini_program_api.db.models import Member, Merchant, member_pk
from mini_program_api.db.spending import SpendingPassword
from mini_program_api.db.transact import update_if
from mini_program_api.members import members
from mini_program_api.merchants import merchants
from mini_program_api.platform import clock
from mini_program_api.platform.errors import KabaoError
from mini_program_api.platform.passwords import Lockout, accept, check_password, hash_password

SK = "SPENDPWD"
MAX_FAILED = 5
LOCK_MINUTES = 15
_PIN = re.compile(r"[0-9]{6}")  # ASCII: `\d` takes any script's digits, and ٠١٢٣٤٥ is no run of "0123456789"
_RUNS = "01234567890", "09876543210"


def _locked() -> KabaoError:
    return KabaoError(
        "SPENDING_LOCKED", f"too many wrong spending passwords: stored value is locked for {LOCK_MINUTES} minutes"
    )


_LOCKOUT = Lockout(SpendingPassword, "failed_attempts", "locked_until", MAX_FAILED, LOCK_MINUTES, _locked)


class State(NamedTuple):
    is_set: bool
    free_limit: int  # as the member chose it
    effective_limit: int  # what applies now: never above the merchant's ceiling
    ceiling: int
    required: bool  # the merchant asks every member for one
    locked_until: datetime | None


def _item(merchant_id: str, member_id: str) -> SpendingPassword:
    """The member's item, or a blank one (not stored) when they never set anything."""
    try:
        return SpendingPassword.get(member_pk(merchant_id, member_id), SK, consistent_read=True)
    except SpendingPassword.DoesNotExist:
        return SpendingPassword(member_pk(merchant_id, member_id), SK)


def _limit(merchant: Merchant, item: SpendingPassword) -> int:
    return min(int(item.free_limit), int(merchant.password_free_max))


def state(merchant: Merchant, member_id: str) -> State:
    item = _item(merchant.merchant_id, member_id)
    return State(
        item.password_hash is not None,
        int(item.free_limit),
        _limit(merchant, item),
        int(merchant.password_free_max),
        bool(merchant.spending_password_required),
        _locked_until(item),
    )


def _locked_until(item: SpendingPassword) -> datetime | None:
    return item.locked_until if item.locked_until is not None and clock.now() < item.locked_until else None


def check_new(password: str) -> None:
    """Six digits, and not one a thief tries first (all the same digit, or a run like 123456)."""
    if not _PIN.fullmatch(password):
        raise KabaoError("VALIDATION_ERROR", "the spending password is 6 digits")
    if len(set(password)) == 1 or any(password in run for run in _RUNS):
        raise KabaoError("VALIDATION_ERROR", "this spending password is too easy to guess")


def _verify_phone(merchant: Merchant, member: Member, phone_code: str) -> None:
    """The getPhoneNumber code just obtained yields the member's bound number (403 otherwise)."""
    from mini_program_api.platform import pii  # here, as in bind_phone: a checkout only asks `authorize_counter`

    if not member.phone_hash:
        raise KabaoError("PHONE_REQUIRED", "bind a phone number first")
    phone = merchants.mini_program(merchant).phone_number(phone_code)
    if pii.phone_hash(merchant.merchant_id, phone) != member.phone_hash:
        raise KabaoError("PHONE_MISMATCH", "verify with the phone number bound to this card")


def bind_phone(merchant_id: str, member_id: str, phone_code: str, password: str | None = None) -> Member:
    """Bind the number of a fresh getPhoneNumber code (POST /v1/me/phone).

    The bound phone is what sets and resets the password, and a getPhoneNumber code proves a number,
    not whose card it is: with the token alone, a thief could bind their own number, reset the password
    with it and spend. So changing a bound number, where the password protects the card (set, or
    required by the merchant), needs the password (a guess like any other). A first number, the same
    number again, or a card the password does not protect needs only the code."""
    # Imported here: the till's checkout imports this module for `authorize_counter`, and its cold first request
    # loads neither a member's enrolment (the phone's binding) nor the PII keys' module.
    from mini_program_api.members import enrolment
    from mini_program_api.platform import pii

    merchant, member = merchants.get(merchant_id), members.get(merchant_id, member_id)
    phone = merchants.mini_program(merchant).phone_number(phone_code)
    if member.phone_hash is not None and pii.phone_hash(merchant_id, phone) != member.phone_hash:
        item = _item(merchant_id, member_id)
        if item.password_hash is not None or merchant.spending_password_required:
            if password is None:
                raise KabaoError("VERIFICATION_REQUIRED", "changing the bound phone number needs the spending password")
            verify(merchant, member, password)
    return enrolment.bind_number(merchant_id, member_id, phone)


def set_password(merchant_id: str, member_id: str, phone_code: str, password: str, reset: bool = False) -> None:
    """Set the first password, or (`reset`) replace a forgotten one: both after a fresh phone check.

    A reset also lifts a lock: the member has just proved who they are."""
    check_new(password)
    merchant, member = merchants.get(merchant_id), members.get(merchant_id, member_id)
    _verify_phone(merchant, member, phone_code)
    item, now = SpendingPassword(member_pk(merchant_id, member_id), SK), clock.now()
    actions = [SpendingPassword.password_hash.set(hash_password(password)), SpendingPassword.changed_at.set(now)]
    if reset:
        if not update_if(item, actions + _LOCKOUT.reset(), SpendingPassword.password_hash.exists()):
            raise KabaoError("SPENDING_PASSWORD_NOT_SET", "no spending password to reset: set one")
    # The first password starts from "always ask": a limit raised before it (by whoever held the token and
    # a phone of their own while nothing protected the card) must not outlive the protection it now has.
    elif not update_if(
        item, [*actions, SpendingPassword.free_limit.set(0)], SpendingPassword.password_hash.does_not_exist()
    ):
        raise KabaoError("SPENDING_PASSWORD_SET", "a spending password is already set: change or reset it")
    _notify(merchant, member, "password_changed", now)


def change_password(merchant_id: str, member_id: str, old_password: str, password: str) -> None:
    check_new(password)
    merchant, member = merchants.get(merchant_id), members.get(merchant_id, member_id)
    item = verify(merchant, member, old_password)
    now = clock.now()
    if not update_if(
        item,
        [SpendingPassword.password_hash.set(hash_password(password)), SpendingPassword.changed_at.set(now)],
        SpendingPassword.password_hash == item.password_hash,
    ):
        raise KabaoError("CONCURRENT_UPDATE", "the spending password changed meanwhile")
    _notify(merchant, member, "password_changed", now)


def set_free_limit(
    merchant_id: str, member_id: str, free_limit: int, password: str | None = None, phone_code: str | None = None
) -> State:
    """Choose how much stored value a counter sale may take without the password.

    Lowering it (or keeping it) needs nothing: it only asks for the password more often. Raising it
    weakens what stands between a member code and the card, and the session token alone also
    makes member codes, so a raise needs proof that the member is here: the spending password
    (`password`, counted as a guess like any other, refused while locked) or a fresh getPhoneNumber
    code of the bound phone (`phone_code`), as setting and resetting the password do. A member who
    set no password proves it with the phone: the limit waits for the day the password applies
    (set later, or required by the merchant), and must not have been raised by whoever held the token."""
    merchant = merchants.get(merchant_id)
    if not 0 <= free_limit <= int(merchant.password_free_max):
        raise KabaoError("VALIDATION_ERROR", f"the password-free limit is 0..{int(merchant.password_free_max)} fen")
    if password is not None and phone_code is not None:
        raise KabaoError("VALIDATION_ERROR", "give the spending password or a phone code, not both")
    item = _item(merchant_id, member_id)
    if free_limit <= int(item.free_limit):
        # Not a raise against the limit read; the condition keeps it so against a concurrent change.
        not_raised = SpendingPassword.free_limit >= free_limit
        if free_limit == 0:
            not_raised = not_raised | SpendingPassword.free_limit.does_not_exist()
        if not update_if(item, [SpendingPassword.free_limit.set(free_limit)], not_raised):
            raise KabaoError("CONCURRENT_UPDATE", "the password-free limit changed meanwhile, retry")
        return state(merchant, member_id)
    member = members.get(merchant_id, member_id)
    if password is not None:
        verify(merchant, member, password)
    elif phone_code is not None:
        _verify_phone(merchant, member, phone_code)
    else:
        raise KabaoError(
            "VERIFICATION_REQUIRED",
            "raising the password-free limit needs the spending password or a fresh phone verification",
        )
    SpendingPassword(member_pk(merchant_id, member_id), SK).update(
        actions=[SpendingPassword.free_limit.set(free_limit)]
    )
    return state(merchant, member_id)


def verify(merchant: Merchant, member: Member, password: str) -> SpendingPassword:
    """Check the member's password, counting the attempt first (see the module docstring)."""
    item = _item(merchant.merchant_id, member.member_id)
    if item.password_hash is None:
        raise KabaoError("SPENDING_PASSWORD_NOT_SET", "set a spending password in the mini program first")
    now = clock.now()

    def on_lock() -> None:
        _notify(merchant, member, "spending_locked", now)

    _LOCKOUT.count_attempt(item, now, on_lock)
    if not check_password(password, item.password_hash):
        _LOCKOUT.lock_when_full(item, now, on_lock)  # the attempt stays counted as a failure
        raise KabaoError("SPENDING_PASSWORD_WRONG", "wrong spending password")
    accept(item, "password_hash", password, item.password_hash, _LOCKOUT.reset())
    return item


def _asks_password(merchant: Merchant, member_id: str, stored_value: int) -> bool:
    """Whether taking `stored_value` needs the password; raises while locked (a lock stops all stored-value
    spending, not only what would ask for the password). Cash and points are never asked, so the member's item
    is read only for stored value: a cash or points sale makes no read it would not use."""
    if not stored_value:
        return False
    item = _item(merchant.merchant_id, member_id)
    if _locked_until(item) is not None:
        raise _locked()
    protected = bool(merchant.spending_password_required) or item.password_hash is not None
    return protected and stored_value > _limit(merchant, item)


def authorize_counter(merchant: Merchant, member_id: str, stored_value: int, till_password: str | None) -> bool:
    """May a counter sale take `stored_value` now? True: no password needed, or the till's was right.
    False: the member must confirm it on their phone. Raises while locked, and for a till password
    the merchant does not take (or a wrong one)."""
    if not _asks_password(merchant, member_id, stored_value):
        return True
    if till_password is None:
        return False
    if not merchant.till_password:
        raise KabaoError(
            "TILL_PASSWORD_NOT_ALLOWED", "this merchant takes the spending password on the member's phone only"
        )
    verify(merchant, members.get(merchant.merchant_id, member_id), till_password)
    return True


def authorize_own(merchant: Merchant, member: Member, stored_value: int, password: str | None) -> None:
    """Stored value the member spends from the mini program itself (a punch card bought with it) is held to the
    same limit as a counter sale: with the session token alone, a thief would otherwise turn the balance into
    punch-card visits that a member code, which the token also makes, then uses at the till."""
    if not _asks_password(merchant, member.member_id, stored_value):
        return
    if password is None:
        raise KabaoError(
            "VERIFICATION_REQUIRED", "paying this much stored value needs the spending password (`password`)"
        )
    verify(merchant, member, password)


def _notify(merchant: Merchant, member: Member, kind: str, at: datetime) -> None:
    """Tell the member (kinds `spending_locked`, `password_changed`); no grant is recorded, never an error."""
    from mini_program_api.members import notices  # here: only a lock or a change sends one, never a sale

    notices.send(
        merchant,
        member,
        kind,
        f"{kind}:{at.isoformat()}",
        {"thing1": {"value": merchant.name[:20]}, "time2": {"value": clock.minute(at, merchant.timezone)}},
    )
