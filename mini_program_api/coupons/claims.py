"""Claims, rewards and gifts: a coupon issued from a template's stock exactly once per coupon id.

A claim reads nothing before its transaction once its container holds the template (templates.get_template:
a copy kept `templates.CACHE_SECONDS`), then tries to take one unit from a random stock shard (stock.py) in the
same TransactWriteItems that writes the coupon and bumps the member's claim count; only when that shard is
empty does it read every shard (BatchGetItem) and try the non-empty ones, and the container remembers the
empty shards (and a sold-out template) for `stock.EMPTY_SECONDS`, so a drop's claims cost no read until the
stock runs low, and a sold-out drop costs each container one read per `stock.EMPTY_SECONDS` (a member's claim
may so be told SOLD_OUT that long after stock added through another container; a gift, whose SOLD_OUT is final,
always asks the shards):

- stock: `left >= 1` on the shard, so the sum over shards never goes below zero and exactly `total_stock`
  coupons can exist;
- per-member limit: `n < limit` on the member's CLAIMS#{tid} counter;
- distinct claimers: the same counter keeps the merchant-local day of the member's last coupon of the template;
  the claim guesses it is not today and counts a claimer (reports/counters.py `claimed`), conditional on that
  guess, and a wrong guess is retried the other way: one claimer per member, template and day, exactly, with
  no item that grows with the drop;
- the member: an open card (and, for a tier-only template, one of its tiers) is a condition check on the member
  item in the same transaction, not a read before it; the member is read only to say why that check failed;
- a pause or an end: at once through the container that made it, within `templates.CACHE_SECONDS` elsewhere
  (the container's copy of the template); no coupon beyond the stock either way;
- idempotency: a claim or reward is one operation per Idempotency-Key (money/idempotency.py, its record in the
  same transaction); the coupon's id comes from the key too.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action

from mini_program_api.coupons import eligibility, held, reminders, stock, templates
from mini_program_api.db.counters import Counter
from mini_program_api.db.coupon_templates import CouponTemplate
from mini_program_api.db.coupons import COUPON_TERMS, Coupon
from mini_program_api.db.models import PROFILE, Member, member_pk
from mini_program_api.db.transact import Cancelled, Transaction
from mini_program_api.members import members
from mini_program_api.money import idempotency, ledger
from mini_program_api.money.idempotency import Request
from mini_program_api.money.ledger import Account, Operation
from mini_program_api.platform import clock
from mini_program_api.platform.errors import KabaoError
from mini_program_api.reports import counters
from mini_program_api.telemetry import metrics
from mini_program_api.webhooks import events, outbox


def coupon_id_for(op_key: str) -> str:
    return "C" + hashlib.sha256(op_key.encode()).hexdigest()[:24]


def claim(merchant_id: str, member_id: str, template_id: str, idempotency_key: str | None) -> Coupon:
    """Claim one free offer (see the module docstring for what holds under concurrency)."""
    key = idempotency.client_key(merchant_id, "claim", idempotency_key, member_id)
    req = idempotency.request(key, member_id, "CLAIM", {"template_id": template_id})
    coupon_id = key.derived_id("C")
    return idempotency.once(
        req,
        lambda: issue(merchant_id, member_id, templates.get_template(merchant_id, template_id), coupon_id, idem=req),
        lambda _: held.owned(merchant_id, member_id, coupon_id),
    )


def redeem_reward(merchant_id: str, member_id: str, template_id: str, idempotency_key: str | None) -> Coupon:
    """Points mall: the points leave and the reward (a coupon, or a GIFT coupon for a gift) arrives
    in one transaction; no stock or too few points and nothing changes."""
    key = idempotency.client_key(merchant_id, "reward", idempotency_key, member_id)
    req = idempotency.request(key, member_id, "REWARD", {"template_id": template_id})
    coupon_id = key.derived_id("C")

    def run() -> Coupon:
        template = templates.get_template(merchant_id, template_id, reward=True)
        op = Operation(
            key.op_key,
            req.kind,
            ledger.postings({Account.POINTS: -int(template.points_price)}),
            memo={"template_id": template_id, "name": template.name, "coupon_id": coupon_id},
            idem=req,
        )
        return issue(merchant_id, member_id, template, coupon_id, points=op)

    return idempotency.once(req, run, lambda _: held.owned(merchant_id, member_id, coupon_id))


def claim_counter(mpk: str, template_id: str) -> Counter:
    """The member's count of one template's coupons that the per-member limit weighs (`n`)."""
    return Counter(mpk, f"CLAIMS#{template_id}")


def count_towards_limit(tx: Transaction, label: str, mpk: str, template_id: str) -> None:
    """A coupon given outside a claim that still counts against the template's per-member limit (a welcome
    gift, whose template may also be listed): unconditional, as the limit never refuses the gift itself."""
    tx.update(label, claim_counter(mpk, template_id), actions=[Counter.n.add(1)])


def new_coupon(merchant_id: str, member_id: str, template: CouponTemplate, coupon_id: str, now: datetime) -> Coupon:
    """A coupon of `template` for the member as claimed `now`: terms copied, on the reminder job's list."""
    valid_from = template.valid_from or now
    valid_until = template.valid_until or now + timedelta(days=int(template.days_after_claim))
    due_pk, due_sk = reminders.reminder_slot(coupon_id, valid_until)
    return Coupon(
        member_pk(merchant_id, member_id),
        f"COUPON#{coupon_id}",
        coupon_id=coupon_id,
        template_id=template.template_id,
        valid_from=valid_from,
        valid_until=valid_until,
        claimed_at=now,
        due_pk=due_pk,
        due_sk=due_sk,
        lsi1=held.state_key(held.AVAILABLE, valid_until, coupon_id),
        **{term: getattr(template, term) for term in COUPON_TERMS},
    )


