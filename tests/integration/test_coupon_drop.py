"""A hot coupon drop (issue 26 §1, bench/README.md heat): what a claim no longer reads or writes, and that every
rule still holds — stock exact over shards sized by the stock, distinct claimers counted without a growing set,
a pause reaching claims within the template cache's bound, a sold-out answer remembered only that long, the offers'
shelf copied per container within the same bound (never what is the member's)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from typing import Any

from mini_program_api.coupons import claims, reminders, shelf, stock, templates
from mini_program_api.coupons.templates import TemplateSpec
from mini_program_api.db.coupon_templates import CouponTemplate, StockShard, stock_pk, template_pk
from mini_program_api.db.coupons import Coupon
from mini_program_api.db.models import PROFILE, Member, member_pk
from mini_program_api.platform import clock as product_clock
from mini_program_api.platform.errors import KabaoError
from mini_program_api.reports import counters
from tests import timeline


def _spec(total_stock: int, per_member_limit: int = 1) -> TemplateSpec:
    return TemplateSpec(
        name="爆款券",
        kind="CASH",
        amount=500,
        total_stock=total_stock,
        per_member_limit=per_member_limit,
        days_after_claim=7,
    )


def _try_claim(merchant: Any, member_id: str, template_id: str, key: str | None = None) -> str:
    try:
        claims.claim(merchant.merchant_id, member_id, template_id, key or uuid.uuid4().hex)
        return "ok"
    except KabaoError as exc:
        return exc.code


def _held(merchant: Any, member_id: str) -> int:
    pk = member_pk(merchant.merchant_id, member_id)
    return sum(1 for _ in Coupon.query(pk, Coupon.sk.startswith("COUPON#"), consistent_read=True))


def _funnel(api: Any, merchant: Any, day: str) -> dict[str, dict[str, Any]]:
    status, body = api.get(f"/v1/admin/reports/funnel?from={day}&to={day}", token=api.admin_token(merchant))
    assert status == 200, body
    return {row["template_id"]: row for row in body["rows"]}


def _today(merchant: Any) -> str:
    return product_clock.local_date(merchant.timezone, product_clock.now()).isoformat()


def test_a_big_stock_gets_shards_by_its_size_and_a_drained_drop_never_oversells(
    api: Any, merchant: Any, clock: timeline.Clock
) -> None:
    """256 shards (more than one BatchGetItem reads, more than one transaction creates); 10 units left on 5 of
    them; 60 concurrent claims by 10 members against DynamoDB Local give exactly 10 coupons (the clock held:
    the funnel's day is the claims' day, whatever the hour the test runs)."""
    mid = merchant.merchant_id
    template = templates.create_template(mid, _spec(300_000, per_member_limit=100))
    assert int(template.shards) == stock.MAX_STOCK_SHARDS == 256
    assert stock.remaining_stock(mid, template) == 300_000
    tid = template.template_id
    for i in range(256):  # the drop ran: only shards 7, 70, 130, 200 and 255 hold 2 units each
        shard = StockShard(stock_pk(mid, tid, i), "STOCK")
        shard.update(actions=[StockShard.left.set(2 if i in (7, 70, 130, 200, 255) else 0)])
    people = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(10)]
    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(lambda i: _try_claim(merchant, people[i % 10], tid), range(60)))
    held_now = {p: _held(merchant, p) for p in people}
    assert outcomes.count("ok") == sum(held_now.values()) == 10, outcomes
    assert set(outcomes) == {"ok", "SOLD_OUT"}
    assert stock.remaining_stock(mid, template) == 0
    row = _funnel(api, merchant, _today(merchant))[tid]
    assert (row["claims"], row["claimers"]) == (10, sum(1 for n in held_now.values() if n))


def test_claimers_are_counted_once_per_member_and_day_without_a_set_that_grows(
    api: Any, merchant: Any, clock: timeline.Clock
) -> None:
    """A member's concurrent claims of one template count one claimer, another member one more; the next local
    day the first member counts again. No exposure item takes a claimer (its set grew with every claimer)."""
    mid = merchant.merchant_id
    tid = templates.create_template(mid, _spec(100, per_member_limit=5)).template_id
    first, second = (api.member_with_card(merchant)["member"]["member_id"] for _ in range(2))
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: _try_claim(merchant, first, tid), range(4)))
    assert outcomes == ["ok"] * 4
    assert _try_claim(merchant, second, tid) == "ok"
    day1 = _today(merchant)
    row = _funnel(api, merchant, day1)[tid]
    assert (row["claims"], row["claimers"]) == (5, 2)
    exposure = counters.exposure_items(mid, [day1])[day1]
    assert not [name for item in exposure for name in item if name.startswith("c_")]

    clock.advance(days=1)
    assert _try_claim(merchant, first, tid) == "ok"
    assert _try_claim(merchant, first, tid) == "CLAIM_LIMIT_REACHED"  # 5 in all: the limit holds across days
    day2 = _today(merchant)
    assert day2 != day1
    row = _funnel(api, merchant, day2)[tid]
    assert (row["claims"], row["claimers"]) == (1, 1)
    assert _funnel(api, merchant, day1)[tid]["claimers"] == 2


def test_a_claim_retried_with_its_key_returns_its_coupon_from_a_drained_drop(api: Any, merchant: Any) -> None:
    mid = merchant.merchant_id
    tid = templates.create_template(mid, _spec(1)).template_id
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    key = uuid.uuid4().hex
    coupon = claims.claim(mid, member_id, tid, key)
    other = api.member_with_card(merchant)["member"]["member_id"]
    assert _try_claim(merchant, other, tid) == "SOLD_OUT"  # this container now remembers it sold out
    assert claims.claim(mid, member_id, tid, key).coupon_id == coupon.coupon_id
    assert _held(merchant, member_id) == 1


def test_a_pause_made_elsewhere_reaches_claims_within_the_cache_bound_and_one_made_here_at_once(
    api: Any, merchant: Any, clock: timeline.Clock
) -> None:
    mid = merchant.merchant_id
    admin = api.admin_token(merchant)
    tid = templates.create_template(mid, _spec(100, per_member_limit=10)).template_id
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    assert _try_claim(merchant, member_id, tid) == "ok"  # this container now holds the template

    # Another container pauses it (its write never reaches this container's copy).
    CouponTemplate(template_pk(mid), tid).update(actions=[CouponTemplate.active.set(False)])
    clock.advance(seconds=templates.CACHE_SECONDS - 1)
    assert _try_claim(merchant, member_id, tid) == "ok"  # within the bound: still the copy
    clock.advance(seconds=1)
    assert _try_claim(merchant, member_id, tid) == "OFFER_NOT_AVAILABLE"

    status, body = api.post(f"/v1/admin/coupon-templates/{tid}/resume", token=admin)
    assert status == 200, body
    assert _try_claim(merchant, member_id, tid) == "ok"  # resumed here: at once
    status, body = api.post(f"/v1/admin/coupon-templates/{tid}/pause", token=admin)
    assert status == 200, body
    assert _try_claim(merchant, member_id, tid) == "OFFER_NOT_AVAILABLE"  # paused here: at once


def test_a_sold_out_drop_is_remembered_within_its_bound_and_stock_added_here_is_claimable_at_once(
    api: Any, merchant: Any, clock: timeline.Clock
) -> None:
    mid = merchant.merchant_id
    admin = api.admin_token(merchant)
    tid = templates.create_template(mid, _spec(1, per_member_limit=10)).template_id
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    assert _try_claim(merchant, member_id, tid) == "ok"
    assert _try_claim(merchant, member_id, tid) == "SOLD_OUT"

    status, body = api.patch(f"/v1/admin/coupon-templates/{tid}", {"total_stock": 2}, token=admin)
    assert status == 200, body
    assert _try_claim(merchant, member_id, tid) == "ok"  # stock added in this container: at once
    assert _try_claim(merchant, member_id, tid) == "SOLD_OUT"

    # Stock added by another container: this one answers SOLD_OUT from memory until the bound has passed.
    StockShard(stock_pk(mid, tid, 0), "STOCK").update(actions=[StockShard.left.add(1)])
    assert _try_claim(merchant, member_id, tid) == "SOLD_OUT"
    clock.advance(seconds=stock.EMPTY_SECONDS)
    assert _try_claim(merchant, member_id, tid) == "ok"
    assert _held(merchant, member_id) == 3


def test_a_drops_reminders_spread_over_the_reminder_lists_128_shards() -> None:
    """Every coupon of a fixed window is due for its reminder at one instant: 128 partitions take them."""
    from mini_program_api.jobs import due

    until = product_clock.now() + timedelta(days=10)
    slots = {reminders.reminder_slot(f"C{i:06d}", until)[0] for i in range(4000)}
    assert len(slots) == due.shards_of(reminders.REMINDER_JOB) == 128


def test_a_template_read_while_this_container_changes_it_is_not_kept(api: Any, merchant: Any, monkeypatch: Any) -> None:
    """A claim's read of the template that the same container's pause overtakes (read before the pause commits,
    kept after it forgot the copy) would keep the active template for the whole bound: it is not kept."""
    mid = merchant.merchant_id
    tid = templates.create_template(mid, _spec(100, per_member_limit=10)).template_id
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    read = CouponTemplate.get

    def overtaken(*args: Any, **kwargs: Any) -> CouponTemplate:
        got = read(*args, **kwargs)
        CouponTemplate(template_pk(mid), tid).update(actions=[CouponTemplate.active.set(False)])
        templates.forget(mid, tid)  # what template_admin does once its change committed
        return got

    monkeypatch.setattr(CouponTemplate, "get", overtaken)
    assert templates.get_template(mid, tid).active  # that read saw it before the pause
    monkeypatch.undo()
    assert _try_claim(merchant, member_id, tid) == "OFFER_NOT_AVAILABLE"


def _listed(merchant: Any, member_id: str) -> dict[str, int]:
    """What the member's listing shows: template id -> how many of it they hold."""
    return {o.template.template_id: o.claimed for o in shelf.offers(merchant.merchant_id, member_id)}


