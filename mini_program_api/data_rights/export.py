"""The member's copy of everything kabao holds about them (PIPL art. 45), as JSON, one page per section.

Every section is read from the member's own partition (or, for orders and top-ups, through the references
their partition holds), so nothing of another member can appear: the partition key comes from the token, and a
section's cursor (platform/paging.py) is bound to that partition and the section's key prefix. A member with
100 000 ledger entries pages them: the first call answers the profile and the first page of every section,
with a cursor per section; each later call names one section and its cursor.

What is left out, and why: keys and index attributes (how the table finds an item, not data about the
person), fingerprints (a hash of the request) and operation keys (internal; a referral's, and a referral's memo,
name the other member), the phone's cipher and keyed hash (the phone itself is given,
in clear, to its owner), the spending password's hash (whether one is set is given), the id of the member who
invited them (another person's id: `invited` says whether someone did) and staff usernames (the staff's data).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pynamodb.models import Model

from mini_program_api.db.counters import Counter
from mini_program_api.db.coupons import Coupon
from mini_program_api.db.ledger import LedgerEntry
from mini_program_api.db.models import member_pk
from mini_program_api.db.notices import Notice
from mini_program_api.db.punch_cards import PunchCard
from mini_program_api.db.spending import SpendingPassword
from mini_program_api.db.staff import AuditRecord
from mini_program_api.member_care import tags
from mini_program_api.members import consents, members, order_refs
from mini_program_api.money import ledger
from mini_program_api.platform import clock, paging, pii
from mini_program_api.wallet.models import MEMBER_SK, MemberWallet

# Not the person's data: how the table stores and finds items, and other people's ids.
_LEFT_OUT = frozenset(
    {
        "pk",
        "sk",
        "lsi1",
        "due_pk",
        "due_sk",
        "due_since",
        "due_attempts",
        "due_error",
        "roster_pk",
        "roster_sk",
        "cards_pk",
        "cards_sk",
        "fingerprint",
        "op_key",  # the operation's idempotency key: internal, and a referral's names the member invited
        "expires_ttl",
        "phone_enc",
        "phone_hash",
        # The masked copy a view shows (pii.shown_phone): derived from the phone, which `profile` gives in clear;
        # listed too it would read as a second number kabao holds.
        "phone_masked",
        "password_hash",
        "invited_by",
        "actor",
        "staff_id",
        "frozen_by",  # the admin's or cashier's username: the staff's data
        "refunded_by",
        "refund_requested_by",
        "lease_holder",
        "lease_until",
        "merchant_id",
    }
)


def _plain(value: Any, tz: str) -> Any:
    if isinstance(value, datetime):
        return clock.iso(value, tz)
    if hasattr(value, "as_dict"):
        return {k: _plain(v, tz) for k, v in value.as_dict().items()}
    if isinstance(value, dict):
        return {k: _plain(v, tz) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, tz) for v in value]
    return value


def item(model: Model, tz: str) -> dict[str, Any]:
    """An item as the member sees it: its attributes less `_LEFT_OUT`, times ISO in the merchant's zone."""
    return {k: _plain(v, tz) for k, v in sorted(model.attribute_values.items()) if k not in _LEFT_OUT}


def _prefixed(model: Any, prefix: str, newest_first: bool = True) -> Callable[[str, str, str | None, int], Any]:
    def page(merchant_id: str, member_id: str, cursor: str | None, limit: int) -> paging.Page[Any]:
        return paging.query(
            model.query,
            member_pk(merchant_id, member_id),
            {"sk": prefix},
            cursor,
            limit,
            range_key_condition=model.sk.startswith(prefix),
            scan_index_forward=not newest_first,
        )

    return page


def _ledger(merchant_id: str, member_id: str, cursor: str | None, limit: int) -> paging.Page[Any]:
    """Every entry of every account, by account group then time (the ledger's own index)."""
    return paging.query(
        LedgerEntry.by_time.query,
        member_pk(merchant_id, member_id),
        {"sk": "TXN#", "lsi1": "LEDGER#"},
        cursor,
        limit,
        range_key_condition=LedgerEntry.lsi1.startswith("LEDGER#"),
    )


