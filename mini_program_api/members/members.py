"""A member's row as the calls that read it need it: found or MEMBER_NOT_FOUND, refused once erased, with a card
open, on the merchant's current terms.

What writes a member is elsewhere: the first login's member and a bound phone (`enrolment.py`), a returning
member's login (`login.py`). A member's request reads its row through here on every call, so this module
loads none of the writing side's reports counters, webhook events or due lists on a cold start.
"""

from __future__ import annotations

from mini_program_api.db.models import LOOKUP, PROFILE, Lookup, Member, Merchant, lookup_pk, member_pk
from mini_program_api.platform.errors import KabaoError


def get(merchant_id: str, member_id: str) -> Member:
    try:
        return Member.get(member_pk(merchant_id, member_id), PROFILE, consistent_read=True)
    except Member.DoesNotExist:
        raise KabaoError("MEMBER_NOT_FOUND", "member not found") from None


def returning(merchant_id: str, openid: str) -> Member | None:
    """The member this openid logged in as before, or None: read consistently, so a first login that just won a
    race (members/enrolment.py) is seen."""
    try:
        target = Lookup.get(lookup_pk(merchant_id, "OPENID", openid), LOOKUP, consistent_read=True).target
    except Lookup.DoesNotExist:
        return None
    return get(merchant_id, target)


def require_not_erased(merchant_id: str, member_id: str) -> Member | None:
    """A member token is refused once its member was erased (data_rights/erasure.py): the one read a member's
    call adds. A member row that is missing is left to the handler (MEMBER_NOT_FOUND): None.

    The whole row is read, as it was found before the call wrote anything: a projection costs the same read
    units (DynamoDB charges by item size), and a handler that shows the member unchanged (GET /v1/me) uses this
    row (routes/endpoint.py `Call.member`) instead of reading it a second time."""
    try:
        row = Member.get(member_pk(merchant_id, member_id), PROFILE, consistent_read=True)
    except Member.DoesNotExist:
        return None
    if row.erased_at is not None:
        raise KabaoError("ACCOUNT_DELETED", "this account was deleted; log in again to start a new membership")
    return row


def require_card(member: Member) -> None:
    if not member.card_number:
        raise KabaoError("CARD_NOT_OPEN", "open the membership card first")


def require_current_terms(merchant: Merchant, agreed_terms_version: str) -> None:
    if agreed_terms_version != merchant.terms_version:
        raise KabaoError(
            "TERMS_OUTDATED", "agree to the current membership terms", terms_version=merchant.terms_version
        )
