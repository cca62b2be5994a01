"""Issue 25 §1: imported points expire on their own date (members/lifecycle.py, member_import/jobs.py).

Each lot has an expiry (the policy for earned lots and undated imports, the end of the file's date in Shanghai for a
dated import), spending takes the earliest-expiring points first, and the warning comes 7 days before the earliest
lot's expiry. Imports run through the admin API and the scheduled runner, spends through the till, the jobs as
Chalice scheduled events; every day is taken from the test clock.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from mini_program_api.db.models import PROFILE, Member, member_pk
from mini_program_api.members import due_dates
from mini_program_api.merchants import configuration
from mini_program_api.money import ledger
from tests import timeline
from tests.integration.test_lifecycle import TEMPLATES, _sent, invoke, twice_at_once
from tests.integration.test_member_import import _csv, _phone, drain, member_of, start_import
from tests.ledger_checks import checked_balances


@pytest.fixture
def shop(api: Any, merchant: Any) -> Any:
    return configuration.update_settings(merchant.merchant_id, message_templates=TEMPLATES)


def _import(api: Any, shop: Any, phone: str, points: int, expires_on: date | None, rule: str = "add") -> str:
    """One row through the admin API and the runner; the member's id."""
    # 手机号,姓名,生日,外部会员号,卡号,等级,成长值,积分,积分有效期,本金,赠送金,标签,入会日期
    dated = expires_on.isoformat() if expires_on else ""
    line = ",".join([phone, "", "", "", "", "", "", str(points), dated, "", "", "", ""])
    job = start_import(api, shop, _csv(line), rule)
    assert job["status"] == "CHECKED" and job["errors"] == 0, job
    api.ok("POST", f"/v1/admin/member-imports/{job['import_id']}/start", token=api.admin_token(shop))
    drain()
    member = member_of(shop, phone)
    assert member is not None
    return str(member.member_id)


def _claim(api: Any, shop: Any, phone: str) -> dict[str, Any]:
    """The imported member's first login (getPhoneNumber), with a grant for the points message."""
    login = api.login(shop)
    bound = api.ok("POST", "/v1/me/phone", {"code": f"phone:{phone}:{uuid.uuid4().hex[:6]}"}, token=login["token"])
    token = bound["token"]
    assert api.post("/v1/me/subscriptions", {"template_ids": ["tpl-points"]}, token=token)[0] == 200
    member = Member.get(member_pk(shop.merchant_id, bound["member_id"]), PROFILE)
    return {"id": member.member_id, "openid": member.openid}


def _sign_in(api: Any, shop: Any, member_id: str, points: int) -> None:
    configuration.update_settings(shop.merchant_id, sign_in_points=points)
    status, body = api.post("/v1/me/sign-in", token=api.token(shop, member_id))
    assert status == 200, body


def _spend(api: Any, shop: Any, member_id: str, points: int) -> tuple[int, Any]:
    """A till sale paid with `points` alone (1 point = 1 fen): nothing earned."""
    code = api.member_code(api.token(shop, member_id))
    return api.post(
        "/v1/staff/checkout",
        {"member_code": code, "amount": points, "points": points},
        token=api.staff_token(shop, "s1"),
        headers={"idempotency-key": uuid.uuid4().hex},
    )


def _points(shop: Any, member_id: str) -> int:
    return checked_balances(shop.merchant_id, member_id)["points"]


def _lots(shop: Any, member_id: str) -> dict[str, Any]:
    lots = Member.get(member_pk(shop.merchant_id, member_id), PROFILE, consistent_read=True).point_lots
    return lots.as_dict() if lots is not None else {}


POINTS = ledger.Account.POINTS


def _end_of(day: date) -> Any:
    """The end of `day` in Shanghai: the next local midnight (16:00 UTC on `day`)."""
    return timeline.local(day + timedelta(days=1))


