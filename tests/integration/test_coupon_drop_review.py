"""An adversarial review of the hot coupon drop (issue 26 §1): the edges of the container's memory of a
template's stock, of the per-member limit under concurrent claims, of the claimers' day, and of a big
stock's creation outside the template's transaction. A test that names a defect failed before its fix; the
others hold what the review tried to break and could not."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from pynamodb.expressions.operand import Path

from mini_program_api.coupons import claims, stock, templates
from mini_program_api.coupons.templates import TemplateSpec
from mini_program_api.db.counters import Counter
from mini_program_api.db.coupon_templates import CouponTemplate, StockShard, stock_pk, template_pk
from mini_program_api.platform import clock as product_clock
from mini_program_api.platform.errors import KabaoError
from mini_program_api.reports import counters
from mini_program_api.reports.models import ReportCounter
from tests import timeline
from tests.integration.test_coupon_drop import _held, _try_claim


def _spec(total_stock: int, per_member_limit: int = 1, name: str = "爆款券") -> TemplateSpec:
    return TemplateSpec(
        name=name,
        kind="CASH",
        amount=500,
        total_stock=total_stock,
        per_member_limit=per_member_limit,
        days_after_claim=7,
    )


def _set_stock(mid: str, tid: str, left: dict[int, int]) -> None:
    for i, n in left.items():
        StockShard(stock_pk(mid, tid, i), "STOCK").update(actions=[StockShard.left.set(n)])


def test_a_stock_read_that_a_restock_here_overtakes_is_not_remembered(
    api: Any, merchant: Any, monkeypatch: Any
) -> None:
    """The last unit is gone; a claim reads every shard (all empty), and before it keeps what it read as "sold
    out", this container's admin adds stock (which forgets the memory). Kept after that forget, the stale read
    answered SOLD_OUT here for the whole bound, where stock added in this container is claimable at once."""
    mid = merchant.merchant_id
    admin = api.admin_token(merchant)
    tid = templates.create_template(mid, _spec(1, per_member_limit=10)).template_id
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    assert _try_claim(merchant, member_id, tid) == "ok"
    read = StockShard.batch_get
    restocked: list[int] = []

    def overtaken(*args: Any, **kwargs: Any) -> Any:
        got = list(read(*args, **kwargs))
        if not restocked:
            restocked.append(1)
            status, body = api.patch(f"/v1/admin/coupon-templates/{tid}", {"total_stock": 2}, token=admin)
            assert status == 200, body
        return got

    monkeypatch.setattr(StockShard, "batch_get", overtaken)
    assert _try_claim(merchant, member_id, tid) == "SOLD_OUT"  # its read came before the restock
    monkeypatch.undo()
    assert restocked
    assert _try_claim(merchant, member_id, tid) == "ok"  # the restock was made here: at once
    assert _held(merchant, member_id) == 2


def test_stock_that_a_claims_own_read_finds_is_claimed_whatever_the_container_remembered(
    api: Any, merchant: Any
) -> None:
    """The container saw shard 0 empty a moment ago; another container's restock filled it since, and the other
    shards ran dry. The claim's guess fails, it reads every shard consistently and finds the unit on shard 0: it
    answered SOLD_OUT (the remembered shard was left out of what its own read found), a refusal with the stock
    in hand."""
    mid = merchant.merchant_id
    tid = templates.create_template(mid, _spec(3, per_member_limit=10)).template_id
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    _set_stock(mid, tid, {0: 0, 1: 1, 2: 1})
    stock.remember(mid, tid, {0})  # what this container saw (shard 0 empty, the others not)
    _set_stock(mid, tid, {0: 1, 1: 0, 2: 0})  # another container's restock, then claims elsewhere
    assert _try_claim(merchant, member_id, tid) == "ok"
    assert _held(merchant, member_id) == 1
    assert _try_claim(merchant, member_id, tid) == "SOLD_OUT"


def test_a_refused_creation_of_a_big_stock_writes_no_stock(api: Any, merchant: Any) -> None:
    """An Idempotency-Key used again for another template is refused (422) and must change nothing; a big
    stock's shards are put before the template's transaction, so the refused spec's shards beyond the first
    template's were written (orphan stock items, one per 1000 units)."""
    mid = merchant.merchant_id
    key = uuid.uuid4().hex
    first = templates.create_template(mid, _spec(17_000), idempotency_key=key)
    assert int(first.shards) == 17
    try:
        templates.create_template(mid, _spec(40_000, name="另一张"), idempotency_key=key)
        raise AssertionError("a reused key was accepted")
    except KabaoError as exc:
        assert exc.code == "IDEMPOTENCY_KEY_REUSED"
    tid = first.template_id
    beyond = [i for i in range(17, 40) if StockShard.count(stock_pk(mid, tid, i), consistent_read=True)]
    assert beyond == []
    assert stock.remaining_stock(mid, first) == 17_000
    again = templates.create_template(mid, _spec(17_000), idempotency_key=key)  # the same again: the same one
    assert again.template_id == tid and stock.remaining_stock(mid, again) == 17_000


