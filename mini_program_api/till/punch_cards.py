"""Punch cards (次卡): "10 coffees", bought with stored value or given by an admin, used one visit per scan.

A card's uses are a ledger balance (account `punch`, per card, on the card item):
issuing posts +visits and creates the card in the same transaction, each use
posts -1 with `uses_left >= 1`, so uses never go below zero. Every purchase, gift
and scan is one operation per Idempotency-Key (money/idempotency.py): a retried scan uses
nothing twice, even after the member code expired, and the key of one scan cannot
be spent on another card. A card is usable until `valid_until` (`valid_days`
after issue); after that it is expired, whatever is left.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mini_program_api.db.models import Member, member_pk
from mini_program_api.db.punch_cards import PunchCard, PunchPlan, punch_plan_pk
from mini_program_api.db.transact import Transaction
from mini_program_api.members import member_codes, members
from mini_program_api.merchants import merchants
from mini_program_api.money import idempotency, ledger, stored_value
from mini_program_api.money.idempotency import Request
from mini_program_api.money.ledger import Account, Operation, Posting
from mini_program_api.platform import clock, ids, paging
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.staff import audit, stores
from mini_program_api.till import spending_password


def create_plan(
    actor: Principal,
    name: str,
    visits: int,
    valid_days: int,
    price: int | None,
    store_ids: list[str],
    idempotency_key: str | None = None,
) -> PunchPlan:
    """With an Idempotency-Key, a retry after a lost answer returns the plan made the first time
    (another plan under the same key is 422); without one, every call makes a plan."""
    stores.require_stores(actor.merchant_id, store_ids)
    fields: dict[str, Any] = {
        "name": name,
        "visits": visits,
        "valid_days": valid_days,
        "price": price,
        "stores": ",".join(store_ids),
    }
    req = None
    if idempotency_key is not None:
        req = idempotency.request(
            idempotency.client_key(actor.merchant_id, "punchplan", idempotency_key), actor.subject, "PUNCH_PLAN", fields
        )

    def run() -> PunchPlan:
        plan_id = req.key.derived_id("PP") if req else "PP" + ids.new_id()[:12]
        plan = PunchPlan(
            punch_plan_pk(actor.merchant_id),
            plan_id,
            merchant_id=actor.merchant_id,
            plan_id=plan_id,
            name=name,
            visits=visits,
            price=price,
            valid_days=valid_days,
            store_ids=store_ids,
            created_at=clock.now(),
        )
        tx = Transaction()
        tx.put("plan", plan)
        audit.record(tx, actor, "PUNCH_PLAN_CREATED", plan_id, {"name": name, "visits": visits})
        if req:
            idempotency.stage(tx, req, {"plan_id": plan_id})
        tx.commit()
        return plan

    if req is None:
        return run()
    return idempotency.once(req, run, lambda record: _plan(actor.merchant_id, str(record.result["plan_id"])))


def plans(merchant_id: str) -> list[PunchPlan]:
    return list(PunchPlan.query(punch_plan_pk(merchant_id)))


def plan_page(merchant_id: str, cursor: str | None, limit: int) -> paging.Page[PunchPlan]:
    return paging.partition(PunchPlan, punch_plan_pk(merchant_id), cursor, limit)


def _plan(merchant_id: str, plan_id: str) -> PunchPlan:
    try:
        return PunchPlan.get(punch_plan_pk(merchant_id), plan_id, consistent_read=True)
    except PunchPlan.DoesNotExist:
        raise KabaoError("PUNCH_PLAN_NOT_FOUND", "no such punch card plan") from None


def _issue(member: Member, plan: PunchPlan, req: Request, price: dict[Account, int], tx: Transaction) -> PunchCard:
    members.require_card(member)
    merchant_id, member_id = member.merchant_id, member.member_id
    now = clock.now()
    card_id = _card_id(req)
    card = PunchCard(
        member_pk(merchant_id, member_id),
        f"PUNCH#{card_id}",
        card_id=card_id,
        plan_id=plan.plan_id,
        name=plan.name,
        visits=plan.visits,
        uses_left=0,
        store_ids=list(plan.store_ids),
        valid_until=now + timedelta(days=int(plan.valid_days)),
        issued_at=now,
    )
    postings = ledger.postings(price) + (Posting(Account.PUNCH, int(plan.visits), card_id),)
    op = Operation(req.key.op_key, req.kind, postings, memo={"plan_id": plan.plan_id, "card_id": card_id}, idem=req)
    ledger.post(merchant_id, member_id, op, tx=tx, new_card=card)
    return get_card(merchant_id, member_id, card_id)


def _card_id(req: Request) -> str:
    return req.key.derived_id("P")


def _issued(req: Request) -> PunchCard:
    return get_card(req.key.merchant_id, req.member_id, _card_id(req))


def buy(
    merchant_id: str, member_id: str, plan_id: str, idempotency_key: str | None, password: str | None = None
) -> PunchCard:
    """The member buys a card with stored value (bonus first), card and payment in one transaction; above the
    password-free limit with the spending password (`spending_password.authorize_own`). The password is no
    part of the operation: a retry of a finished purchase returns it without asking again."""
    key = idempotency.client_key(merchant_id, "punchbuy", idempotency_key, member_id)
    req = idempotency.request(key, member_id, "PUNCH_BUY", {"plan_id": plan_id})

    def run() -> PunchCard:
        plan = _plan(merchant_id, plan_id)
        if plan.price is None:
            raise KabaoError("PUNCH_CARD_NOT_APPLICABLE", "this punch card is not for sale")
        member = members.get(merchant_id, member_id)
        debits = stored_value.debits(member, int(plan.price))
        spending_password.authorize_own(merchants.get(merchant_id), member, int(plan.price), password)
        return _issue(member, plan, req, debits, Transaction())

    return idempotency.once(req, run, lambda _: _issued(req))


def give(admin: Principal, member_id: str, plan_id: str, idempotency_key: str | None) -> PunchCard:
    key = idempotency.client_key(admin.merchant_id, "punchgive", idempotency_key)
    req = idempotency.request(key, member_id, "PUNCH_GIVE", {"plan_id": plan_id})

    def run() -> PunchCard:
        plan = _plan(admin.merchant_id, plan_id)
        tx = Transaction()
        audit.record(tx, admin, "PUNCH_CARD_GIVEN", member_id, {"plan_id": plan_id}, member_id=member_id)
        return _issue(members.get(admin.merchant_id, member_id), plan, req, {}, tx)

    return idempotency.once(req, run, lambda _: _issued(req))


def get_card(merchant_id: str, member_id: str, card_id: str) -> PunchCard:
    try:
        return PunchCard.get(member_pk(merchant_id, member_id), f"PUNCH#{card_id}", consistent_read=True)
    except PunchCard.DoesNotExist:
        raise KabaoError("PUNCH_CARD_NOT_FOUND", "this member has no such punch card") from None


def mine(merchant_id: str, member_id: str, cursor: str | None = None, limit: int = 100) -> paging.Page[PunchCard]:
    """One page of the member's cards: reads only that page, however many cards they ever held."""
    return paging.query(
        PunchCard.query,
        member_pk(merchant_id, member_id),
        {"sk": "PUNCH#"},
        cursor,
        limit,
        range_key_condition=PunchCard.sk.startswith("PUNCH#"),
    )