def test_a_date_sooner_than_the_policy_is_warned_7_days_before_and_expires_at_shanghai_midnight(
    api: Any, shop: Any, sandbox: Any, clock: Any
) -> None:
    configuration.update_settings(shop.merchant_id, points_expiry="ROLLING", points_expiry_days=365)
    phone, day = _phone(), clock.today + timedelta(days=20)
    _import(api, shop, phone, 100, day, rule="refuse")
    member = _claim(api, shop, phone)
    _sign_in(api, shop, member["id"], 10)  # expires in 365 days: after the imported lot
    end = _end_of(day)
    assert end.astimezone(UTC).hour == 16  # the date's end in Shanghai, not UTC's midnight eight hours later
    clock.set(end - timedelta(days=7, seconds=1))
    invoke("points_warnings")
    assert _sent(sandbox, member, "tpl-points") == []
    clock.set(end - timedelta(days=7))
    twice_at_once("points_warnings")
    invoke("points_warnings")
    warned = _sent(sandbox, member, "tpl-points")
    assert len(warned) == 1 and warned[0]["data"]["number1"]["value"] == 100, warned  # the imported lot alone
    assert warned[0]["data"]["time2"]["value"] == f"{day.isoformat()} 23:59"  # the file's date, its last minute
    clock.set(end - timedelta(seconds=1))  # the date's last second: still spendable
    assert invoke("points_expiry")["points_expired"] == 0
    assert _points(shop, member["id"]) == 110
    clock.set(end)
    assert invoke("points_expiry")["points_expired"] == 100
    assert _points(shop, member["id"]) == 10 and _lots(shop, member["id"]) == {}
    assert invoke("points_expiry")["done"] == 0  # next: the earned lot, in a year
    clock.advance(days=300)
    assert invoke("points_warnings")["sent"] == 0 and invoke("points_expiry")["done"] == 0


def test_a_later_date_survives_the_policys_cutoff_and_spending_takes_the_earliest_expiring_first(
    api: Any, shop: Any, clock: Any
) -> None:
    configuration.update_settings(shop.merchant_id, points_expiry="ROLLING", points_expiry_days=30)
    day = clock.today + timedelta(days=60)
    spender, keeper, undated = _phone(), _phone(), _phone()
    _import(api, shop, spender, 100, day)
    _import(api, shop, keeper, 100, day)
    _import(api, shop, undated, 100, None)  # no date: the policy from the import's day
    ids = {phone: _claim(api, shop, phone)["id"] for phone in (spender, keeper, undated)}
    for phone in (spender, keeper):
        _sign_in(api, shop, ids[phone], 10)  # expires on day 30, before the imported lot
    clock.advance(days=1)
    status, sale = _spend(api, shop, ids[spender], 30)  # the 10 earned first (they expire first), then 20 imported
    assert status == 200 and sale["points_earned"] == 0, sale
    clock.set(clock.start + timedelta(days=30, seconds=1))
    invoke("points_expiry")
    assert _points(shop, ids[spender]) == 80  # nothing of the earned lot was left to expire
    assert _points(shop, ids[keeper]) == 100  # the earned 10 expired; the imported 100 outlive the cutoff
    assert _points(shop, ids[undated]) == 0
    clock.set(_end_of(day) - timedelta(seconds=1))
    assert invoke("points_expiry")["done"] == 0
    clock.set(_end_of(day))
    assert invoke("points_expiry")["points_expired"] == 180
    assert _points(shop, ids[spender]) == 0 and _points(shop, ids[keeper]) == 0


def test_a_dated_lot_merged_onto_a_member_who_earned_and_spent_expires_whole_on_its_date(
    api: Any, shop: Any, clock: Any
) -> None:
    configuration.update_settings(shop.merchant_id, points_expiry="ROLLING", points_expiry_days=30)
    phone = _phone()
    member_id = api.member_with_card(shop, phone=phone)["member"]["member_id"]
    _sign_in(api, shop, member_id, 100)  # earned on day 0, expires on day 30
    assert _spend(api, shop, member_id, 30)[0] == 200  # before the import: it could only take the earned points
    clock.advance(days=1)
    day = clock.today + timedelta(days=10)
    assert _import(api, shop, phone, 50, day) == member_id  # merge rule add
    assert _points(shop, member_id) == 120
    assert [lot["points_before"] for lot in _lots(shop, member_id).values()] == [70]
    clock.set(_end_of(day))
    # All 50 imported points are still held (nothing was spent since they came): all expire, the earned 70 stay.
    assert invoke("points_expiry")["points_expired"] == 50
    assert _points(shop, member_id) == 70 and _lots(shop, member_id) == {}
    clock.set(clock.start + timedelta(days=30, seconds=1))
    assert invoke("points_expiry")["points_expired"] == 70
    assert _points(shop, member_id) == 0


