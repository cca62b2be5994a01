"""Top-up plans (充值方案, e.g. 充300送50) the back office creates, edits and retires.

Plans live on the merchant row (a short list every top-up reads), so each change
is a `configuration.update` pinned to the row's version, with its audit record (old
and new values) in the same transaction. An order keeps the amount and bonus it
was made with, so editing or retiring a plan never changes an order already
made: a pending order of a retired plan is still credited with its bonus when
paid, and stays refundable. Retiring removes the plan from the list; the audit
trail keeps what it was.
"""

from __future__ import annotations

from mini_program_api.db.models import Merchant, TopupPlan
from mini_program_api.db.transact import Transaction
from mini_program_api.merchants import configuration, merchants
from mini_program_api.money import idempotency
from mini_program_api.platform import ids
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.staff import audit

MAX_PLANS = 20  # the list is on the merchant row and shown whole to members


def find(merchant: Merchant, plan_id: str) -> TopupPlan:
    plan = next((p for p in merchant.topup_plans if p.plan_id == plan_id), None)
    if plan is None:
        raise KabaoError("PLAN_NOT_FOUND", "no such top-up plan")
    return plan


def create(
    actor: Principal, plan_id: str | None, amount: int, bonus: int, idempotency_key: str | None = None
) -> TopupPlan:
    """With an Idempotency-Key a retry returns the plan made first (another plan under the key is 422);
    a given `plan_id` that exists is 409 ALREADY_EXISTS unless it is this very plan (a retry)."""
    req = None
    if idempotency_key is not None:
        req = idempotency.request(
            idempotency.client_key(actor.merchant_id, "topupplan", idempotency_key),
            actor.subject,
            "TOPUP_PLAN",
            {"plan_id": plan_id, "amount": amount, "bonus": bonus},
        )

    def run() -> TopupPlan:
        merchant = merchants.read(actor.merchant_id)
        new_id = plan_id or (req.key.derived_id("TP") if req else "TP" + ids.new_id()[:12])
        existing = next((p for p in merchant.topup_plans if p.plan_id == new_id), None)
        if existing is not None:
            if (int(existing.amount), int(existing.bonus)) == (amount, bonus):
                return existing
            raise KabaoError("ALREADY_EXISTS", f"top-up plan {new_id} already exists")
        if len(merchant.topup_plans) >= MAX_PLANS:
            raise KabaoError("TOO_MANY_PLANS", f"at most {MAX_PLANS} top-up plans; retire one first")
        _check(merchant, amount, bonus)
        plan = TopupPlan(plan_id=new_id, amount=amount, bonus=bonus)
        tx = Transaction()
        audit.record(tx, actor, "TOPUP_PLAN_CREATED", new_id, audit.changes(None, {"amount": amount, "bonus": bonus}))
        if req is not None:
            idempotency.stage(tx, req, {"plan_id": new_id})
        _save(actor.merchant_id, merchant, [*merchant.topup_plans, plan], tx)
        return plan

    if req is None:
        return run()
    return idempotency.once(
        req, run, lambda record: find(merchants.read(actor.merchant_id), str(record.result["plan_id"]))
    )


def edit(actor: Principal, plan_id: str, amount: int | None, bonus: int | None) -> TopupPlan:
    """New orders use the new amount and bonus; orders already made keep theirs."""
    merchant = merchants.read(actor.merchant_id)
    old = find(merchant, plan_id)
    new = TopupPlan(
        plan_id=plan_id,
        amount=int(old.amount) if amount is None else amount,
        bonus=int(old.bonus) if bonus is None else bonus,
    )
    before, after = {"amount": int(old.amount), "bonus": int(old.bonus)}, {"amount": new.amount, "bonus": new.bonus}
    if before == after:
        return old
    _check(merchant, int(new.amount), int(new.bonus))
    tx = Transaction()
    audit.record(tx, actor, "TOPUP_PLAN_CHANGED", plan_id, audit.changes(before, after))
    _save(actor.merchant_id, merchant, [new if p.plan_id == plan_id else p for p in merchant.topup_plans], tx)
    return new


def retire(actor: Principal, plan_id: str) -> None:
    merchant = merchants.read(actor.merchant_id)
    old = find(merchant, plan_id)
    tx = Transaction()
    audit.record(
        tx,
        actor,
        "TOPUP_PLAN_RETIRED",
        plan_id,
        audit.changes({"amount": int(old.amount), "bonus": int(old.bonus)}, None),
    )
    _save(actor.merchant_id, merchant, [p for p in merchant.topup_plans if p.plan_id != plan_id], tx)


def _check(merchant: Merchant, amount: int, bonus: int) -> None:
    if not 0 < amount <= int(merchant.prepaid_cap):
        raise KabaoError(
            "VALIDATION_ERROR", f"amount must be positive and at most the prepaid cap ({int(merchant.prepaid_cap)} fen)"
        )
    if not 0 <= bonus <= amount:
        raise KabaoError("VALIDATION_ERROR", "bonus is 0 up to the amount")


def _save(merchant_id: str, merchant: Merchant, plans: list[TopupPlan], tx: Transaction) -> None:
    configuration.update(merchant_id, [Merchant.topup_plans.set(plans)], tx, merchant)


def listed(merchant: Merchant) -> list[TopupPlan]:
    """The plans members choose from, cheapest first."""
    return sorted(merchant.topup_plans, key=lambda p: int(p.amount))