def use(staff: Principal, member_code: str, card_id: str, idempotency_key: str | None) -> PunchCard:
    """Staff scan: one visit off the card, recorded with staff and store."""
    key = idempotency.client_key(staff.merchant_id, "punchuse", idempotency_key)
    member_id = member_codes.resolve(staff.merchant_id, member_code, retry_of=key)
    req = idempotency.request(
        key, member_id, "PUNCH_USE", {"card_id": card_id, "store_id": staff.store_id}, member_code=member_code
    )

    def run() -> PunchCard:
        card = get_card(staff.merchant_id, member_id, card_id)
        if clock.now() >= card.valid_until:
            raise KabaoError("PUNCH_CARD_EXPIRED", "this punch card has expired")
        if card.store_ids and staff.store_id not in card.store_ids:
            raise KabaoError("PUNCH_CARD_NOT_APPLICABLE", "this punch card is not usable at this store")
        tx = Transaction()
        audit.record(tx, staff, "PUNCH_CARD_USED", card_id, {"member_id": member_id})
        op = Operation(
            key.op_key,
            req.kind,
            (Posting(Account.PUNCH, -1, card_id),),
            memo={"card_id": card_id, "store_id": staff.store_id or ""},
            idem=req,
        )
        ledger.post(staff.merchant_id, member_id, op, tx=tx)
        return get_card(staff.merchant_id, member_id, card_id)

    return idempotency.once(req, run, lambda _: get_card(staff.merchant_id, member_id, card_id))


def status(card: PunchCard) -> str:
    if clock.now() >= card.valid_until:
        return "expired"
    return "used_up" if int(card.uses_left) <= 0 else "active"