def test_policy_none_expires_the_dated_lot_alone(api: Any, shop: Any, clock: Any) -> None:
    assert shop.points_expiry == "NONE"
    phone, day = _phone(), clock.today + timedelta(days=5)
    _import(api, shop, phone, 100, day)
    member = _claim(api, shop, phone)
    clock.advance(days=1)
    _sign_in(api, shop, member["id"], 10)  # earned after the import: never expires
    clock.set(_end_of(day))
    reports = twice_at_once("points_expiry") + [invoke("points_expiry")]
    assert sum(r["points_expired"] for r in reports) == 100
    assert _points(shop, member["id"]) == 10
    clock.advance(days=800)
    assert invoke("points_expiry")["done"] == 0 and _points(shop, member["id"]) == 10


def test_the_expiry_racing_a_spend_and_itself_moves_the_points_once(api: Any, shop: Any, clock: Any) -> None:
    configuration.update_settings(shop.merchant_id, points_expiry="ROLLING", points_expiry_days=365)
    phones = [_phone() for _ in range(3)]
    day = clock.today + timedelta(days=3)
    ids = [_import(api, shop, phone, 100, day) for phone in phones]
    clock.set(_end_of(day))
    staff = api.staff_token(shop, "s1")
    codes = {member_id: api.member_code(api.token(shop, member_id)) for member_id in ids}

    def spend(member_id: str) -> tuple[int, Any]:
        return api.post(
            "/v1/staff/checkout",
            {"member_code": codes[member_id], "amount": 60, "points": 60},
            token=staff,
            headers={"idempotency-key": uuid.uuid4().hex},
        )

    with ThreadPoolExecutor(5) as pool:
        runs = [pool.submit(invoke, "points_expiry") for _ in range(2)]
        spends = {member_id: pool.submit(spend, member_id) for member_id in ids}
        expired = sum(run.result()["points_expired"] for run in runs)
        answers = {member_id: future.result() for member_id, future in spends.items()}
    expired += invoke("points_expiry")["points_expired"]
    spent = 0
    for member_id, (status, body) in answers.items():
        assert (status, (body.get("error") or {}).get("code")) in ((200, None), (409, "INSUFFICIENT_POINTS")), body
        spent += 60 if status == 200 else 0
        assert _points(shop, member_id) == 0  # what was not spent expired, once; never below zero
    assert expired + spent == 300
    assert invoke("points_expiry")["points_expired"] == 0


def test_a_second_import_dated_sooner_moves_the_expiry_earlier(api: Any, shop: Any, sandbox: Any, clock: Any) -> None:
    """Newer but expiring sooner: the dated lists take the earlier date, and each lot expires whole on its own."""
    phone, later, sooner = _phone(), clock.today + timedelta(days=40), clock.today + timedelta(days=12)
    member_id = _import(api, shop, phone, 100, later)
    member = _claim(api, shop, phone)
    grant = api.post("/v1/me/subscriptions", {"template_ids": ["tpl-points"]}, token=api.token(shop, member_id))
    assert grant[0] == 200  # a grant per message
    clock.advance(days=1)
    assert _import(api, shop, phone, 50, sooner) == member_id  # a second file, merged
    assert {lot["points_before"] for lot in _lots(shop, member_id).values()} == {0, 100}
    clock.set(_end_of(sooner) - timedelta(days=7))
    invoke("points_warnings")
    warned = _sent(sandbox, member, "tpl-points")
    assert [m["data"]["number1"]["value"] for m in warned] == [50], warned
    clock.set(_end_of(sooner))
    assert invoke("points_expiry")["points_expired"] == 50
    assert _points(shop, member_id) == 100 and len(_lots(shop, member_id)) == 1
    clock.set(_end_of(later) - timedelta(days=7))
    invoke("points_warnings")
    assert [m["data"]["number1"]["value"] for m in _sent(sandbox, member, "tpl-points")] == [50, 100]
    clock.set(_end_of(later))
    assert invoke("points_expiry")["points_expired"] == 100
    assert _points(shop, member_id) == 0 and _lots(shop, member_id) == {}
    assert invoke("points_expiry")["done"] == 0 and invoke("points_warnings")["done"] == 0


