"""The offers listing's exposure counts (issue 26 §1, bench/README.md heat): views and distinct people per template
and merchant-local day, counted on shards with a per-member day marker, so a drop's listings make no item that
grows with the viewers; exact under concurrent listings against DynamoDB Local, once per Idempotency-Key; an old
day's exposure items (one per day and member shard, sets of people) still read through the funnel."""

from __future__ import annotations

import contextvars
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from pynamodb.connection.base import Connection
from pynamodb.expressions.operand import Path

from mini_program_api.coupons import shelf, templates
from mini_program_api.coupons.templates import TemplateSpec
from mini_program_api.db.counters import Counter
from mini_program_api.money import idempotency
from mini_program_api.platform import clock as product_clock
from mini_program_api.reports import counters
from tests import timeline

_LISTING: contextvars.ContextVar[str] = contextvars.ContextVar("listing", default="")  # whose units are booked


def _template(merchant: Any) -> str:
    spec = TemplateSpec(
        name="爆款券", kind="CASH", amount=500, total_stock=1000, per_member_limit=1, days_after_claim=7
    )
    return templates.create_template(merchant.merchant_id, spec).template_id


def _funnel(api: Any, merchant: Any, day: str) -> dict[str, tuple[int, int]]:
    status, body = api.get(f"/v1/admin/reports/funnel?from={day}&to={day}", token=api.admin_token(merchant))
    assert status == 200, body
    return {row["template_id"]: (row["views"], row["people"]) for row in body["rows"]}


def _today(merchant: Any) -> str:
    return product_clock.local_date(merchant.timezone, product_clock.now()).isoformat()


def _list(merchant: Any, member_id: str, key: str | None) -> list[str]:
    return [o.template.template_id for o in shelf.offers(merchant.merchant_id, member_id, idempotency_key=key)]


def test_concurrent_listings_count_every_view_once_and_every_person_once_per_template(
    api: Any, merchant: Any, clock: timeline.Clock
) -> None:
    """6 members list 4 times each with their own keys, every listing sent twice at once (a client's retry racing
    its first attempt), 48 listings in 12 threads: 24 views and 6 people of each template shown."""
    first, second = _template(merchant), _template(merchant)
    people = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(6)]
    keys = [(member, uuid.uuid4().hex) for member in people for _ in range(4)]
    with ThreadPoolExecutor(12) as pool:
        shown = list(pool.map(lambda pair: _list(merchant, *pair), [*keys, *keys]))
    assert all(sorted(s) == sorted([first, second]) for s in shown)
    day = _today(merchant)
    assert _funnel(api, merchant, day) == {first: (24, 6), second: (24, 6)}
    assert [shelf.exposures(merchant.merchant_id, t, day) for t in (first, second)] == [24, 24]


def test_a_retry_counts_once_a_second_listing_a_view_not_a_person_and_a_new_template_its_first_person(
    api: Any, merchant: Any, clock: timeline.Clock
) -> None:
    mid, member_id = merchant.merchant_id, api.member_with_card(merchant)["member"]["member_id"]
    old = _template(merchant)
    key = uuid.uuid4().hex
    assert _list(merchant, member_id, key) == [old]
    assert _list(merchant, member_id, key) == [old]  # the first answer was lost: the same listing again
    day = _today(merchant)
    assert _funnel(api, merchant, day) == {old: (1, 1)}
    _list(merchant, member_id, uuid.uuid4().hex)  # the member lists again: a view, the same person
    _list(merchant, member_id, None)  # a client that sends no key: every listing counts
    assert _funnel(api, merchant, day) == {old: (3, 1)}
    new = _template(merchant)
    assert sorted(_list(merchant, member_id, uuid.uuid4().hex)) == sorted([old, new])
    other = api.member_with_card(merchant)["member"]["member_id"]
    _list(merchant, other, uuid.uuid4().hex)
    assert _funnel(api, merchant, day) == {old: (5, 2), new: (2, 2)}
    assert counters.views(mid, old, day) == 5


