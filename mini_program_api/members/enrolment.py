"""Enrolment: the first login's member and a bound phone number.

Uniqueness (one member per openid, per phone, per card number) is held by
Lookup items claimed with `attribute_not_exists` in the same transaction as the
member write, so two racing first logins cannot create two members.
"""

from __future__ import annotations

from mini_program_api.db.models import LOOKUP, PROFILE, Lookup, Member, Merchant, lookup_pk, member_pk
from mini_program_api.db.transact import Cancelled, Transaction, update_if
from mini_program_api.members import members, tiers
from mini_program_api.platform import clock, ids, pii
from mini_program_api.platform.errors import KabaoError
from mini_program_api.reports import counters, roster
from mini_program_api.webhooks import events, outbox


def enrol(merchant: Merchant, openid: str, invited_by: str | None, scene: str | None) -> tuple[Member, bool]:
    """The first login's member, for an openid no member has logged in with (members.returning found none): the
    member and its lookups in one transaction, so two racing first logins cannot create two members. Returns
    (member, created): a concurrent first login that won the race gives its member, not created."""
    key = lookup_pk(merchant.merchant_id, "OPENID", openid)
    member_id = ids.new_id()
    invite_code = ids.invite_code()
    member = Member(
        member_pk(merchant.merchant_id, member_id),
        PROFILE,
        merchant_id=merchant.merchant_id,
        member_id=member_id,
        openid=openid,
        tier_id=tiers.entry_tier(merchant).tier_id,
        invited_by=invited_by,
        invite_code=invite_code,
        scene=scene,
        created_at=clock.now(),
        **roster.keys(merchant.merchant_id, member_id),
    )
    tx = Transaction()
    tx.put("member", member, condition=Member.pk.does_not_exist())
    counters.member(tx, merchant.merchant_id, member_id, "new", scene, member.created_at)
    outbox.add(tx, merchant.merchant_id, member_id, events.MEMBER_CREATED, {"scene": scene, "invited_by": invited_by})
    tx.put("openid", Lookup(key, LOOKUP, target=member_id), condition=Lookup.pk.does_not_exist())
    tx.put(
        "invite",
        Lookup(lookup_pk(merchant.merchant_id, "INVITE", invite_code), LOOKUP, target=member_id),
        condition=Lookup.pk.does_not_exist(),
    )
    try:
        tx.commit()
    except Cancelled as exc:
        if "openid" not in exc.failed:  # an invite code collision: draw again, unless a first login won meanwhile
            winner = members.returning(merchant.merchant_id, openid)
            return (winner, False) if winner is not None else enrol(merchant, openid, invited_by, scene)
        # A concurrent first login won the race: use its member.
        return members.get(merchant.merchant_id, Lookup.get(key, LOOKUP, consistent_read=True).target), False
    return member, True


def bind_number(merchant_id: str, member_id: str, phone: str) -> Member:
    """Bind a number WeChat vouched for (getPhoneNumber, or the 卡包 activation form): keyed hash + encryption,
    and the masked copy views show (pii.shown_phone) in the same write, so it always names the bound number.
    POST /v1/me/phone comes through till/spending_password.py `bind_phone`, which guards changing a number."""
    member = members.get(merchant_id, member_id)
    digest = pii.phone_hash(merchant_id, phone)
    if member.phone_hash == digest:
        return _add_masked_copy(member, digest, phone)
    tx = Transaction()
    tx.put(
        "phone",
        Lookup(lookup_pk(merchant_id, "PHONE", digest), LOOKUP, target=member_id),
        condition=Lookup.pk.does_not_exist() | (Lookup.target == member_id),
    )
    unchanged = (
        Member.phone_hash.does_not_exist() if member.phone_hash is None else Member.phone_hash == member.phone_hash
    )
    tx.update(
        "member",
        member,
        actions=[
            Member.phone_enc.set(pii.encrypt_phone(phone)),
            Member.phone_hash.set(digest),
            Member.phone_masked.set(pii.mask_phone(phone)),
        ],
        # Not erased: a deletion that committed after the read above must not get a phone back.
        condition=Member.pk.exists() & unchanged & Member.erased_at.does_not_exist(),
    )
    if member.phone_hash:
        tx.delete(
            "old_phone",
            Lookup(lookup_pk(merchant_id, "PHONE", member.phone_hash), LOOKUP),
            condition=Lookup.target == member_id,
        )
    try:
        tx.commit()
    except Cancelled as exc:
        if "phone" in exc.failed:
            claimed = _claim_imported(merchant_id, member, digest)
            if claimed is not None:
                return claimed
            raise KabaoError("PHONE_IN_USE", "this phone number belongs to another member") from exc
        members.require_not_erased(merchant_id, member_id)
        raise KabaoError("CONCURRENT_UPDATE", "the member changed during the request, retry") from exc
    return members.get(merchant_id, member_id)


def _add_masked_copy(member: Member, digest: str, phone: str) -> Member:
    """The same number bound again on a row bound before the masked copy existed: the copy is written now, pinned
    to that number and to a row not erased, so views stop decrypting it. Lost to a change meanwhile, it is left
    for the next bind (the view still decrypts)."""
    if member.phone_masked is not None:
        return member
    masked = pii.mask_phone(phone)
    if not update_if(
        member, [Member.phone_masked.set(masked)], (Member.phone_hash == digest) & Member.erased_at.does_not_exist()
    ):
        return members.get(member.merchant_id, member.member_id)
    member.phone_masked = masked
    return member


def _claim_imported(merchant_id: str, member: Member, digest: str) -> Member | None:
    """The member whose card an import brought (member_import/), found by the phone WeChat vouched for, when
    nobody has logged in as them yet and the caller is a first login's empty member (no card, no phone, no
    balance): the login's openid moves to the imported member, which is returned, and the empty one is left
    `claimed`. Anything else (a member with their own card or balances) stays PHONE_IN_USE: two members'
    histories are never merged by a phone alone."""
    try:
        target = Lookup.get(lookup_pk(merchant_id, "PHONE", digest), LOOKUP, consistent_read=True).target
        imported = members.get(merchant_id, target)
    except (Lookup.DoesNotExist, KabaoError):
        return None
    fresh = not (member.card_number or member.phone_hash) and not any(
        int(getattr(member, a) or 0) for a in ("points", "principal", "bonus", "growth")
    )
    if imported.imported_by is None or imported.openid is not None or not member.openid or not fresh:
        return None
    tx = Transaction()
    tx.update(
        "imported",
        imported,
        actions=[Member.openid.set(member.openid)],
        condition=Member.openid.does_not_exist() & (Member.phone_hash == digest),
    )
    tx.update(
        "openid",
        Lookup(lookup_pk(merchant_id, "OPENID", member.openid), LOOKUP),
        actions=[Lookup.target.set(imported.member_id)],
        condition=Lookup.target == member.member_id,
    )
    tx.update(
        "login",
        member,
        actions=[Member.claimed.set(imported.member_id)],
        condition=Member.phone_hash.does_not_exist()
        & Member.card_number.does_not_exist()
        & Member.claimed.does_not_exist(),
    )
    counters.member_claimed(tx, merchant_id, member.member_id, member.scene, member.created_at)
    try:
        tx.commit()
    except Cancelled:
        return None  # claimed by a concurrent login, or the caller changed: PHONE_IN_USE
    return members.get(merchant_id, imported.member_id)