def test_stock_added_to_a_drained_256_shard_drop_is_claimed_to_the_last_unit_and_no_further(
    api: Any, merchant: Any, clock: timeline.Clock
) -> None:
    """A drained 256-shard drop (this container remembers it sold out) gets 100 more units through this
    container's admin: they go to the first 64 shards only, and 130 concurrent claims (threads against DynamoDB
    Local) find exactly those 100 (the empty-shard memory hides none of them, and nothing is oversold). Then 20
    more added by another container: SOLD_OUT here until the bound has passed, then all 20."""
    mid = merchant.merchant_id
    admin = api.admin_token(merchant)
    template = templates.create_template(mid, _spec(256_000, per_member_limit=100))
    tid = template.template_id
    _set_stock(mid, tid, dict.fromkeys(range(256), 0))
    people = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(5)]
    assert _try_claim(merchant, people[0], tid) == "SOLD_OUT"
    assert stock.remembered(mid, tid).sold_out

    status, body = api.patch(f"/v1/admin/coupon-templates/{tid}", {"total_stock": 256_100}, token=admin)
    assert status == 200, body
    left = stock.shard_stock(mid, template)
    assert sum(left.values()) == 100 and {i for i, n in left.items() if n} == set(range(64))
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda i: _try_claim(merchant, people[i % 5], tid), range(130)))
    assert outcomes.count("ok") == sum(_held(merchant, p) for p in people) == 100, outcomes
    assert stock.remaining_stock(mid, template) == 0

    for i in range(20):  # another container's restock (its forget never reaches this one)
        StockShard(stock_pk(mid, tid, i), "STOCK").update(actions=[StockShard.left.add(1)])
    assert _try_claim(merchant, people[0], tid) == "SOLD_OUT"  # within the bound: the memory
    clock.advance(seconds=stock.EMPTY_SECONDS)
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda i: _try_claim(merchant, people[i % 5], tid), range(30)))
    assert outcomes.count("ok") == 20, outcomes
    assert stock.remaining_stock(mid, template) == 0


def test_one_members_concurrent_claims_never_pass_the_limit_and_are_told_why(api: Any, merchant: Any) -> None:
    """Eight claims of one member at once (threads against DynamoDB Local), a limit of two: two coupons, the
    others CLAIM_LIMIT_REACHED (never a third coupon; a 409 the member cannot act on is not an answer)."""
    mid = merchant.merchant_id
    tid = templates.create_template(mid, _spec(100, per_member_limit=2)).template_id
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: _try_claim(merchant, member_id, tid), range(8)))
    assert _held(merchant, member_id) == 2
    assert outcomes.count("ok") == 2, outcomes
    assert set(outcomes) == {"ok", "CLAIM_LIMIT_REACHED"}, outcomes


def test_a_claimer_is_counted_on_each_side_of_the_merchants_midnight(
    api: Any, merchant: Any, clock: timeline.Clock
) -> None:
    """23:59:59 and 00:00:01 Asia/Shanghai are two days (16:00 UTC, not 00:00 UTC, is the line)."""
    mid = merchant.merchant_id
    day = timeline.today()
    clock.set(timeline.local(day, 23, 59, 59))
    tid = templates.create_template(mid, _spec(100, per_member_limit=5)).template_id
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    assert _try_claim(merchant, member_id, tid) == "ok"
    assert _try_claim(merchant, member_id, tid) == "ok"
    clock.advance(seconds=2)
    assert _try_claim(merchant, member_id, tid) == "ok"
    rows = counters.claim_rows(mid, day.isoformat(), (day + timedelta(days=1)).isoformat())
    assert rows[day.isoformat()][f"claimers_{tid}"] == 1
    assert rows[day.isoformat()][f"claims_{tid}"] == 2
    assert rows[(day + timedelta(days=1)).isoformat()][f"claimers_{tid}"] == 1