def test_a_person_counts_again_on_the_merchants_next_day_at_midnight_in_shanghai(
    api: Any, merchant: Any, clock: timeline.Clock
) -> None:
    """Two listings a minute apart across midnight in Shanghai (16:00 UTC): one person on each local day."""
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    tid = _template(merchant)
    clock.set(timeline.local(clock.today + timedelta(days=1), 23, 59, 30))
    _list(merchant, member_id, uuid.uuid4().hex)
    day1 = _today(merchant)
    clock.advance(minutes=1)
    _list(merchant, member_id, uuid.uuid4().hex)
    _list(merchant, member_id, uuid.uuid4().hex)
    day2 = _today(merchant)
    assert day2 != day1
    assert _funnel(api, merchant, day1) == {tid: (1, 1)}
    assert _funnel(api, merchant, day2) == {tid: (2, 1)}


def test_an_old_days_exposure_items_still_read_through_the_funnel(
    api: Any, merchant: Any, clock: timeline.Clock
) -> None:
    """Items as the listing wrote them before the shards (one per day and member shard: views `t_`, a set of
    people `p_`, a member's set of listing keys `r_`): yesterday's alone, and today's beside today's counts."""
    mid = merchant.merchant_id
    tid = _template(merchant)
    today = _today(merchant)
    yesterday = (product_clock.local_date(merchant.timezone, product_clock.now()) - timedelta(days=1)).isoformat()
    for day in (yesterday, today):
        for member, views in (("old-member-1", 2), ("old-member-2", 1)):
            who = counters.person(member)
            Counter(counters.exposure_pk(mid, day, member), "COUNT").update(
                actions=[
                    Path([f"t_{tid}"]).add(views),
                    Path([f"p_{tid}"]).add({who}),
                    Path([f"r_{who}"]).add({counters.person(uuid.uuid4().hex)}),
                ]
            )
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    _list(merchant, member_id, uuid.uuid4().hex)
    assert _funnel(api, merchant, yesterday) == {tid: (3, 2)}
    assert _funnel(api, merchant, today) == {tid: (4, 3)}
    assert counters.views(mid, tid, today) == 4


def test_a_listings_write_stays_the_same_size_after_hundreds_of_viewers(
    api: Any, merchant: Any, clock: timeline.Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write units DynamoDB Local reports (ReturnConsumedCapacity) for a viewer's first listing and for a repeat
    listing are the same for the 1st viewer and the 401st: nothing a listing writes grows with the viewers (the
    old per-day item's sets of people and keys passed 1 KB near 300 viewers on 8 shards, and 400 KB later)."""
    mid = merchant.merchant_id
    tid = _template(merchant)
    units: dict[str, float] = {}
    original = Connection.dispatch

    def dispatch(self: Connection, operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        if operation in ("TransactWriteItems", "UpdateItem", "PutItem"):
            kwargs = {**kwargs, "ReturnConsumedCapacity": "TOTAL"}
        response = original(self, operation, kwargs)
        if "ConsumedCapacity" in response:
            spent = response["ConsumedCapacity"]
            total = sum(c.get("CapacityUnits", 0) for c in (spent if isinstance(spent, list) else [spent]))
            units[_LISTING.get()] = units.get(_LISTING.get(), 0) + total
        return response

    monkeypatch.setattr(Connection, "dispatch", dispatch)

    def listing(label: str, member: str) -> None:
        token = _LISTING.set(label)
        try:
            key = idempotency.client_key(mid, "offers", uuid.uuid4().hex, member)
            counters.exposure(mid, member, [tid], product_clock.now(), key)
        finally:
            _LISTING.reset(token)

    listing("first viewer", "viewer-0")
    listing("first viewer again", "viewer-0")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: listing("crowd", f"viewer-{i}"), range(1, 400)))
    listing("401st viewer", "viewer-400")
    listing("401st viewer again", "viewer-400")
    assert units["401st viewer"] == units["first viewer"] > 0, units
    assert units["401st viewer again"] == units["first viewer again"] > 0, units
    assert counters.views(mid, tid, _today(merchant)) == 403