def issue(
    merchant_id: str,
    member_id: str,
    template: CouponTemplate,
    coupon_id: str,
    points: Operation | None = None,
    per_member_limit: bool = True,
    idem: Request | None = None,
    also: Callable[[Transaction], None] | None = None,
) -> Coupon:
    """Issue one coupon of `template` from its stock, exactly once per `coupon_id`.

    `points` is a ledger operation paid in the same transaction (a reward's price, which
    carries its operation record); `idem` is the record of a claim without one. Gifts the
    merchant sends (birthday, wake-up, an admin's, issue jobs) skip the per-member claim limit.
    `also` adds the caller's own writes to the issuing transaction (an admin's audit record, an
    issue job's result and count): they commit with the coupon or not at all, so a coupon issued
    before is never audited or counted again.

    Without `points` the member is not read: its card and tier are a condition check in the
    transaction. With `points` the ledger writes the member item in that transaction (an item
    is touched once per transaction), so the member is read and checked first.
    """
    template_id = template.template_id
    mpk = member_pk(merchant_id, member_id)
    now = clock.now()
    if points is None:
        refusal = eligibility.why_closed(template, now)
    else:
        member = members.get(merchant_id, member_id)
        members.require_card(member)
        refusal = eligibility.why_unclaimable(template, member, now)
    if refusal:
        raise eligibility.refusal_error(refusal)
    coupon = new_coupon(merchant_id, member_id, template, coupon_id, now)
    limit = int(template.per_member_limit)
    today = counters.day_of(merchant_id, now)
    # The member's first coupon of this template today (a distinct claimer)? A guess, held as a condition: with a
    # limit of one (a drop's usual rule) it is right but for a gift given before, so nothing is read; with a
    # higher limit a member's second claim would cancel a whole transaction, so their count item is read first.
    first = limit == 1 or not per_member_limit or _last_claimed_day(mpk, template_id) != today
    known = stock.remembered(merchant_id, template_id)
    tried: set[int] = set()  # the shards this claim found empty (what it reads itself outweighs the memory)
    if points is None:
        # A guess, read nothing: most shards have stock (those this container saw empty are left out).
        untried = [i for i in range(int(template.shards)) if i not in known.empty]
        # A member's claim takes a remembered sell-out as its answer (they may claim again); a gift does not: its
        # SOLD_OUT is final (an issue job records it, a birthday gift waits a year), so it asks the shards.
        shard: int | None = random.choice(untried or list(range(int(template.shards))))
        if known.sold_out and idem is not None:
            shard = None
    else:  # a reward weighs the member's points in its transaction: sold out must be answered before that
        left = [i for i, n in stock.shard_stock(merchant_id, template).items() if n > 0]
        shard = random.choice(left) if left else None
    rounds = 0
    while shard is not None:
        rounds += 1
        tx = Transaction()
        stock.take(tx, "stock", merchant_id, template_id, shard)
        tx.put("coupon", coupon, condition=Coupon.sk.does_not_exist())
        counters.claimed(tx, merchant_id, coupon_id, now, template_id, first=first)
        outbox.add(tx, merchant_id, member_id, events.COUPON_CLAIMED, events.coupon(coupon))
        if points is None:
            tx.check("member", Member, mpk, PROFILE, eligibility.condition(template))
        _stage_claim_count(tx, mpk, template_id, today, first, limit if per_member_limit else None)
        if idem is not None:
            idempotency.stage(tx, idem, {"coupon_id": coupon_id, "template_id": template_id}, at=now)
        if also is not None:
            also(tx)
        try:
            if points is None:
                tx.commit()
            elif ledger.post(merchant_id, member_id, points, tx=tx).replayed:
                return _existing(mpk, coupon_id, template_id) or coupon
            if idem is not None:  # a member's claim (rewards and gifts come with no claim record)
                metrics.count(metrics.COUPON_CLAIMED, template_id=template_id)
            return coupon
        except Cancelled as exc:
            if "coupon" in exc.failed:
                return _existing(mpk, coupon_id, template_id) or coupon
            if "member" in exc.failed:
                raise eligibility.why_ineligible(merchant_id, member_id, template, now) from exc
            if "limit" in exc.failed:
                first = _claimed_today(mpk, template_id, today, limit if per_member_limit else None, first, rounds)
                continue  # the same shard: its stock was not what failed
            if "stock" not in exc.failed:
                raise  # e.g. one of the caller's own (`also`) writes was refused
            # That shard is empty: read them all (only now) and try a random one that is not.
            stock.remember(merchant_id, template_id, {shard})
            tried.add(shard)
            left = [i for i, n in stock.shard_stock(merchant_id, template).items() if n > 0 and i not in tried]
            shard = random.choice(left) if left else None
    # A retry of a claim that won the last unit finds no stock: it still gets its coupon back.
    replay = _existing(mpk, coupon_id, template_id)
    if replay is not None:
        return replay
    metrics.count(metrics.SOLD_OUT, template_id=template_id)
    raise KabaoError("SOLD_OUT", "this offer is sold out")


