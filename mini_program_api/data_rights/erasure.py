"""Account deletion on the member's request (PIPL art. 47): personal data erased, accounting kept.

Refused (`409 STORED_VALUE_REMAINS`) while the member holds stored value (principal or bonus), has a top-up
not yet paid or closed (`pending_topup`), or a top-up refund still open at WeChat (`REFUNDING`: a refund
WeChat closes puts the balances back on the card): the merchant refunds each paid top-up first
(`POST /v1/admin/topup/orders/{order_id}/refund`, which also takes back its bonus). Refused
(`409 MEMBER_FROZEN`) while the card is frozen, until the merchant unfreezes it.

Otherwise one transaction, pinned to the member row as read (no stored value, no pending top-up, points as
read, not erased), does the erasure itself:

- the member row loses name, birthday, phone (cipher and hash), card number, openid, invite code and its
  place on the cardholder index, its tags (each tag's count moved down in the same transaction), its name's
  search entry, the imported external id and joined date and a freeze's reason, and gets `erased_at`; its
  random `member_id` stays as the anonymous id under which the ledger, orders, top-ups, consents and the audit
  trail are kept, and it stays on the roster, so reports and the liability check add up to what they did before;
- a `member.erased` webhook event carries only that anonymous id (webhooks/events.py);
- the points left are forfeited by a ledger operation (`erase:points`, kind `ACCOUNT_ERASED`), so balance =
  sum of entries still holds and the points report shows where they went;
- the openid, phone, card number, invite code and WeChat card code lookups are deleted: a later login with
  the same WeChat identity finds no member and makes a new one.

Every credit to a member is conditional on `erased_at` not being set (money/ledger.py), and a top-up order
on it as well (topup/orders.py `within_cap`), while this transaction requires no stored value and no pending
top-up: whichever commits first, an erased member never holds stored value.

Then, in steps that a retry repeats until `erasure.complete`: available coupons are forfeited (status
`FORFEITED`, off the member's lists and the reminder job), each punch card's visits left are forfeited through
the ledger (`erase:punch:{card_id}`), the openid is removed from the member's top-up orders, the WeChat card
link is dropped (the card item keeps no code; WeChat's card API as wrapped here has no call to void a card,
so the card in the member's WeChat wallet stays there unsynced), and the spending password, the job markers
and the subscribe grants are deleted. Member codes are lookups that expire within a minute: one still live
resolves to a member without a card, which every till refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.expressions.update import Action

from mini_program_api.db.counters import Counter
from mini_program_api.db.coupons import Coupon
from mini_program_api.db.due import DueMarker
from mini_program_api.db.models import LOOKUP, PROFILE, Lookup, Member, lookup_pk, member_pk
from mini_program_api.db.punch_cards import PunchCard
from mini_program_api.db.spending import SpendingPassword
from mini_program_api.db.topups import TopupOrder
from mini_program_api.db.transact import Cancelled, Transaction
from mini_program_api.member_care import tags
from mini_program_api.members import members, names, order_refs
from mini_program_api.money import ledger
from mini_program_api.money.ledger import Account, Operation, Posting
from mini_program_api.platform import clock
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.staff import audit
from mini_program_api.wallet.models import MEMBER_SK, MemberWallet, code_pk
from mini_program_api.webhooks import events, outbox

KIND = "ACCOUNT_ERASED"
ERASED = "ERASED"  # what stands in a required attribute that held personal data (the openid)
REFUND_ENDPOINT = "POST /v1/admin/topup/orders/{order_id}/refund"
_ATTEMPTS = 5
_PAGE = 50


@dataclass(frozen=True)
class Erased:
    member_id: str  # the anonymous id the accounting records stay under
    erased_at: Any
    points_forfeited: int
    coupons_forfeited: int
    punch_visits_forfeited: int


def erase(merchant_id: str, member_id: str, requested_by: Principal, reason: str | None = None) -> Erased:
    """Erase the member (see the module docstring); a retry answers what the first call did. `reason`: an
    admin's, kept in the audit trail."""
    for _ in range(_ATTEMPTS):
        member = members.get(merchant_id, member_id)
        if member.erased_at is None:
            _refuse_if_value(merchant_id, member)
            _refuse_if_frozen(member)
            try:
                _erase_row(merchant_id, member, requested_by, reason)
            except KabaoError as exc:
                if exc.code != "CONCURRENT_UPDATE":
                    raise
                continue  # the row moved (a sign-in, a top-up order): read it again and decide again
            member = members.get(merchant_id, member_id)
        result = dict(member.erasure.as_dict()) if member.erasure else {}
        if not result.get("complete"):
            result = _finish(merchant_id, member, result)
        return Erased(
            member_id=member_id,
            erased_at=member.erased_at,
            points_forfeited=int(result.get("points", 0)),
            coupons_forfeited=int(result.get("coupons", 0)),
            punch_visits_forfeited=int(result.get("punch", 0)),
        )
    raise KabaoError("CONCURRENT_UPDATE", "the member kept changing, retry")


