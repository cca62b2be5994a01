"""Tiers, points expiry, referrals, birthdays, wake-ups and subscribe grants, run by the scheduled jobs.

Jobs are invoked as Chalice scheduled events; "twice" and "two at once" runs are
counted in the WeChat sandbox's message record and in the ledger.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from mini_program_api.coupons import held
from mini_program_api.db.coupons import Coupon
from mini_program_api.db.models import Member, member_pk
from mini_program_api.members import due_dates, lifecycle, notices
from mini_program_api.merchants import configuration
from mini_program_api.money import ledger
from tests import timeline
from tests.conftest import ROOT
from tests.ledger_checks import checked_balances

TEMPLATES = {
    "coupon_expiry": "tpl-coupon",
    "points_expiry": "tpl-points",
    "birthday": "tpl-bday",
    "wake_up": "tpl-wake",
}


def invoke(name: str) -> dict[str, Any]:
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="test", project_dir=ROOT) as client:
        event = client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )
        return client.lambda_.invoke(name, event).payload


def twice_at_once(name: str) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda _: invoke(name), range(2)))


@pytest.fixture
def shop(api: Any, merchant: Any) -> Any:
    configuration.set_tiers(
        merchant.merchant_id,
        [
            configuration.TierSpec("normal", "普通", 0),
            configuration.TierSpec("silver", "银卡", 1000, 95, 150),
            configuration.TierSpec("gold", "金卡", 5000, 90, 200),
        ],
    )
    return configuration.update_settings(merchant.merchant_id, message_templates=TEMPLATES)


def _member(api: Any, merchant: Any, grants: list[str] | None = None, **card: Any) -> dict[str, Any]:
    session = api.login(merchant)
    token = session["token"]
    api.post("/v1/me/phone", {"code": f"phone:139{uuid.uuid4().int % 10**8:08d}:{uuid.uuid4().hex[:6]}"}, token=token)
    status, body = api.post("/v1/me/card", {"agreed_terms_version": "1", **card}, token=token)
    assert status == 200, body
    if grants:
        assert api.post("/v1/me/subscriptions", {"template_ids": grants}, token=token)[0] == 200
    member = Member.get(member_pk(merchant.merchant_id, body["member_id"]), "PROFILE")
    return {"token": token, "id": body["member_id"], "openid": member.openid, "invite_code": body["invite_code"]}


def _sent(sandbox: Any, member: dict[str, Any], template: str | None = None) -> list[dict[str, Any]]:
    return [
        m
        for m in sandbox.messages
        if m["touser"] == member["openid"] and (template is None or m["template_id"] == template)
    ]


def _credit(merchant: Any, member: dict[str, Any], **amounts: int) -> None:
    op = ledger.Operation(
        f"test-{uuid.uuid4().hex[:8]}",
        "TEST_CREDIT",
        ledger.postings({ledger.Account(k): v for k, v in amounts.items()}),
    )
    ledger.post(merchant.merchant_id, member["id"], op)


# --- tiers ----------------------------------------------------------------------------------------------


def test_sign_in_crossing_a_threshold_upgrades_in_the_same_write(api: Any, shop: Any) -> None:
    member = _member(api, shop)
    _credit(shop, member, growth=996)
    status, body = api.post("/v1/me/sign-in", token=member["token"])
    assert status == 200 and body["tier_upgraded"] is True
    assert body["member"]["tier"]["id"] == "silver" and body["member"]["growth_to_next_tier"] == 5000 - 1001
    assert api.post("/v1/me/sign-in", token=member["token"])[1]["tier_upgraded"] is False


def test_review_after_12_months_places_by_the_last_12_months(api: Any, shop: Any, clock: Any) -> None:
    configuration.update_settings(shop.merchant_id, tier_review=True)
    staff = api.staff_token(shop, "s1")
    member = _member(api, shop)

    def spend(amount: int) -> None:
        code = api.member_code(api.token(shop, member["id"]))
        status, body = api.post(
            "/v1/staff/checkout",
            {"member_code": code, "amount": amount},
            token=api.staff_token(shop, "s1"),
            headers={"idempotency-key": uuid.uuid4().hex},
        )
        assert status == 200, body

    spend(600000)  # 6000 growth: gold
    assert Member.get(member_pk(shop.merchant_id, member["id"]), "PROFILE").tier_id == "gold"
    assert staff
    clock.advance(days=200)
    spend(120000)  # 1200 growth (gold: 10% off -> 1080), inside the next review's window
    clock.advance(days=164)  # day 364: the 12 months since reaching gold are not over
    assert invoke("tier_reviews")["done"] == 0
    clock.set(timeline.years_later(clock.start) + timedelta(seconds=1))
    assert invoke("tier_reviews")["changed"] == 1
    stored = Member.get(member_pk(shop.merchant_id, member["id"]), "PROFILE")
    assert (stored.tier_id, int(stored.growth), int(stored.tier_base)) == ("silver", 7080, 6000)
    _, me = api.get("/v1/me", token=api.token(shop, member["id"]))
    assert me["tier"]["id"] == "silver" and me["tier_growth"] == 1080 and me["growth_to_next_tier"] == 3920
    assert invoke("tier_reviews")["done"] == 0  # reviewed: next one in 12 months
    clock.set(timeline.years_later(clock.start, 2) + timedelta(seconds=1))
    assert invoke("tier_reviews")["changed"] == 1  # no growth for 12 months: back to the entry tier
    assert Member.get(member_pk(shop.merchant_id, member["id"]), "PROFILE").tier_id == "normal"


# --- points expiry --------------------------------------------------------------------------------------


def test_points_expire_fifo_once_even_run_twice_and_concurrently(api: Any, shop: Any, sandbox: Any, clock: Any) -> None:
    configuration.update_settings(shop.merchant_id, points_expiry="ROLLING", points_expiry_days=30)
    member = _member(api, shop, grants=["tpl-points"])
    api.post("/v1/me/sign-in", token=member["token"])  # lot 1: 10 points, day 0
    clock.advance(days=10)
    api.post("/v1/me/sign-in", token=api.token(shop, member["id"]))  # lot 2: 10 points, day 10
    code = api.member_code(api.token(shop, member["id"]))
    status, sale = api.post(
        "/v1/staff/checkout",
        {"member_code": code, "amount": 400, "points": 4},
        token=api.staff_token(shop, "s1"),
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 200 and sale["points_earned"] == 3  # spends 4 from lot 1; lot 3: 3 points, day 10
    clock.advance(days=13)  # day 23: lot 1's warning is due (expires day 30)
    twice_at_once("points_warnings")
    warned = _sent(sandbox, member, "tpl-points")
    assert len(warned) == 1 and warned[0]["data"]["number1"]["value"] == 6
    invoke("points_warnings")
    assert len(_sent(sandbox, member, "tpl-points")) == 1
    clock.advance(days=7, seconds=1)  # day 30: lot 1 expires, 6 of its 10 left
    reports = twice_at_once("points_expiry") + [invoke("points_expiry")]
    assert sum(r["points_expired"] for r in reports) == 6
    assert checked_balances(shop.merchant_id, member["id"])["points"] == 13
    clock.advance(days=10)  # day 40: lots 2 and 3 expire
    assert invoke("points_expiry")["points_expired"] == 13
    assert invoke("points_expiry")["done"] == 0  # nothing left on the list
    balances = checked_balances(shop.merchant_id, member["id"])
    assert balances["points"] == 0
    _, points = api.get("/v1/me/ledger?account=points", token=api.token(shop, member["id"]))
    assert [e["amount"] for e in points["entries"] if e["kind"] == "POINTS_EXPIRED"] == [-13, -6]


def test_year_end_policy(shop: Any) -> None:
    merchant = configuration.update_settings(shop.merchant_id, points_expiry="YEAR_END")
    earned = datetime(2026, 3, 1, tzinfo=timezone.utc)
    expiry = due_dates.lot_expiry(merchant, earned)
    assert expiry is not None and expiry.isoformat() == "2028-01-01T00:00:00+08:00"
    assert due_dates.cutoff(merchant, expiry) >= earned > due_dates.cutoff(merchant, expiry - timedelta(seconds=1))


# --- referral -------------------------------------------------------------------------------------------


def test_referral_rewards_both_once_and_rejects_abuse(api: Any, shop: Any) -> None:
    configuration.update_settings(shop.merchant_id, referral_points=100, referral_monthly_cap=2)
    inviter = _member(api, shop)

    def invited(code: str) -> tuple[dict[str, Any], str | None]:
        openid = f"o-{uuid.uuid4().hex[:12]}"
        status, body = api.post(
            "/v1/auth/login", {"appid": shop.appid, "code": f"test:{openid}:x", "invite_code": code}
        )
        assert status == 200
        token = body["token"]
        api.post("/v1/me/phone", {"code": f"phone:137{uuid.uuid4().int % 10**8:08d}"}, token=token)
        api.post("/v1/me/card", {"agreed_terms_version": "1"}, token=token)
        api.post("/v1/me/card", {"agreed_terms_version": "1"}, token=token)  # opening again pays nothing more
        return {"id": body["member"]["member_id"], "token": token, "openid": openid}, body["invite"]

    first, outcome = invited(inviter["invite_code"].lower())
    assert outcome == "ACCEPTED"
    assert checked_balances(shop.merchant_id, first["id"])["points"] == 100
    assert checked_balances(shop.merchant_id, inviter["id"])["points"] == 100
    # repeat: an existing member logging in with someone's code
    status, again = api.post(
        "/v1/auth/login",
        {"appid": shop.appid, "code": f"test:{first['openid']}:y", "invite_code": _member(api, shop)["invite_code"]},
    )
    assert status == 200 and again["invite"] == "ALREADY_MEMBER" and again["created"] is False
    # self-invite: one's own code
    status, own = api.post(
        "/v1/auth/login",
        {"appid": shop.appid, "code": f"test:{first['openid']}:z", "invite_code": invited_code(api, first)},
    )
    assert own["invite"] == "SELF_INVITE"
    assert (
        api.post("/v1/auth/login", {"appid": shop.appid, "code": "test:new-one:1", "invite_code": "NOPE2345"})[1][
            "invite"
        ]
        == "INVALID_INVITE_CODE"
    )
    # the monthly cap: the third invitee is welcomed, the inviter is not paid again
    assert invited(inviter["invite_code"])[1] == "ACCEPTED"
    third, _ = invited(inviter["invite_code"])
    assert checked_balances(shop.merchant_id, third["id"])["points"] == 100
    assert checked_balances(shop.merchant_id, inviter["id"])["points"] == 200


def invited_code(api: Any, member: dict[str, Any]) -> str:
    return api.get("/v1/me", token=member["token"])[1]["invite_code"]


# --- birthday, wake-up, coupon reminders ----------------------------------------------------------------


def _gift_template(api: Any, merchant: Any, name: str, days_after_claim: int = 30) -> str:
    status, body = api.post(
        "/v1/admin/coupon-templates",
        {
            "name": name,
            "kind": "GIFT",
            "gift_name": name,
            "total_stock": 100,
            "per_member_limit": 1,
            "days_after_claim": days_after_claim,
            "listed": False,
        },
        token=api.admin_token(merchant),
    )
    assert status == 201, body
    return body["template_id"]


def test_birthday_gift_once_a_year(api: Any, shop: Any, sandbox: Any, clock: Any) -> None:
    template_id = _gift_template(api, shop, "生日蛋糕")
    status, body = api.put(
        "/v1/admin/tiers",
        {
            "tiers": [
                {"tier_id": "normal", "name": "普通", "threshold": 0, "birthday_template_id": template_id},
                {"tier_id": "silver", "name": "银卡", "threshold": 1000},
            ]
        },
        token=api.admin_token(shop),
    )
    assert status == 200, body
    birthday_month = timeline.months_later(clock.today, 1)
    member = _member(api, shop, grants=["tpl-bday"], birthday=f"1990-{birthday_month.month:02d}-15")
    assert api.get("/v1/coupons/offers", token=member["token"])[1]["offers"] == []  # a gift is never offered
    assert invoke("birthday_gifts")["done"] == 0  # the month before
    clock.set(timeline.local(birthday_month, 0, 0, 1))  # the birthday month's first second, Shanghai
    twice_at_once("birthday_gifts")
    invoke("birthday_gifts")
    usable = held.mine(shop.merchant_id, member["id"], "available").items
    assert [c.template_id for c in usable] == [template_id]
    assert len(_sent(sandbox, member, "tpl-bday")) == 1
    clock.set(timeline.local(birthday_month.replace(year=birthday_month.year + 1), 9))
    invoke("birthday_gifts")
    gifts = list(Coupon.query(member_pk(shop.merchant_id, member["id"]), Coupon.sk.startswith("COUPON#")))
    assert len(gifts) == 2 and len(held.mine(shop.merchant_id, member["id"], "available").items) == 1  # next year's
    assert len(_sent(sandbox, member, "tpl-bday")) == 1  # no grant left: no message, no error


def test_dormant_member_gets_one_wake_up_per_cooldown(api: Any, shop: Any, sandbox: Any, clock: Any) -> None:
    template_id = _gift_template(api, shop, "回归券")
    configuration.update_settings(shop.merchant_id, wakeup_template_id=template_id, wakeup_cooldown_days=60)
    quiet = _member(api, shop, grants=["tpl-wake"])
    api.post("/v1/me/subscriptions", {"template_ids": ["tpl-wake"]}, token=quiet["token"])  # a second acceptance
    busy = _member(api, shop, grants=["tpl-wake"])
    clock.advance(days=80)
    code = api.member_code(api.token(shop, busy["id"]))
    api.post(
        "/v1/staff/checkout",
        {"member_code": code, "amount": 1000},
        token=api.staff_token(shop, "s1"),
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    clock.advance(days=10, seconds=1)  # day 90
    twice_at_once("dormant_wakeups")
    invoke("dormant_wakeups")
    assert len(_sent(sandbox, quiet, "tpl-wake")) == 1 and _sent(sandbox, busy) == []
    assert len(held.mine(shop.merchant_id, quiet["id"], "available").items) == 1
    clock.advance(days=30)
    invoke("dormant_wakeups")
    assert len(_sent(sandbox, quiet, "tpl-wake")) == 1  # within the cooldown
    clock.advance(days=31)
    invoke("dormant_wakeups")
    assert len(_sent(sandbox, quiet, "tpl-wake")) == 2 and _sent(sandbox, busy) == []  # busy's clock restarted


def test_coupon_reminders_need_a_grant_and_consume_one(api: Any, shop: Any, sandbox: Any, clock: Any) -> None:
    status, body = api.post(
        "/v1/admin/coupon-templates",
        {"name": "5元", "kind": "CASH", "amount": 500, "total_stock": 10, "per_member_limit": 3, "days_after_claim": 5},
        token=api.admin_token(shop),
    )
    with_grant = _member(api, shop, grants=["tpl-coupon"])
    without = _member(api, shop)
    claimed = {}
    for person in (with_grant, without, with_grant):
        claimed.setdefault(person["id"], []).append(
            api.post(
                f"/v1/coupons/offers/{body['template_id']}/claim",
                token=person["token"],
                headers={"idempotency-key": uuid.uuid4().hex},
            )[1]["coupon_id"]
        )
    clock.advance(days=2, seconds=1)
    twice_at_once("coupon_reminders")
    invoke("coupon_reminders")
    assert len(_sent(sandbox, with_grant)) == 1  # two coupons, one grant: one message
    assert _sent(sandbox, without) == []
    assert notices.grants(shop.merchant_id, with_grant["id"]) == {"tpl-coupon": 0}
    assert invoke("coupon_reminders")["done"] == 0  # nothing loops on the missing grants
    status, error = api.post(
        "/v1/me/subscriptions", {"template_ids": ["not-ours"]}, token=api.token(shop, without["id"])
    )
    assert (status, error["error"]["code"]) == (400, "VALIDATION_ERROR")


def test_failed_sends_are_retried_next_run_without_sending_twice(api: Any, shop: Any, sandbox: Any, clock: Any) -> None:
    status, body = api.post(
        "/v1/admin/coupon-templates",
        {"name": "5元", "kind": "CASH", "amount": 500, "total_stock": 10, "per_member_limit": 1, "days_after_claim": 5},
        token=api.admin_token(shop),
    )
    member = _member(api, shop, grants=["tpl-coupon"])
    api.post(
        f"/v1/coupons/offers/{body['template_id']}/claim",
        token=member["token"],
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    clock.advance(days=2, seconds=1)
    sandbox.failing_sends = 1
    report = invoke("coupon_reminders")
    assert report["failed"] == ["WECHAT_UNAVAILABLE"] and _sent(sandbox, member) == []
    assert notices.grants(shop.merchant_id, member["id"]) == {"tpl-coupon": 1}  # given back
    assert invoke("coupon_reminders")["done"] == 0  # backing off: tried again later, not at once
    clock.advance(minutes=10)
    assert invoke("coupon_reminders")["sent"] == 1
    assert invoke("coupon_reminders")["done"] == 0
    assert len(_sent(sandbox, member)) == 1


def test_jobs_take_bounded_batches_and_resume(api: Any, shop: Any, sandbox: Any, clock: Any) -> None:
    status, body = api.post(
        "/v1/admin/coupon-templates",
        {"name": "5元", "kind": "CASH", "amount": 500, "total_stock": 10, "per_member_limit": 1, "days_after_claim": 5},
        token=api.admin_token(shop),
    )
    people = [_member(api, shop, grants=["tpl-coupon"]) for _ in range(5)]
    for person in people:
        api.post(
            f"/v1/coupons/offers/{body['template_id']}/claim",
            token=person["token"],
            headers={"idempotency-key": uuid.uuid4().hex},
        )
    clock.advance(days=2, seconds=1)
    first = lifecycle.remind_coupons(limit=2)
    assert (first.done, first.more) == (2, True)
    stopped = lifecycle.remind_coupons(limit=10, deadline=0.0)  # out of time before the first member
    assert (stopped.done, stopped.more) == (0, True)
    rest = lifecycle.remind_coupons(limit=10)
    assert (rest.done, rest.more) == (3, False)
    assert sorted(len(_sent(sandbox, p)) for p in people) == [1] * 5
    assert all(
        c.due_pk is None
        for p in people
        for c in Coupon.query(member_pk(shop.merchant_id, p["id"]), Coupon.sk.startswith("COUPON#"))
    )


def test_plenty_of_grants_still_one_message_per_notice(api: Any, shop: Any, sandbox: Any, clock: Any) -> None:
    status, body = api.post(
        "/v1/admin/coupon-templates",
        {"name": "5元", "kind": "CASH", "amount": 500, "total_stock": 10, "per_member_limit": 1, "days_after_claim": 5},
        token=api.admin_token(shop),
    )
    member = _member(api, shop)
    for _ in range(4):
        api.post("/v1/me/subscriptions", {"template_ids": ["tpl-coupon"]}, token=member["token"])
    api.post(
        f"/v1/coupons/offers/{body['template_id']}/claim",
        token=member["token"],
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    clock.advance(days=2, seconds=1)
    member_row = Member.get(member_pk(shop.merchant_id, member["id"]), "PROFILE")
    with ThreadPoolExecutor(4) as pool:  # four senders racing for the same notice
        outcomes = list(
            pool.map(lambda _: notices.send(shop, member_row, "coupon_expiry", "coupon:race", {}), range(4))
        )
    assert sorted(outcomes) == ["ALREADY"] * 3 + ["SENT"]
    twice_at_once("coupon_reminders")
    invoke("coupon_reminders")
    assert len(_sent(sandbox, member)) == 2  # the race's one, and the coupon's one
    assert notices.grants(shop.merchant_id, member["id"]) == {"tpl-coupon": 2}


def test_monthly_pack_once_a_month_by_tier(api: Any, shop: Any, clock: Any) -> None:
    pack = _gift_template(api, shop, "月度饮品券", days_after_claim=62)  # this month's is still held next month
    api.put(
        "/v1/admin/tiers",
        {
            "tiers": [
                {"tier_id": "normal", "name": "普通", "threshold": 0},
                {"tier_id": "silver", "name": "银卡", "threshold": 1000, "monthly_template_ids": [pack]},
            ]
        },
        token=api.admin_token(shop),
    )
    plain, silver = _member(api, shop), _member(api, shop)
    Member(member_pk(shop.merchant_id, silver["id"]), "PROFILE").update(actions=[Member.tier_id.set("silver")])
    twice_at_once("monthly_packs")
    invoke("monthly_packs")
    assert len(held.mine(shop.merchant_id, silver["id"], "available").items) == 1
    assert held.mine(shop.merchant_id, plain["id"], "available").items == []
    next_month = timeline.months_later(clock.today, 1)
    clock.set(timeline.local(next_month - timedelta(days=1), 23))  # 23:00 on the month's last day in Shanghai
    assert invoke("monthly_packs")["done"] == 0
    clock.set(timeline.local(next_month, 0, 0, 1))  # the next month, in Shanghai (UTC is still on the last day)
    invoke("monthly_packs")
    invoke("monthly_packs")
    assert len(held.mine(shop.merchant_id, silver["id"], "available").items) == 2
