"""The merchant's own tags on members (VIP, 过敏, 投诉过): create, rename, delete, and put on or take off members.

- A tag is an item in the merchant's tag partition (`TagDef`: id, name, `members`); its name is unique per
  merchant through a lookup item on the normalized name, claimed in the same transaction that names the tag.
  Members carry tags by id (`Member.tag_ids`), so a rename writes two items, never the members.
- Tagging a member is one transaction: the `Tagged` item in the tag's partition (`attribute_not_exists`), the
  id added to the member row and the tag's count moved by one; untagging is its mirror (`attribute_exists`).
  A repeat or a race changes nothing the second time, so `members` always equals the members who carry the
  tag, whatever runs concurrently (single edits, bulk lists, filter jobs).
- A tag in use is not deleted (`409 TAG_IN_USE`): the merchant takes it off its members first (a bulk untag,
  by list or as a job over the tag's filter), so deleting never leaves members pointing at nothing and never
  half-rewrites thousands of rows.
- The tag's members are one paged Query of its partition (search by tag, exports); a filter job walks the
  cardholders and tests `tag_ids`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from mini_program_api.db.models import LOOKUP, PROFILE, Lookup, Member, lookup_pk, member_pk
from mini_program_api.db.tags import TagDef, Tagged, tagged_pk, tags_pk
from mini_program_api.db.transact import Cancelled, Transaction
from mini_program_api.members import members
from mini_program_api.platform import clock, ids, paging
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.staff import audit

MAX_NAME = 20
MAX_BULK = 100  # members per synchronous bulk request; more is a job (member_care/member_jobs.py)


def normalized(name: str) -> str:
    """What makes two tag names the same: NFKC (full-width letters), case, surrounding and repeated spaces."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def clean_name(name: str) -> str | None:
    """The name as a tag keeps it (NFKC, spaces collapsed), or None when it is not 1 to `MAX_NAME` characters
    then: the one rule for the admin's tags and an import's (member_import/rows.py checks a file's with it)."""
    name = " ".join(unicodedata.normalize("NFKC", name).split())
    # Control and format characters (a zero-width space, a BOM, a BEL, a direction override) are invisible: `VIP`
    # with one is a second `VIP` in every list, unique only to the name lookup.
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        return None
    return name if 1 <= len(name) <= MAX_NAME else None


def _name(name: str) -> str:
    clean = clean_name(name)
    if clean is None:
        raise KabaoError("VALIDATION_ERROR", f"a tag name has 1 to {MAX_NAME} characters, none invisible")
    return clean


def _name_key(merchant_id: str, name: str) -> str:
    return lookup_pk(merchant_id, "TAGNAME", normalized(name))


def get(merchant_id: str, tag_id: str) -> TagDef:
    try:
        return TagDef.get(tags_pk(merchant_id), tag_id, consistent_read=True)
    except TagDef.DoesNotExist:
        raise KabaoError("TAG_NOT_FOUND", "no such tag") from None


def page(merchant_id: str, cursor: str | None, limit: int) -> paging.Page[TagDef]:
    return paging.partition(TagDef, tags_pk(merchant_id), cursor, limit)


def create(actor: Principal, name: str) -> TagDef:
    """A new tag; a name the merchant already uses (as normalized) is `409 TAG_NAME_TAKEN`."""
    name = _name(name)
    now = clock.now()
    tag = TagDef(tags_pk(actor.merchant_id), "T" + ids.new_id()[:15], name=name, members=0, created_at=now)
    tag.tag_id = tag.sk
    tx = Transaction()
    tx.put("tag", tag, condition=TagDef.sk.does_not_exist())
    tx.put("name", Lookup(_name_key(actor.merchant_id, name), LOOKUP, target=tag.sk), Lookup.pk.does_not_exist())
    audit.record(tx, actor, "TAG_CREATED", tag.sk, {"name": name}, now)
    try:
        tx.commit()
    except Cancelled as exc:
        raise _taken(actor.merchant_id, name) from exc
    return tag


def rename(actor: Principal, tag_id: str, name: str) -> TagDef:
    """Rename; members keep the tag (by id). Pinned to the name read, so two racing renames do not both win."""
    name = _name(name)
    tag = get(actor.merchant_id, tag_id)
    if tag.name == name:
        return tag
    tx = Transaction()
    tx.update("tag", TagDef(tag.pk, tag.sk), [TagDef.name.set(name)], TagDef.name == tag.name)
    if normalized(tag.name) != normalized(name):
        tx.delete("old", Lookup(_name_key(actor.merchant_id, tag.name), LOOKUP), Lookup.target == tag_id)
        tx.put("name", Lookup(_name_key(actor.merchant_id, name), LOOKUP, target=tag_id), Lookup.pk.does_not_exist())
    else:  # only the spelling changed (case, width): the lookup stays
        tx.check("name", Lookup, _name_key(actor.merchant_id, name), LOOKUP, Lookup.target == tag_id)
    audit.record(tx, actor, "TAG_RENAMED", tag_id, {"old": str(tag.name), "new": name})
    try:
        tx.commit()
    except Cancelled as exc:
        if "name" in exc.failed:
            raise _taken(actor.merchant_id, name) from exc
        raise KabaoError("CONCURRENT_UPDATE", "the tag changed meanwhile, retry") from exc
    return get(actor.merchant_id, tag_id)


