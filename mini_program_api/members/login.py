"""A member's login from the mini program: code2session, the member the openid logged in as, or a new one on the
first login (members/enrolment.py), and what an invite code counted for."""

from __future__ import annotations

from typing import NamedTuple

from mini_program_api.db.models import LOOKUP, Lookup, Member, Merchant, lookup_pk
from mini_program_api.members import members
from mini_program_api.merchants import merchants


class Login(NamedTuple):
    merchant: Merchant
    member: Member
    created: bool
    invite: str | None  # None (no invite_code), ACCEPTED, or why it was rejected


def login(appid: str, js_code: str, invite_code: str | None = None, scene: str | None = None) -> Login:
    """Log in; an invite code counts only on the first login (a new member) and never one's own.

    A rejected invite does not fail the login: the member gets in, `invite` says why."""
    merchant = merchants.by_appid(appid)
    session = merchants.mini_program(merchant).code_to_session(js_code)
    inviter = _inviter(merchant.merchant_id, invite_code) if invite_code else None
    member, created = members.returning(merchant.merchant_id, session.openid), False
    if member is None:
        # Here, not at the top: only a first login writes a member, so a returning member's cold login loads
        # none of what enrolment writes beside it (reports counters, the roster, webhook events).
        from mini_program_api.members import enrolment

        member, created = enrolment.enrol(merchant, session.openid, inviter, scene)
    invite = None
    if invite_code:
        if inviter is None:
            invite = "INVALID_INVITE_CODE"
        elif inviter == member.member_id:
            invite = "SELF_INVITE"
        else:
            invite = "ACCEPTED" if created else "ALREADY_MEMBER"
    return Login(merchant, member, created, invite)


def _inviter(merchant_id: str, invite_code: str) -> str | None:
    try:
        return Lookup.get(lookup_pk(merchant_id, "INVITE", invite_code.upper()), LOOKUP).target
    except Lookup.DoesNotExist:
        return None
