"""Freezing a member's points and stored value (a stolen phone, a dispute) and lifting it.

An admin may always freeze; staff at the till only when the merchant's `staff_may_freeze` is on (a cashier
meets the member whose phone was just stolen; the merchant decides whether to trust the till with it). A
freeze names its reason (1-200 characters), which the member sees on their card (`GET /v1/me`: `frozen`).

Each change is one transaction with its audit record (naming the member): the member row gains or loses
`frozen_at`, conditional on its state, so two racing freezes give one, and the loser is told
(`409 MEMBER_ALREADY_FROZEN`, `409 MEMBER_NOT_FROZEN`). What a freeze stops is money/frozen.py's rule, a
condition in every spending transaction: nothing spends after the freeze's commit.
"""

from __future__ import annotations

from mini_program_api.db.models import PROFILE, Member, member_pk
from mini_program_api.db.transact import Cancelled, Transaction
from mini_program_api.members import members
from mini_program_api.merchants import merchants
from mini_program_api.platform import clock
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.staff import audit
from mini_program_api.webhooks import events, outbox

MAX_REASON = 200


def freeze(actor: Principal, member_id: str, reason: str) -> Member:
    """Freeze the member's points and stored value with `reason`; the member row as it is now."""
    members.get(actor.merchant_id, member_id)  # 404 for an id that is not this merchant's
    _require_allowed(actor)
    reason = _reason(reason)
    now = clock.now()
    tx = Transaction()
    tx.update(
        "member",
        Member(member_pk(actor.merchant_id, member_id), PROFILE),
        actions=[Member.frozen_at.set(now), Member.frozen_reason.set(reason), Member.frozen_by.set(actor.subject)],
        condition=Member.pk.exists() & Member.frozen_at.does_not_exist(),
    )
    audit.record(tx, actor, "MEMBER_FREEZE", member_id, {"reason": reason}, now, member_id=member_id)
    outbox.add(tx, actor.merchant_id, member_id, events.MEMBER_FROZEN, {})  # the reason is free text: not sent
    try:
        tx.commit()
    except Cancelled as exc:
        raise KabaoError("MEMBER_ALREADY_FROZEN", "this member is already frozen") from exc
    return members.get(actor.merchant_id, member_id)


def unfreeze(actor: Principal, member_id: str, reason: str) -> Member:
    """Lift the freeze; `reason` says why (the dispute settled, the phone found)."""
    member = members.get(actor.merchant_id, member_id)
    _require_allowed(actor)
    reason = _reason(reason)
    now = clock.now()
    tx = Transaction()
    tx.update(
        "member",
        Member(member_pk(actor.merchant_id, member_id), PROFILE),
        actions=[Member.frozen_at.remove(), Member.frozen_reason.remove(), Member.frozen_by.remove()],
        condition=Member.pk.exists() & Member.frozen_at.exists(),
    )
    detail: dict[str, str | int] = {"reason": reason, "frozen_reason": str(member.frozen_reason or "")}
    audit.record(tx, actor, "MEMBER_UNFREEZE", member_id, detail, now, member_id=member_id)
    outbox.add(tx, actor.merchant_id, member_id, events.MEMBER_UNFROZEN, {})
    try:
        tx.commit()
    except Cancelled as exc:
        raise KabaoError("MEMBER_NOT_FROZEN", "this member is not frozen") from exc
    return members.get(actor.merchant_id, member_id)


def _require_allowed(actor: Principal) -> None:
    if actor.role == "admin":
        return
    if actor.role == "staff" and merchants.get(actor.merchant_id).staff_may_freeze:
        return
    raise KabaoError("FORBIDDEN", "this merchant lets only admins freeze members")


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not 1 <= len(reason) <= MAX_REASON:
        raise KabaoError("VALIDATION_ERROR", f"a reason of 1 to {MAX_REASON} characters")
    return reason