def _refuse_if_value(merchant_id: str, member: Member) -> None:
    principal, bonus, pending = int(member.principal), int(member.bonus), int(member.pending_topup)
    refundable, refunding = _open_topups(merchant_id, member.member_id)
    if not (principal or bonus or pending or refunding):
        return
    raise KabaoError(
        "STORED_VALUE_REMAINS",
        "stored value remains on the card: the merchant refunds each paid top-up first "
        f"({REFUND_ENDPOINT}, which also takes back its bonus); a top-up still being paid or refunded "
        "must finish first",
        principal=principal,
        bonus=bonus,
        pending_topup=pending,
        refundable_order_ids=refundable,
        refunding_order_ids=refunding,
    )


def _refuse_if_frozen(member: Member) -> None:
    """A freeze holds a stolen phone's or a disputed card: whoever holds the phone must not erase it (forfeiting
    its points, ending the card) before the merchant has settled why it was frozen."""
    if member.frozen_at is not None:
        raise KabaoError("MEMBER_FROZEN", "this card is frozen: the merchant unfreezes it before it can be deleted")


def _open_topups(merchant_id: str, member_id: str) -> tuple[list[str], list[str]]:
    """The member's PAID top-ups (refundable while their principal is unspent) and REFUNDING ones."""
    paid: list[str] = []
    refunding: list[str] = []
    cursor: str | None = None
    while True:
        page = order_refs.topups(merchant_id, member_id, cursor, _PAGE)
        for order in page.items:
            if order.status == "PAID":
                paid.append(order.order_id)
            elif order.status == "REFUNDING":
                refunding.append(order.order_id)
        if page.cursor is None:
            return paid[:20], refunding[:20]
        cursor = page.cursor


def _erase_row(merchant_id: str, member: Member, requested_by: Principal, reason: str | None) -> None:
    member_id, now, points = member.member_id, clock.now(), int(member.points)
    actions: list[Action] = [
        Member.erased_at.set(now),
        Member.erasure.set({"points": points, "requested_by": requested_by.role, "complete": False}),
        Member.openid.set(ERASED),
        Member.name.remove(),
        Member.birthday.remove(),
        Member.phone_enc.remove(),
        Member.phone_hash.remove(),
        Member.phone_masked.remove(),
        Member.card_number.remove(),
        Member.invite_code.remove(),
        Member.cards_pk.remove(),
        Member.cards_sk.remove(),
        # What the newer features keep about the person: the merchant's tags on them (their Tagged items and
        # counts below), the id and joined date of the system they were imported from, a freeze's free-text
        # reason. `imported_by` (the import's id) and `frozen_at` stay: how the account's money came and stands.
        Member.tag_ids.remove(),
        Member.external_id.remove(),
        Member.joined_on.remove(),
        Member.frozen_reason.remove(),
    ]
    # Pinned to the row as read: no stored value, no top-up being paid, the points being forfeited, and the
    # identifiers whose lookups this deletes (a card opened or a phone bound meanwhile would leave one naming
    # the erased member).
    pinned = (
        Member.erased_at.does_not_exist()
        & Member.frozen_at.does_not_exist()  # a freeze meanwhile: read again, then refused
        & (Member.principal == 0)
        & (Member.bonus == 0)
        & (Member.pending_topup == 0)
        & (Member.points == points)
    )
    for attribute, value in (
        (Member.phone_hash, member.phone_hash),
        (Member.card_number, member.card_number),
        (Member.invite_code, member.invite_code),
        (Member.name, member.name),  # its search entry is deleted below
        (Member.tag_ids, member.tag_ids or None),  # their Tagged items and counts are taken off below
    ):
        pinned &= attribute.does_not_exist() if value is None else attribute == value
    tx = Transaction()
    outbox.add(tx, merchant_id, member_id, events.MEMBER_ERASED, {})  # the anonymous id only
    names.stage(tx, merchant_id, member_id, member.name, None)
    tags.stage_erase(tx, merchant_id, member_id, member.tag_ids)
    for kind, value in (
        ("OPENID", member.openid),
        ("PHONE", member.phone_hash),
        ("CARD", member.card_number),
        ("INVITE", member.invite_code),
    ):
        if value:
            tx.delete(f"lookup:{kind}", Lookup(lookup_pk(merchant_id, kind, value), LOOKUP))
    wallet = _wallet(merchant_id, member_id)
    if wallet is not None and wallet.code:
        tx.delete("lookup:WXCODE", Lookup(code_pk(merchant_id, wallet.code), LOOKUP))
    if requested_by.role != "member":
        detail: dict[str, str | int] = {"member_id": member_id, "points": points, "reason": reason or ""}
        audit.record(tx, requested_by, "MEMBER_ERASED", member_id, detail, now)
    if points:
        op = Operation("erase:points", KIND, (Posting(Account.POINTS, -points),), memo={"reason": "account erased"})
        try:
            ledger.post(merchant_id, member_id, op, tx=tx, member_actions=actions, member_condition=pinned)
        except Cancelled as exc:  # a tag put on or taken off meanwhile: read again
            raise KabaoError("CONCURRENT_UPDATE", "the member changed during the erasure, retry") from exc
        return
    tx.update("member", Member(member_pk(merchant_id, member_id), PROFILE), actions, Member.pk.exists() & pinned)
    try:
        tx.commit()
    except Cancelled as exc:  # the member row, or a tag put on or taken off meanwhile
        raise KabaoError("CONCURRENT_UPDATE", "the member changed during the erasure, retry") from exc


