"""The welcome gift: points and/or coupons from the merchant's settings, given when a card opens.

Given in the card opening's own transaction (members.open_card), which is conditional on
the card not being open yet, so a retried, repeated or racing opening gives nothing twice.
The points are a ledger operation (`welcome:card`, once per member, ever) and the gift's
operation record says what was given, coupons included; without points the record is
written alone, so every welcome gift leaves one.

A welcome coupon takes stock like a claim: one unit from a shard that held stock when
read, `left >= 1` in the same transaction. A template that is sold out, paused, ended or
past its window when the card opens is left out, and the record names it
(`sold_out`, `unavailable`): the card always opens. A shard emptied between the read and
the commit cancels the transaction, and the opening is planned again from fresh stock.
Gifts skip tier restrictions and the per-member claim limit, as the merchant's other gifts do; but a
welcome coupon counts towards that limit (its template may also be listed), so a member given one
cannot then claim more than the limit allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from mini_program_api.coupons import claims, stock, template_admin
from mini_program_api.db.coupon_templates import CouponTemplate, template_pk
from mini_program_api.db.coupons import Coupon
from mini_program_api.db.models import PROFILE, Member, Merchant, member_pk
from mini_program_api.db.transact import Transaction
from mini_program_api.members import due_dates
from mini_program_api.money import idempotency, ledger
from mini_program_api.money.ledger import Account, Operation
from mini_program_api.platform.errors import KabaoError
from mini_program_api.webhooks import events, outbox

OP_KEY = "welcome:card"
KIND = "WELCOME_GIFT"
MAX_TEMPLATES = 5
MAX_POINTS = 100_000
MEMBER_LABELS = ("member", "balance")  # the member row's label in the opening's transaction


@dataclass
class Plan:
    """What this opening gives, from stock and templates read just before its transaction."""

    points: int
    coupons: list[tuple[CouponTemplate, int, str]] = field(default_factory=list)  # template, shard, coupon id
    sold_out: list[str] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.points and not self.coupons and not self.sold_out and not self.unavailable

    def result(self) -> dict[str, str | int]:
        return {
            "points": self.points,
            "coupon_ids": ",".join(c for _, _, c in self.coupons),
            "sold_out": ",".join(self.sold_out),
            "unavailable": ",".join(self.unavailable),
        }


def usable(template: CouponTemplate, now: datetime) -> str | None:
    """Why a template cannot be a gift now, or None."""
    if template.points_price is not None:
        return "a points-mall reward is redeemed for points, not given"
    state = template_admin.status(template, now)
    return None if state == "active" else f"the template is {state}"


def validate(merchant_id: str, template_ids: list[str], now: datetime) -> None:
    """A welcome gift's templates must exist (404 TEMPLATE_NOT_FOUND) and be givable now (409 TEMPLATE_NOT_USABLE)."""
    if len(template_ids) > MAX_TEMPLATES or len(set(template_ids)) != len(template_ids):
        raise KabaoError("VALIDATION_ERROR", f"at most {MAX_TEMPLATES} distinct welcome templates")
    require_givable(merchant_id, template_ids, now)


def require_givable(merchant_id: str, template_ids: list[str], now: datetime) -> None:
    """The templates a merchant's gifts name (welcome, birthday, wake-up, a tier's monthly pack) must be its own
    (404 TEMPLATE_NOT_FOUND, also for another merchant's) and givable now (409 TEMPLATE_NOT_USABLE). Checked when
    the setting is written: the gift jobs would otherwise fail on a bad id at every run, unseen until then."""
    for template_id in template_ids:
        why = usable(template_admin.get(merchant_id, template_id), now)
        if why:
            raise KabaoError("TEMPLATE_NOT_USABLE", f"template {template_id}: {why}", template_id=template_id)


def coupon_id(member_id: str, template_id: str) -> str:
    return claims.coupon_id_for(f"welcome:{member_id}:{template_id}")


def plan(merchant: Merchant, member: Member, now: datetime) -> Plan:
    gift = Plan(points=int(merchant.welcome_points or 0))
    for template_id in [str(t) for t in merchant.welcome_template_ids or []]:
        try:
            template = CouponTemplate.get(template_pk(merchant.merchant_id), template_id, consistent_read=True)
        except CouponTemplate.DoesNotExist:
            gift.unavailable.append(template_id)
            continue
        if usable(template, now):
            gift.unavailable.append(template_id)
            continue
        shards = stock.stocked_shards(merchant.merchant_id, template)
        if not shards:
            gift.sold_out.append(template_id)
            continue
        gift.coupons.append((template, shards[0], coupon_id(member.member_id, template_id)))
    return gift


def stage(
    tx: Transaction,
    merchant: Merchant,
    member: Member,
    gift: Plan,
    actions: list[Action],
    condition: Condition,
    now: datetime,
) -> None:
    """Add the gift and the member row's update (`actions` under `condition`) to the opening's `tx`.

    The member row is labelled `member`, or `balance` when the gift posts points (see MEMBER_LABELS)."""
    mid, member_id = merchant.merchant_id, member.member_id
    for template, shard, cid in gift.coupons:
        stock.take(tx, f"welcome_stock:{template.template_id}", mid, template.template_id, shard)
        coupon = claims.new_coupon(mid, member_id, template, cid, now)
        tx.put(f"welcome_coupon:{template.template_id}", coupon, condition=Coupon.sk.does_not_exist())
        outbox.add(tx, mid, member_id, events.COUPON_CLAIMED, events.coupon(coupon))
        claims.count_towards_limit(
            tx, f"welcome_limit:{template.template_id}", member_pk(mid, member_id), template.template_id
        )
    if gift.points:
        op = Operation(
            OP_KEY, KIND, ledger.postings({Account.POINTS: gift.points}), memo=gift.result(), request={"welcome": 1}
        )
        ledger.stage(tx, mid, member_id, op, member_actions=actions, member_condition=condition)
        due_dates.earned_points(tx, merchant, member, gift.points, now)
        return
    if not gift.empty:
        key = idempotency.key(mid, OP_KEY, member_id)
        idempotency.stage(tx, idempotency.request(key, member_id, KIND, {"welcome": 1}), gift.result(), at=now)
    tx.update("member", Member(member_pk(mid, member_id), PROFILE), actions=actions, condition=condition)


def given(merchant_id: str, member_id: str) -> dict[str, object] | None:
    """What the member's welcome gift was (None: none was given)."""
    try:
        record = ledger.OperationRecord.get(
            *idempotency.key(merchant_id, OP_KEY, member_id).item_key, consistent_read=True
        )
    except ledger.OperationRecord.DoesNotExist:
        return None
    result = record.result.as_dict()
    split = lambda name: [v for v in str(result.get(name, "")).split(",") if v]  # noqa: E731
    return {
        "points": int(result.get("points", 0)),
        "coupon_ids": split("coupon_ids"),
        "sold_out": split("sold_out"),
        "unavailable": split("unavailable"),
    }