CLAIMED_DAY = "claimed_day"  # on the member's CLAIMS#{tid} counter: the merchant-local day of its last coupon


def _stage_claim_count(tx: Transaction, mpk: str, template_id: str, today: str, first: bool, limit: int | None) -> None:
    """The member's count of the template (`n`, weighed against `limit` when given) and the day of their last
    coupon of it. `first` guesses that day is not today (the claim then counts a distinct claimer, see
    counters.claimed): the guess is a condition, so a wrong one cancels the transaction and is retried with the
    other, and exactly one of a member's coupons of a day counts them as a claimer, whatever runs at once."""
    day = Path([CLAIMED_DAY])
    condition = (day.does_not_exist() | (day != today)) if first else (day == today)
    actions: list[Action] = [day.set(today)]
    if limit is not None:
        actions.append(Counter.n.add(1))
        condition = condition & (Counter.n.does_not_exist() | (Counter.n < limit))
    tx.update("limit", claim_counter(mpk, template_id), actions=actions, condition=condition)


def _last_claimed_day(mpk: str, template_id: str) -> str | None:
    """The day of the member's last coupon of the template, as last written (eventually consistent: a guess)."""
    item = Counter._get_connection().get_item(mpk, f"CLAIMS#{template_id}").get("Item", {})
    return item.get(CLAIMED_DAY, {}).get("S")


def _claimed_today(mpk: str, template_id: str, today: str, limit: int | None, guess: bool, rounds: int) -> bool:
    """The claim count's condition failed: a wrong guess of `first`, or the limit reached. Flipping the guess
    is free the first time; after that the counter is read to tell which (a claim at midnight may flip twice)."""
    if rounds == 1:
        return not guess
    item = Counter._get_connection().get_item(mpk, f"CLAIMS#{template_id}", consistent_read=True).get("Item", {})
    n = int(item["n"]["N"]) if "n" in item else 0
    if limit is not None and n >= limit:
        raise KabaoError("CLAIM_LIMIT_REACHED", f"at most {limit} of this coupon per member")
    if rounds > 5:
        raise KabaoError("CONCURRENT_UPDATE", "this claim met others of the same member; try again")
    return item.get(CLAIMED_DAY, {}).get("S") != today


def _existing(mpk: str, coupon_id: str, template_id: str) -> Coupon | None:
    try:
        coupon = Coupon.get(mpk, f"COUPON#{coupon_id}", consistent_read=True)
    except Coupon.DoesNotExist:
        return None
    if coupon.template_id != template_id:
        raise KabaoError("IDEMPOTENCY_KEY_REUSED", "this idempotency key was already used for another offer")
    return coupon