def _wallet(merchant_id: str, member_id: str) -> MemberWallet | None:
    try:
        return MemberWallet.get(member_pk(merchant_id, member_id), MEMBER_SK, consistent_read=True)
    except MemberWallet.DoesNotExist:
        return None


def _finish(merchant_id: str, member: Member, result: dict[str, Any]) -> dict[str, Any]:
    """What follows the erasure, each step safe to repeat: a retry after a crash carries on."""
    member_id = member.member_id
    pk = member_pk(merchant_id, member_id)
    now = clock.now()
    coupons = 0
    for coupon in Coupon.query(pk, Coupon.sk.startswith("COUPON#"), consistent_read=True):
        if coupon.status != "AVAILABLE":
            continue
        tx = Transaction()
        tx.update(
            "coupon",
            coupon,
            [
                Coupon.status.set("FORFEITED"),
                Coupon.lsi1.set(f"COUPON#FORFEITED#{now.isoformat(timespec='microseconds')}#{coupon.coupon_id}"),
                Coupon.due_pk.remove(),
                Coupon.due_sk.remove(),
            ],
            Coupon.status == "AVAILABLE",
        )
        try:
            tx.commit()
            coupons += 1
        except Cancelled:
            pass  # used meanwhile (a sale from before the erasure): it stays used
    punch, incomplete = 0, False
    for card in PunchCard.query(pk, PunchCard.sk.startswith("PUNCH#"), consistent_read=True):
        left = int(card.uses_left)
        if left <= 0:
            continue
        op = Operation(
            f"erase:punch:{card.card_id}",
            KIND,
            (Posting(Account.PUNCH, -left, card_id=card.card_id),),
            memo={"reason": "account erased"},
        )
        try:
            ledger.post(merchant_id, member_id, op)
            punch += left
        except KabaoError:  # used at the till meanwhile: the next retry forfeits what is left
            incomplete = True
    _strip_orders(merchant_id, member_id)
    _drop_wallet(merchant_id, member_id, now)
    SpendingPassword(pk, "SPENDPWD").delete()
    for marker in DueMarker.query(pk, DueMarker.sk.startswith("DUE#"), consistent_read=True):
        marker.delete()
    for grant in Counter.query(pk, Counter.sk.startswith("GRANT#"), consistent_read=True):
        grant.delete()
    done = {
        **result,
        "coupons": int(result.get("coupons", 0)) + coupons,
        "punch": int(result.get("punch", 0)) + punch,
        "complete": not incomplete,
    }
    Member(pk, PROFILE).update(actions=[Member.erasure.set(done)])
    return done


def _strip_orders(merchant_id: str, member_id: str) -> None:
    """Top-up orders keep amount, status and WeChat's transaction id for the books; the openid goes."""
    cursor: str | None = None
    while True:
        page = order_refs.topups(merchant_id, member_id, cursor, _PAGE)
        for order in page.items:
            if order.openid != ERASED:
                order.update(actions=[TopupOrder.openid.set(ERASED)])
        if page.cursor is None:
            return
        cursor = page.cursor


def _drop_wallet(merchant_id: str, member_id: str, now: Any) -> None:
    wallet = _wallet(merchant_id, member_id)
    if wallet is None:
        return
    tx = Transaction()
    if wallet.code:  # a code linked after the erasure read the wallet (a 卡包 activation racing it): its lookup too
        mine = Lookup.pk.does_not_exist() | (Lookup.target == member_id)
        tx.delete("lookup:WXCODE", Lookup(code_pk(merchant_id, wallet.code), LOOKUP), condition=mine)
    tx.update(
        "wallet",
        wallet,
        [
            MemberWallet.code.remove(),
            MemberWallet.status.set("DELETED"),
            MemberWallet.deleted_at.set(now),
            MemberWallet.due_pk.remove(),
            MemberWallet.due_sk.remove(),
        ],
    )
    tx.commit()
