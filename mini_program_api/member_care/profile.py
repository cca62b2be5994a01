"""An admin corrects a member's name (a typo at the desk, a name given later), audited in the same transaction as
the change and as the move of the member's entry in the name index (members/names.py), pinned to the name read."""

from __future__ import annotations

import unicodedata

from mini_program_api.db.models import PROFILE, Member, member_pk
from mini_program_api.db.transact import Cancelled, Transaction
from mini_program_api.members import members, names
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.staff import audit

MAX_NAME = 32


def set_name(actor: Principal, member_id: str, name: str, reason: str) -> Member:
    name = " ".join(unicodedata.normalize("NFKC", name).split())
    if not 1 <= len(name) <= MAX_NAME:
        raise KabaoError("VALIDATION_ERROR", f"a name has 1 to {MAX_NAME} characters")
    member = members.get(actor.merchant_id, member_id)
    if member.name == name:
        return member
    tx = Transaction()
    pinned = Member.name == member.name if member.name is not None else Member.name.does_not_exist()
    tx.update("member", Member(member_pk(actor.merchant_id, member_id), PROFILE), [Member.name.set(name)], pinned)
    names.stage(tx, actor.merchant_id, member_id, member.name, name)
    detail: dict[str, str | int] = {"old": member.name or "", "new": name, "reason": reason}
    audit.record(tx, actor, "MEMBER_RENAMED", member_id, detail, member_id=member_id)
    try:
        tx.commit()
    except Cancelled as exc:
        raise KabaoError("CONCURRENT_UPDATE", "the member's name changed meanwhile, retry") from exc
    return members.get(actor.merchant_id, member_id)
