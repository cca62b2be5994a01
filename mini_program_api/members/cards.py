"""Opening the membership card: the card number, the terms agreed, the welcome gift, the life-cycle lists and
the referral reward, all from the one transaction that opens it.

Apart from members/members.py because it reaches into the capabilities a card opening sets going (coupons through the
welcome gift, the life cycle, referrals), each of which reads members: kept together they made an import cycle.
"""

from __future__ import annotations

from datetime import date

from pynamodb.expressions.update import Action

from mini_program_api.db.models import LOOKUP, Lookup, Member, cardholders_pk, lookup_pk
from mini_program_api.db.transact import Cancelled, Transaction
from mini_program_api.members import consents, due_dates, members, names, referrals, welcome_gift
from mini_program_api.merchants import merchants
from mini_program_api.platform import clock, ids
from mini_program_api.platform.errors import KabaoError
from mini_program_api.reports import counters
from mini_program_api.webhooks import events, outbox

_CARD_NUMBER_ATTEMPTS = 5


def open_card(
    merchant_id: str, member_id: str, agreed_terms_version: str, name: str | None, birthday: date | None
) -> Member:
    """Activate the card; opening an already open card returns it (and settles a referral reward a
    crash may have left unpaid: the reward is idempotent). Once the merchant has bumped its terms
    version, this is where a cardholder agrees again: an older version is 409 TERMS_OUTDATED, the
    current one is recorded on the member. The welcome gift (members/welcome_gift.py) is given in the
    opening's own transaction, so only the opening that opens the card gives it."""
    member = members.get(merchant_id, member_id)
    merchant = merchants.get(merchant_id)
    if member.card_number:
        members.require_current_terms(merchant, agreed_terms_version)
        if member.terms_version != agreed_terms_version:
            tx = Transaction()
            tx.update("member", member, actions=[Member.terms_version.set(agreed_terms_version)])
            consents.stage_terms(tx, merchant_id, member_id, agreed_terms_version, clock.now())
            tx.commit()
        referrals.reward(merchant, member)
        return member
    if not member.phone_hash:
        raise KabaoError("PHONE_REQUIRED", "bind a phone number before opening the card")
    members.require_current_terms(merchant, agreed_terms_version)
    for _ in range(_CARD_NUMBER_ATTEMPTS):
        number = ids.card_number()
        now = clock.now()
        gift = welcome_gift.plan(merchant, member, now)
        tx = Transaction()
        tx.put(
            "card_number",
            Lookup(lookup_pk(merchant_id, "CARD", number), LOOKUP, target=member_id),
            condition=Lookup.pk.does_not_exist(),
        )
        actions: list[Action] = [
            Member.card_number.set(number),
            Member.card_opened_at.set(now),
            Member.terms_version.set(agreed_terms_version),
            # On the merchant's cardholder index from now on (issue jobs find members by filter there).
            Member.cards_pk.set(cardholders_pk(merchant_id, member_id)),
            Member.cards_sk.set(member_id),
        ]
        if name is not None:
            actions.append(Member.name.set(name))
            names.stage(tx, merchant_id, member_id, member.name, name)
        if birthday is not None:
            actions.append(Member.birthday.set(birthday.isoformat()))
        # Not erased: a deletion that committed after the read above must not get a name and a card back.
        unopened = Member.card_number.does_not_exist() & Member.erased_at.does_not_exist()
        welcome_gift.stage(tx, merchant, member, gift, actions, unopened, now)
        due_dates.card_opened(tx, merchant, member, birthday, now)
        consents.stage_terms(tx, merchant_id, member_id, agreed_terms_version, now)
        counters.member(tx, merchant_id, member_id, "cards", member.scene, now)
        outbox.add(tx, merchant_id, member_id, events.CARD_OPENED, {"card_number": number, "tier_id": member.tier_id})
        try:
            tx.commit()
        except Cancelled as exc:
            if set(exc.failed) & {*welcome_gift.MEMBER_LABELS, "operation"}:
                opened = members.get(merchant_id, member_id)  # a concurrent request opened it, or erased it
                members.require_not_erased(merchant_id, member_id)
                return opened
            continue  # card number collision, or a welcome coupon's shard ran dry: plan again
        opened = members.get(merchant_id, member_id)
        referrals.reward(merchant, opened)
        return opened
    raise KabaoError("CONCURRENT_UPDATE", "could not allocate a card number, retry")