def delete(actor: Principal, tag_id: str) -> None:
    """Delete a tag no member carries; `409 TAG_IN_USE` (with the count) otherwise."""
    tag = get(actor.merchant_id, tag_id)
    tx = Transaction()
    tx.delete("tag", TagDef(tag.pk, tag.sk), (TagDef.members == 0) | TagDef.members.does_not_exist())
    tx.delete("name", Lookup(_name_key(actor.merchant_id, tag.name), LOOKUP), Lookup.target == tag_id)
    audit.record(tx, actor, "TAG_DELETED", tag_id, {"name": str(tag.name)})
    try:
        tx.commit()
    except Cancelled as exc:
        now = get(actor.merchant_id, tag_id)
        if int(now.members):
            raise KabaoError("TAG_IN_USE", "take the tag off its members first", members=int(now.members)) from exc
        raise KabaoError("CONCURRENT_UPDATE", "the tag changed meanwhile, retry") from exc


def _taken(merchant_id: str, name: str) -> KabaoError:
    try:
        holder = str(Lookup.get(_name_key(merchant_id, name), LOOKUP, consistent_read=True).target)
    except Lookup.DoesNotExist:
        return KabaoError("CONCURRENT_UPDATE", "the tag names changed meanwhile, retry")
    return KabaoError("TAG_NAME_TAKEN", "the merchant already has a tag of that name", tag_id=holder)


def ensure(merchant_id: str, name: str) -> str:
    """The id of the merchant's tag called `name` (as normalized), made if it is missing: how a member import's
    tag names become tags. Race-safe through the name lookup: of two rows making one name, the second's
    transaction is cancelled on the lookup and it takes the first's tag. `name` is one `clean_name` gave (the
    import's check refused the others)."""
    key = _name_key(merchant_id, name)
    for _ in range(3):
        try:
            return str(Lookup.get(key, LOOKUP, consistent_read=True).target)
        except Lookup.DoesNotExist:
            pass
        tag = TagDef(tags_pk(merchant_id), "T" + ids.new_id()[:15], name=name, members=0, created_at=clock.now())
        tag.tag_id = tag.sk
        tx = Transaction()
        tx.put("tag", tag, condition=TagDef.sk.does_not_exist())
        tx.put("name", Lookup(key, LOOKUP, target=tag.sk), Lookup.pk.does_not_exist())
        try:
            tx.commit()
            return str(tag.sk)
        except Cancelled:
            continue  # made by a concurrent row: read its id
    raise KabaoError("CONCURRENT_UPDATE", "the tag names changed meanwhile, retry")


def stage_new(tx: Transaction, merchant_id: str, member_id: str, tag_ids: set[str]) -> None:
    """Stage, in the caller's transaction, what carrying `tag_ids` adds besides the member's own `tag_ids`
    (which the caller writes: a new member's put, or an update adding them): each `Tagged` item
    (`attribute_not_exists`: a tag the member already carries cancels the transaction, never counts twice) and
    each tag's count, as `set_on` does for one tag."""
    at = clock.now()
    for tag_id in sorted(tag_ids):
        tx.put(
            f"tagged:{tag_id}",
            Tagged(tagged_pk(merchant_id, tag_id), member_id, member_id=member_id, at=at),
            Tagged.sk.does_not_exist(),
        )
        tx.update(f"tag:{tag_id}", TagDef(tags_pk(merchant_id), tag_id), [TagDef.members.add(1)], TagDef.pk.exists())


def stage_erase(tx: Transaction, merchant_id: str, member_id: str, tag_ids: set[str] | None) -> None:
    """Stage taking every tag off a member whose row the caller's transaction erases (data_rights/erasure.py):
    each `Tagged` item deleted (`attribute_exists`, so a concurrent untag cancels rather than counts twice) and
    each tag's count moved down by one; the caller removes `tag_ids` from the member row."""
    for tag_id in sorted(tag_ids or ()):
        tx.delete(f"tagged:{tag_id}", Tagged(tagged_pk(merchant_id, tag_id), member_id), Tagged.sk.exists())
        tx.update(f"tag:{tag_id}", TagDef(tags_pk(merchant_id), tag_id), [TagDef.members.add(-1)], TagDef.pk.exists())


