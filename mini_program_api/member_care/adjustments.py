"""An admin's manual changes to one member, each with a required reason.

Every adjustment is one operation per Idempotency-Key (scopes `adjust`, `admincoupon`,
`punchvisits`: the merchant's, so one key never serves two members), and its audit
record, naming the member, is written in the operation's own transaction:

- points and growth, up or down, through the ledger: never below zero (409
  INSUFFICIENT_POINTS / INSUFFICIENT_GROWTH, nothing written). Growth added can raise
  the tier, in the same transaction (upgrades.after_growth, pinned to the member row);
  growth taken away never lowers the tier (as a refund's clawback: the annual review
  does) and leaves qualifying growth first, then the review's base
  (tiers.after_clawback), so qualifying growth never goes below zero. Points added are
  a lot that expires like any points earned now.
- bonus stored value, only given (a gift: 赠送). Principal is what the member paid and
  is never adjusted by hand, and a gift is not taken back by hand either.
- a coupon of a template: taken from its stock like a claim (the stock is the budget
  the merchant set for the template; 409 SOLD_OUT when it is spent), not counted
  against the member's claim limit, refused for a paused or ended template and for a
  member outside its tiers, as any gift of it is.
- visits added to one of the member's punch cards (not an expired one).
"""

from __future__ import annotations

from dataclasses import dataclass

from mini_program_api.coupons import claims, held, template_admin
from mini_program_api.db.coupons import Coupon
from mini_program_api.db.punch_cards import PunchCard
from mini_program_api.db.transact import Transaction
from mini_program_api.members import due_dates, members, tiers, upgrades
from mini_program_api.merchants import merchants
from mini_program_api.money import idempotency, ledger
from mini_program_api.money.ledger import Account, Operation, Posted, Posting
from mini_program_api.platform import clock
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.staff import audit
from mini_program_api.till import punch_cards

ACCOUNTS = {"points": Account.POINTS, "growth": Account.GROWTH, "bonus": Account.BONUS}
MAX_AMOUNT = 100_000_000


@dataclass(frozen=True)
class Adjusted:
    posted: Posted
    reason: str


def adjust(
    admin: Principal, member_id: str, account: str, amount: int, reason: str, idempotency_key: str | None
) -> Adjusted:
    """Post `amount` (signed) to the member's `account` (points, growth or bonus), once per key."""
    target = ACCOUNTS.get(account)
    if target is None or not amount or abs(amount) > MAX_AMOUNT:
        raise KabaoError("VALIDATION_ERROR", "account is points, growth or bonus; amount a non-zero integer")
    if target == Account.BONUS and amount < 0:
        raise KabaoError("VALIDATION_ERROR", "bonus stored value is only given by hand, never taken")
    merchant_id = admin.merchant_id
    key = idempotency.client_key(merchant_id, "adjust", idempotency_key)
    req = idempotency.request(key, member_id, "ADJUSTMENT", {"account": account, "amount": amount, "reason": reason})
    merchant = merchants.get(merchant_id)

    def attempt() -> Posted:
        member = members.get(merchant_id, member_id)
        members.require_card(member)
        now = clock.now()
        tx = Transaction()
        audit.record(
            tx,
            admin,
            "MEMBER_ADJUSTED",
            member_id,
            {"account": account, "amount": amount, "reason": reason},
            now,
            member_id=member_id,
        )
        actions, condition = [], None
        if target == Account.GROWTH and amount > 0:
            placement = upgrades.after_growth(tx, merchant, member, amount, now)
            actions, condition = placement.actions, placement.condition
        elif target == Account.GROWTH:
            if -amount > int(member.growth):
                raise KabaoError("INSUFFICIENT_GROWTH", f"the member has {int(member.growth)} growth")
            actions, condition = tiers.after_clawback(member, -amount, now), tiers.pinned(member)
        elif target == Account.POINTS and amount > 0:
            due_dates.earned_points(tx, merchant, member, amount, now)
        op = Operation(
            key.op_key, req.kind, (Posting(target, amount),), memo={"reason": reason, "by": admin.subject}, idem=req
        )
        return ledger.post(merchant_id, member_id, op, tx=tx, member_actions=actions, member_condition=condition)

    return Adjusted(idempotency.once(req, lambda: tiers.retrying(attempt), ledger.replayed), reason)


def issue_coupon(
    admin: Principal, member_id: str, template_id: str, reason: str, idempotency_key: str | None
) -> Coupon:
    """One coupon of the template to the member, from its stock (see the module docstring)."""
    merchant_id = admin.merchant_id
    key = idempotency.client_key(merchant_id, "admincoupon", idempotency_key)
    req = idempotency.request(key, member_id, "ADMIN_COUPON", {"template_id": template_id, "reason": reason})
    coupon_id = key.derived_id("C")

    def run() -> Coupon:
        template = template_admin.get(merchant_id, template_id)

        def audited(tx: Transaction) -> None:
            audit.record(
                tx,
                admin,
                "COUPON_ISSUED",
                member_id,
                {"template_id": template_id, "coupon_id": coupon_id, "reason": reason},
                member_id=member_id,
            )

        return claims.issue(merchant_id, member_id, template, coupon_id, per_member_limit=False, idem=req, also=audited)

    return idempotency.once(req, run, lambda _: held.owned(merchant_id, member_id, coupon_id))


def give_visits(
    admin: Principal, member_id: str, card_id: str, visits: int, reason: str, idempotency_key: str | None
) -> PunchCard:
    """Add `visits` uses to one of the member's punch cards (a ledger posting to the card)."""
    merchant_id = admin.merchant_id
    key = idempotency.client_key(merchant_id, "punchvisits", idempotency_key)
    req = idempotency.request(key, member_id, "PUNCH_VISITS", {"card_id": card_id, "visits": visits, "reason": reason})

    def run() -> PunchCard:
        members.get(merchant_id, member_id)
        card = punch_cards.get_card(merchant_id, member_id, card_id)
        if clock.now() >= card.valid_until:
            raise KabaoError("PUNCH_CARD_EXPIRED", "this punch card has expired")
        tx = Transaction()
        audit.record(
            tx,
            admin,
            "PUNCH_VISITS_GIVEN",
            member_id,
            {"card_id": card_id, "visits": visits, "reason": reason},
            member_id=member_id,
        )
        op = Operation(
            key.op_key,
            req.kind,
            (Posting(Account.PUNCH, visits, card_id),),
            memo={"card_id": card_id, "reason": reason, "by": admin.subject},
            idem=req,
        )
        ledger.post(merchant_id, member_id, op, tx=tx)
        return punch_cards.get_card(merchant_id, member_id, card_id)

    return idempotency.once(req, run, lambda _: punch_cards.get_card(merchant_id, member_id, card_id))