def test_a_gift_is_not_refused_by_a_remembered_sell_out_that_a_restock_elsewhere_ended(api: Any, merchant: Any) -> None:
    """This container remembers the template sold out; another container's admin has added stock since. A
    member's claim may be told SOLD_OUT for the bound (they can claim again), but a gift's SOLD_OUT is final:
    the birthday job moves its member to next year and an issue job records the member as failed. A gift, issued
    as those jobs issue it (no claim record, no per-member limit), was refused from the memory without a read."""
    mid = merchant.merchant_id
    tid = templates.create_template(mid, _spec(1)).template_id
    first, second = (api.member_with_card(merchant)["member"]["member_id"] for _ in range(2))
    assert _try_claim(merchant, first, tid) == "ok"
    assert _try_claim(merchant, second, tid) == "SOLD_OUT"
    assert stock.remembered(mid, tid).sold_out
    _set_stock(mid, tid, {0: 1})  # another container's restock (its forget never reaches this one)
    assert _try_claim(merchant, second, tid) == "SOLD_OUT"  # a member's claim: the memory, within its bound
    template = CouponTemplate.get(template_pk(mid), tid)
    gift = claims.coupon_id_for(f"birthday:{second}:{uuid.uuid4().hex}")
    claims.issue(mid, second, template, gift, per_member_limit=False)  # as members/lifecycle.py gives one
    assert _held(merchant, second) == 1
    assert stock.remaining_stock(mid, template) == 0


def test_the_funnel_of_the_day_of_the_change_adds_the_old_counters_and_a_retried_claim_counts_once(
    api: Any, merchant: Any, clock: timeline.Clock
) -> None:
    """The day claims moved to their own shards: 3 claims by 2 members counted the old way (`claims_{tid}` on
    a report shard, the members in the exposure item's `c_{tid}` set), then a new member claims and retries
    with the same Idempotency-Key (one coupon, one claim, one claimer), and a gift job gives another member
    one: the funnel reads 5 claims and 4 claimers."""
    mid = merchant.merchant_id
    tid = templates.create_template(mid, _spec(100, per_member_limit=5)).template_id
    day = counters.day_of(mid, product_clock.now())
    old = ReportCounter(counters.row_pk(mid, 3), f"D#{day}#COUPON")
    old.update(actions=[Path([f"claims_{tid}"]).add(3)])
    for member in ("old-member-1", "old-member-2"):
        pk = counters.exposure_pk(mid, day, member)
        Counter(pk, "COUNT").update(actions=[Path([f"c_{tid}"]).add({counters.person(member)})])
    fresh, gifted = (api.member_with_card(merchant)["member"]["member_id"] for _ in range(2))
    key = uuid.uuid4().hex
    coupon = claims.claim(mid, fresh, tid, key)
    assert claims.claim(mid, fresh, tid, key).coupon_id == coupon.coupon_id
    template = CouponTemplate.get(template_pk(mid), tid)
    claims.issue(mid, gifted, template, claims.coupon_id_for(f"job:{uuid.uuid4().hex}"), per_member_limit=False)
    status, body = api.get(f"/v1/admin/reports/funnel?from={day}&to={day}", token=api.admin_token(merchant))
    assert status == 200, body
    row = next(r for r in body["rows"] if r["template_id"] == tid)
    assert (row["claims"], row["claimers"]) == (5, 4)


def test_a_member_given_a_listed_offer_as_a_gift_still_lists_the_offers(api: Any, merchant: Any) -> None:
    """A gift (an issue job's, a birthday's: no per-member limit) now writes the day of the member's last
    coupon on their CLAIMS#{tid} item without its count `n`; the offers listing reads `n` from that item and
    must take a missing count as 0, not fail with a 500."""
    mid = merchant.merchant_id
    tid = templates.create_template(mid, _spec(100, per_member_limit=2)).template_id
    session = api.member_with_card(merchant)
    member_id = session["member"]["member_id"]
    template = CouponTemplate.get(template_pk(mid), tid)
    claims.issue(mid, member_id, template, claims.coupon_id_for(f"job:{uuid.uuid4().hex}"), per_member_limit=False)
    status, body = api.get("/v1/coupons/offers", token=session["token"])
    assert status == 200, body
    offer = next(o for o in body["offers"] if o["template_id"] == tid)
    assert offer["claimed"] == 0  # a gift is not one of the member's claims (it never counted against the limit)
    assert _try_claim(merchant, member_id, tid) == "ok"
    assert _try_claim(merchant, member_id, tid) == "ok"
    assert _try_claim(merchant, member_id, tid) == "CLAIM_LIMIT_REACHED"