# --- tags on members ---------------------------------------------------------------------------------------


def set_on(merchant_id: str, member_id: str, tag_id: str, on: bool, tx: Transaction | None = None) -> bool:
    """Put the tag on the member (`on`) or take it off, in one transaction with the tag's count (see the module
    docstring); False when it was already so (nothing written). `tx` carries the caller's other writes (an audit
    record), committed only with a change. MEMBER_NOT_FOUND, TAG_NOT_FOUND when either is missing."""
    tx = tx or Transaction()
    at = clock.now()
    member_key = Member(member_pk(merchant_id, member_id), PROFILE)
    tag_key = TagDef(tags_pk(merchant_id), tag_id)
    if on:
        tx.put(
            "tagged",
            Tagged(tagged_pk(merchant_id, tag_id), member_id, member_id=member_id, at=at),
            Tagged.sk.does_not_exist(),
        )
        tx.update("member", member_key, [Member.tag_ids.add({tag_id})], Member.pk.exists())
        tx.update("tag", tag_key, [TagDef.members.add(1)], TagDef.pk.exists())
    else:
        tx.delete("tagged", Tagged(tagged_pk(merchant_id, tag_id), member_id), Tagged.sk.exists())
        tx.update("member", member_key, [Member.tag_ids.delete({tag_id})], Member.pk.exists())
        tx.update("tag", tag_key, [TagDef.members.add(-1)], TagDef.pk.exists())
    try:
        tx.commit()
    except Cancelled as exc:
        if "member" in exc.failed:
            raise KabaoError("MEMBER_NOT_FOUND", "member not found") from exc
        if "tag" in exc.failed:
            raise KabaoError("TAG_NOT_FOUND", "no such tag") from exc
        if "tagged" in exc.failed:
            return False
        raise
    return True


def tag_member(actor: Principal, member_id: str, tag_id: str, on: bool) -> Member:
    """An admin puts a tag on one member or takes it off, audited in the same transaction; the member after."""
    members.get(actor.merchant_id, member_id)  # another merchant's id: 404 before anything is staged
    tag = get(actor.merchant_id, tag_id)
    tx = Transaction()
    action = "MEMBER_TAGGED" if on else "MEMBER_UNTAGGED"
    audit.record(tx, actor, action, member_id, {"tag_id": tag_id, "name": str(tag.name)}, member_id=member_id)
    set_on(actor.merchant_id, member_id, tag_id, on, tx)
    return members.get(actor.merchant_id, member_id)


@dataclass(frozen=True)
class BulkResult:
    changed: list[str]
    unchanged: list[str]
    not_found: list[str]


def bulk(actor: Principal, tag_id: str, member_ids: list[str], on: bool) -> BulkResult:
    """The tag on (or off) up to `MAX_BULK` listed members, each in its own transaction; one audit record for the
    request. An id that is not this merchant's member is listed in `not_found` and the others go on."""
    ids_ = list(dict.fromkeys(member_ids))
    if not 1 <= len(ids_) <= MAX_BULK:
        raise KabaoError("VALIDATION_ERROR", f"1 to {MAX_BULK} member ids; more as a job with a filter")
    tag = get(actor.merchant_id, tag_id)
    changed: list[str] = []
    unchanged: list[str] = []
    not_found: list[str] = []
    for member_id in ids_:
        try:
            (changed if set_on(actor.merchant_id, member_id, tag_id, on) else unchanged).append(member_id)
        except KabaoError as exc:
            if exc.code != "MEMBER_NOT_FOUND":
                raise
            not_found.append(member_id)
    tx = Transaction()
    detail: dict[str, str | int] = {"tag_id": tag_id, "name": str(tag.name), "changed": len(changed)}
    audit.record(tx, actor, "MEMBERS_TAGGED" if on else "MEMBERS_UNTAGGED", tag_id, detail)
    tx.commit()
    return BulkResult(changed, unchanged, not_found)


def names(merchant_id: str, tag_ids: set[str] | None) -> list[dict[str, str]]:
    """The member's tags as {tag_id, name}, by name; a tag deleted meanwhile is left out."""
    if not tag_ids:
        return []
    found = TagDef.batch_get([(tags_pk(merchant_id), t) for t in sorted(tag_ids)])
    return sorted(({"tag_id": t.sk, "name": str(t.name)} for t in found), key=lambda t: (t["name"], t["tag_id"]))


def members_of(merchant_id: str, tag_id: str, cursor: str | None, limit: int) -> paging.Page[Tagged]:
    """The tag's members, by member id, paged."""
    get(merchant_id, tag_id)
    return paging.partition(Tagged, tagged_pk(merchant_id, tag_id), cursor, limit)