def test_a_merge_racing_spends_records_the_balance_it_landed_on(api: Any, shop: Any, clock: Any) -> None:
    """The import's balance-before is pinned: whichever of a merge and a spend commits first, the dated lot expires
    what earliest-expiring-first leaves of it (all of it after a spend that came first, less what a later spend
    took from it)."""
    configuration.update_settings(shop.merchant_id, points_expiry="ROLLING", points_expiry_days=365)
    phones = [_phone() for _ in range(4)]
    ids = [api.member_with_card(shop, phone=phone)["member"]["member_id"] for phone in phones]
    for member_id in ids:
        _sign_in(api, shop, member_id, 100)
    clock.advance(days=1)
    day = clock.today + timedelta(days=10)
    lines = [",".join([phone, "", "", "", "", "", "", "50", day.isoformat(), "", "", "", ""]) for phone in phones]
    job = start_import(api, shop, _csv(*lines), "add")
    codes = {member_id: api.member_code(api.token(shop, member_id)) for member_id in ids}
    staff = api.staff_token(shop, "s1")

    def spend(member_id: str) -> tuple[int, Any]:
        return api.post(
            "/v1/staff/checkout",
            {"member_code": codes[member_id], "amount": 30, "points": 30},
            token=staff,
            headers={"idempotency-key": uuid.uuid4().hex},
        )

    with ThreadPoolExecutor(5) as pool:
        started = pool.submit(
            api.ok, "POST", f"/v1/admin/member-imports/{job['import_id']}/start", token=api.admin_token(shop)
        )
        spends = [pool.submit(spend, member_id) for member_id in ids]
        started.result()
        assert all(s.result()[0] == 200 for s in spends)
    drain()
    before = {}
    for member_id in ids:
        (lot,) = _lots(shop, member_id).values()
        before[member_id] = lot["points_before"]
        assert lot["points_before"] in (70, 100) and _points(shop, member_id) == 120
    clock.set(_end_of(day))
    invoke("points_expiry")
    for member_id in ids:  # spent first: the import is whole; imported first: the spend took 30 of it
        assert _points(shop, member_id) == (70 if before[member_id] == 70 else 100), before


def test_a_spend_between_the_merges_read_and_write_makes_it_read_again(
    api: Any, shop: Any, clock: Any, monkeypatch: Any
) -> None:
    """The merge pins the balance it records as the lot's balance-before: a spend committed after its read cancels
    it, and the row is applied again on the balance after the spend (else the lot would count the spend as its own
    and 30 of its points would outlive its date)."""
    configuration.update_settings(shop.merchant_id, points_expiry="ROLLING", points_expiry_days=365)
    phone = _phone()
    member_id = api.member_with_card(shop, phone=phone)["member"]["member_id"]
    _sign_in(api, shop, member_id, 100)
    clock.advance(days=1)
    day = clock.today + timedelta(days=10)
    dated_lot, spent = due_dates.dated_lot, []

    def spend_meanwhile(*args: Any) -> dict[str, Any]:
        if not spent:  # once: the first attempt read 100 points
            op = ledger.Operation(f"test-{uuid.uuid4().hex[:8]}", "TEST_SPEND", ledger.postings({POINTS: -30}))
            spent.append(ledger.post(shop.merchant_id, member_id, op))
        return dated_lot(*args)

    monkeypatch.setattr(due_dates, "dated_lot", spend_meanwhile)
    assert _import(api, shop, phone, 50, day) == member_id
    (lot,) = _lots(shop, member_id).values()
    assert spent and lot["points_before"] == 70 and _points(shop, member_id) == 120
    clock.set(_end_of(day))
    assert invoke("points_expiry")["points_expired"] == 50  # nothing was spent since the import: all of it
    assert _points(shop, member_id) == 70


def test_policy_none_counts_a_credit_staged_just_before_the_lot_as_after_it(api: Any, shop: Any, clock: Any) -> None:
    """An entry's time is its staging: a credit staged before a merge read the balance may commit after the merge,
    outside the balance its lot landed on. Credits staged up to a minute before a lot count as after it, under the
    policy NONE as under the others (read from a minute before the lot), so only the lot's own points expire."""
    assert shop.points_expiry == "NONE"
    phone = _phone()
    member_id = api.member_with_card(shop, phone=phone)["member"]["member_id"]
    day = clock.today + timedelta(days=5)
    assert _import(api, shop, phone, 100, day) == member_id
    (lot,) = _lots(shop, member_id).values()
    held = _points(shop, member_id)
    assert held == lot["points_before"] + 100
    clock.set(datetime.fromisoformat(lot["credited_at"]) - timedelta(seconds=30))  # staged before, committed after
    op = ledger.Operation(f"test-{uuid.uuid4().hex[:8]}", "TEST_CREDIT", ledger.postings({POINTS: 50}))
    ledger.post(shop.merchant_id, member_id, op)
    clock.set(_end_of(day))
    assert invoke("points_expiry")["points_expired"] == 100
    assert _points(shop, member_id) == held - 100 + 50