def _grants(merchant_id: str, member_id: str, cursor: str | None, limit: int) -> paging.Page[Any]:
    return _prefixed(Counter, "GRANT#", newest_first=False)(merchant_id, member_id, cursor, limit)


def _referrals(merchant_id: str, member_id: str, cursor: str | None, limit: int) -> paging.Page[Any]:
    return _prefixed(Counter, "REFERRALS#")(merchant_id, member_id, cursor, limit)


# section -> one page of it, newest first where the key has a time
SECTIONS: dict[str, Callable[[str, str, str | None, int], paging.Page[Any]]] = {
    "ledger": _ledger,
    "coupons": _prefixed(Coupon, "COUPON#", newest_first=False),
    "punch_cards": _prefixed(PunchCard, "PUNCH#", newest_first=False),
    "orders": order_refs.checkouts,
    "topups": order_refs.topups,
    "referrals": _referrals,
    "consents": consents.page,
    "messages": _prefixed(Notice, "NOTICE#", newest_first=False),
    "subscriptions": _grants,
    "audit": _prefixed(AuditRecord, "AUDIT#"),
}


def _section_item(section: str, model: Any, tz: str) -> dict[str, Any]:
    out = item(model, tz)
    if section == "subscriptions":  # a grant counter: the template and the messages still allowed
        return {"template_id": str(model.sk).removeprefix("GRANT#"), "messages_allowed": out.get("n", 0)}
    if section == "referrals":
        return {"month": str(model.sk).removeprefix("REFERRALS#"), "members_invited": out.get("n", 0)}
    if section == "ledger" and isinstance(out.get("memo"), dict):  # a referral, an adjustment: someone else
        out["memo"] = ledger.members_memo(out["memo"])
    if section == "messages":
        out["notice"] = str(model.sk).removeprefix("NOTICE#")
    return out


def profile(merchant_id: str, member_id: str, tz: str) -> dict[str, Any]:
    """The member row, the phone in clear (to its owner only), the WeChat card link and the password's state."""
    member = members.get(merchant_id, member_id)
    out = item(member, tz)
    out["phone"] = pii.decrypt_phone(member.phone_enc) if member.phone_enc else None
    out["invited"] = member.invited_by is not None
    # The merchant's tags on them by name (ids are how the table keeps them), whether their balances are frozen
    # (`frozen_at`, `frozen_reason` are on the row), and where the account came from (`imported_by`,
    # `external_id`, `joined_on` for a member import).
    out.pop("tag_ids", None)
    out["tags"] = [t["name"] for t in tags.names(merchant_id, member.tag_ids)]
    out["frozen"] = member.frozen_at is not None
    out["imported"] = member.imported_by is not None
    pk = member_pk(merchant_id, member_id)
    try:
        wallet = MemberWallet.get(pk, MEMBER_SK, consistent_read=True)
        out["wechat_card"] = {
            k: v
            for k, v in item(wallet, tz).items()
            if k in ("card_id", "code", "status", "activated_at", "deleted_at")
        }
    except MemberWallet.DoesNotExist:
        out["wechat_card"] = None
    try:
        password = SpendingPassword.get(pk, "SPENDPWD", consistent_read=True)
        out["spending_password_set"] = password.password_hash is not None
    except SpendingPassword.DoesNotExist:
        out["spending_password_set"] = False
    return out


def page(
    merchant_id: str, member_id: str, tz: str, section: str | None, cursor: str | None, limit: int
) -> dict[str, Any]:
    """No `section`: the profile and the first page of every section. A `section`: its page from `cursor`."""
    wanted = [section] if section else list(SECTIONS)
    sections = {}
    for name in wanted:
        got = SECTIONS[name](merchant_id, member_id, cursor if section else None, limit)
        sections[name] = {"items": [_section_item(name, i, tz) for i in got.items], "cursor": got.cursor}
    return {
        "member_id": member_id,
        "exported_at": clock.iso(clock.now(), tz),
        "profile": None if section else profile(merchant_id, member_id, tz),
        "sections": sections,
    }
