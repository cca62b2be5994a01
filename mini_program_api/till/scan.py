"""The counter after a scan: who this member is and what they can use at this store now.

Bounded: the first `READ` of the member's available coupons (soonest to expire first) and
of their punch cards are read, and those usable here now are shown; `more` says there
were more to read (the member's own lists page through all of them). The price of a sale
before it is charged is `checkout.preview`, the same code as the sale itself.
"""

from __future__ import annotations

from typing import NamedTuple

from mini_program_api.coupons import held, redemption
from mini_program_api.db.coupons import Coupon
from mini_program_api.db.models import Member, Merchant
from mini_program_api.db.punch_cards import PunchCard
from mini_program_api.members import member_codes, members
from mini_program_api.merchants import merchants
from mini_program_api.platform import clock
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.till import punch_cards

READ = 50


class AtCounter(NamedTuple):
    merchant: Merchant
    member: Member
    coupons: list[Coupon]
    coupons_more: bool
    punch_cards: list[PunchCard]
    punch_cards_more: bool


def scanned(staff: Principal, member_code: str) -> AtCounter:
    """The member behind a scanned code, with their coupons and punch cards usable at the staff's store now."""
    if not staff.store_id:
        raise KabaoError("FORBIDDEN", "this token is not bound to a store")
    merchant = merchants.get(staff.merchant_id)
    member = members.get(staff.merchant_id, member_codes.resolve(staff.merchant_id, member_code))
    members.require_card(member)
    now, store_id = clock.now(), staff.store_id
    coupons = held.mine(staff.merchant_id, member.member_id, "available", None, READ)
    cards = punch_cards.mine(staff.merchant_id, member.member_id, None, READ)

    def usable(coupon: Coupon) -> bool:
        try:
            redemption.check_usable(coupon, store_id, now, merchant.timezone)
        except KabaoError:
            return False
        return True

    return AtCounter(
        merchant,
        member,
        [c for c in coupons.items if usable(c)],
        coupons.cursor is not None,
        [c for c in cards.items if punch_cards.status(c) == "active" and (not c.store_ids or store_id in c.store_ids)],
        cards.cursor is not None,
    )