def test_a_far_date_as_never_9999_12_31_imports_and_never_comes_due(api: Any, shop: Any, clock: Any) -> None:
    """Systems export "never" as 9999-12-31: the row passes the dry run, so the real run imports it (the end of that
    date is past the last datetime: the lot expires at its last microsecond instead of failing the row)."""
    configuration.update_settings(shop.merchant_id, points_expiry="ROLLING", points_expiry_days=30)
    phone = _phone()
    member_id = _import(api, shop, phone, 100, date.max)
    assert _points(shop, member_id) == 100 and len(_lots(shop, member_id)) == 1
    clock.advance(days=400)
    assert invoke("points_expiry")["points_expired"] == 0 and invoke("points_warnings")["sent"] == 0
    assert _points(shop, member_id) == 100


def test_a_frozen_members_dated_lot_still_expires_on_its_date(api: Any, shop: Any, clock: Any) -> None:
    """A freeze stops spending, not expiry (POINTS_EXPIRED is not a spend: money/frozen.py): the job does not fail
    on a frozen member, and the lot leaves the row."""
    phone, day = _phone(), clock.today + timedelta(days=5)
    member_id = _import(api, shop, phone, 100, day)
    admin = api.admin_token(shop)
    api.ok("POST", f"/v1/admin/members/{member_id}/freeze", {"reason": "手机被盗"}, token=admin)
    clock.set(_end_of(day))
    report = invoke("points_expiry")
    assert (report["points_expired"], report["failed"]) == (100, [])
    assert _points(shop, member_id) == 0 and _lots(shop, member_id) == {}


def test_the_largest_rows_dated_lot_fits_one_transaction(api: Any, shop: Any, clock: Any, monkeypatch: Any) -> None:
    """Every column and 20 tags, created then merged with 20 more tags, each with a dated lot: one transaction each,
    under DynamoDB's 100 items."""
    from mini_program_api.db import transact

    sizes: list[int] = []
    commit = transact.Transaction.commit

    def counted(tx: Any) -> None:
        tx._stage_counts()
        sizes.append(sum(len(ops) for ops in tx._ops.values()))
        commit(tx)

    monkeypatch.setattr(transact.Transaction, "commit", counted)
    configuration.update_settings(shop.merchant_id, points_expiry="ROLLING", points_expiry_days=30)
    phone, day = _phone(), (clock.today + timedelta(days=9)).isoformat()
    for n, name in ((0, "张三"), (1, "")):
        tags = "|".join(f"标签{n}-{i:02d}" for i in range(20))
        line = f"{phone},{name},1990-05-01,X{n},,,10,100,{day},300.50,50,{tags},2020-01-01"
        job = start_import(api, shop, _csv(line), "add")
        assert job["errors"] == 0, job
        sizes.clear()
        api.ok("POST", f"/v1/admin/member-imports/{job['import_id']}/start", token=api.admin_token(shop))
        drain()
        assert sizes and max(sizes) <= 100, sizes
    member = member_of(shop, phone)
    assert member is not None and len(member.tag_ids) == 40 and len(_lots(shop, member.member_id)) == 2
    assert _points(shop, member.member_id) == 200


def test_year_end_two_dated_lots_ending_in_one_year_each_expire(api: Any, shop: Any, clock: Any) -> None:
    """Under YEAR_END the cutoff is the same all year: an expiry keyed by it alone was a replay the second time a
    dated lot ended that year (nothing expired, the lot and its marker stayed, every run the same)."""
    configuration.update_settings(shop.merchant_id, points_expiry="YEAR_END")
    first, second = clock.today + timedelta(days=5), clock.today + timedelta(days=6)
    if (first + timedelta(days=1)).year != (second + timedelta(days=1)).year:  # both ends in one local year
        first, second = first + timedelta(days=2), second + timedelta(days=2)
    phone = _phone()
    member_id = _import(api, shop, phone, 100, first)
    assert _import(api, shop, phone, 50, second) == member_id
    clock.set(_end_of(first))
    assert invoke("points_expiry")["points_expired"] == 100
    assert _points(shop, member_id) == 50 and len(_lots(shop, member_id)) == 1
    clock.set(_end_of(second))
    assert invoke("points_expiry")["points_expired"] == 50
    assert _points(shop, member_id) == 0 and _lots(shop, member_id) == {}
    assert invoke("points_expiry")["done"] == 0