def test_a_template_changed_here_is_listed_at_once_and_one_changed_elsewhere_within_the_cache_bound(
    api: Any, merchant: Any, clock: timeline.Clock, monkeypatch: Any
) -> None:
    """The listing's shelf is this container's copy (shelf.CACHE_SECONDS): a creation, pause, resume or end made
    here shows at the next listing; one made elsewhere within the bound, and meanwhile the claim refuses what a
    stale listing still shows."""
    mid = merchant.merchant_id
    admin = api.admin_token(merchant)
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    first = templates.create_template(mid, _spec(100)).template_id
    assert _listed(merchant, member_id) == {first: 0}  # this container now holds the shelf
    second = templates.create_template(mid, _spec(100)).template_id
    assert _listed(merchant, member_id) == {first: 0, second: 0}  # created here: at once
    for action, shown in (("pause", {first: 0}), ("resume", {first: 0, second: 0})):
        status, body = api.post(f"/v1/admin/coupon-templates/{second}/{action}", token=admin)
        assert status == 200, body
        assert _listed(merchant, member_id) == shown  # paused, resumed here: at once
    status, body = api.post(f"/v1/admin/coupon-templates/{first}/end", token=admin)
    assert status == 200, body
    assert _listed(merchant, member_id) == {second: 0}  # ended here: at once

    # Another container creates a template and ends `second`: it forgets its own copy of the shelf, not this one's.
    monkeypatch.setattr(shelf, "forget", lambda merchant_id: None)
    third = templates.create_template(mid, _spec(100)).template_id
    status, body = api.post(f"/v1/admin/coupon-templates/{second}/end", token=admin)
    assert status == 200, body
    monkeypatch.undo()
    clock.advance(seconds=shelf.CACHE_SECONDS - 1)
    assert _listed(merchant, member_id) == {second: 0}  # within the bound: the copy, stale
    assert _try_claim(merchant, member_id, second) == "OFFER_NOT_AVAILABLE"  # the claim decides, as ever
    clock.advance(seconds=1)
    assert _listed(merchant, member_id) == {third: 0}


def test_what_a_listing_shows_of_the_member_is_read_per_listing_never_copied(
    api: Any, merchant: Any, clock: timeline.Clock
) -> None:
    """Within the shelf's bound, two members see their own tiers and holdings, and each listing counts its view."""
    mid = merchant.merchant_id
    everyone = templates.create_template(mid, _spec(100, per_member_limit=5)).template_id
    gold = templates.create_template(mid, replace(_spec(100), tier_ids=("gold",))).template_id
    one, other = (api.member_with_card(merchant)["member"]["member_id"] for _ in range(2))
    assert _listed(merchant, one) == {everyone: 0}
    assert _try_claim(merchant, one, everyone) == "ok"
    assert _listed(merchant, one) == {everyone: 1}  # what they hold: read now
    assert _listed(merchant, other) == {everyone: 0}
    Member(member_pk(mid, other), PROFILE).update(actions=[Member.tier_id.set("gold")])
    assert _listed(merchant, other) == {everyone: 0, gold: 0}  # their tier: read now
    assert _listed(merchant, one) == {everyone: 1}
    assert shelf.exposures(mid, everyone, _today(merchant)) == 5  # every listing counted, none from a copy
