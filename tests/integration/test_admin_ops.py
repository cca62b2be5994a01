"""Issue 13, "read back everything, change and stop": every admin configuration read back, coupon
templates changed, paused, resumed and ended, top-up plans, the prepaid cap and the terms version.
Over HTTP on the local stack; each bad input is a 4xx that changes nothing."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from mini_program_api.platform import clock
from tests import timeline
from tests.integration.test_coupons import _try_claim

CASH = {
    "name": "5元无门槛",
    "kind": "CASH",
    "amount": 500,
    "total_stock": 100,
    "per_member_limit": 1,
    "days_after_claim": 7,
}
TODAY = timeline.today()
WINDOW = {
    "days_after_claim": None,
    "valid_from": timeline.iso(TODAY - timedelta(days=3)),
    "valid_until": timeline.iso(TODAY + timedelta(days=38)),
}
LATER_END = timeline.iso(TODAY + timedelta(days=69))  # a later end than WINDOW's


def _key() -> dict[str, str]:
    return {"idempotency-key": uuid.uuid4().hex}


def _template(api: Any, merchant: Any, **over: Any) -> dict[str, Any]:
    status, body = api.post("/v1/admin/coupon-templates", {**CASH, **over}, token=api.admin_token(merchant))
    assert status == 201, body
    return body


def _read(api: Any, merchant: Any, template_id: str) -> dict[str, Any]:
    status, body = api.get(f"/v1/admin/coupon-templates/{template_id}", token=api.admin_token(merchant))
    assert status == 200, body
    return body


def _claim(api: Any, member: dict[str, Any], template_id: str) -> tuple[int, Any]:
    return api.post(f"/v1/coupons/offers/{template_id}/claim", token=member["token"], headers=_key())


def _offer_ids(api: Any, member: dict[str, Any]) -> list[str]:
    status, body = api.get("/v1/coupons/offers", token=member["token"])
    assert status == 200, body
    return [o["template_id"] for o in body["offers"]]


def _audit(api: Any, merchant: Any, action: str) -> list[dict[str, Any]]:
    day = clock.local_date(merchant.timezone).isoformat()
    status, body = api.get(f"/v1/admin/audit?day={day}", token=api.admin_token(merchant))
    assert status == 200, body
    return [r for r in body["records"] if r["action"] == action]


def _error(result: tuple[int, Any]) -> tuple[int, str]:
    status, body = result
    return status, body["error"]["code"]


@pytest.fixture
def member(api: Any, merchant: Any) -> dict[str, Any]:
    return api.member_with_card(merchant)


# --- role checks ------------------------------------------------------------------------------

ROUTES = [
    ("GET", "/v1/admin/tiers", None),
    ("GET", "/v1/admin/settings", None),
    ("GET", "/v1/admin/coupon-templates", None),
    ("GET", "/v1/admin/coupon-templates/CTx", None),
    ("PATCH", "/v1/admin/coupon-templates/CTx", {"name": "x"}),
    ("POST", "/v1/admin/coupon-templates/CTx/pause", None),
    ("POST", "/v1/admin/coupon-templates/CTx/resume", None),
    ("POST", "/v1/admin/coupon-templates/CTx/end", None),
    ("GET", "/v1/admin/punch-card-plans", None),
    ("GET", "/v1/admin/topup-plans", None),
    ("POST", "/v1/admin/topup-plans", {"amount": 100}),
    ("PATCH", "/v1/admin/topup-plans/p300", {"bonus": 1}),
    ("DELETE", "/v1/admin/topup-plans/p300", None),
    ("GET", "/v1/admin/stores", None),
    ("GET", "/v1/admin/staff", None),
    ("PATCH", "/v1/admin/settings", {"prepaid_cap": 100}),
]


def test_members_and_staff_are_refused_on_every_admin_route(api: Any, merchant: Any, member: dict[str, Any]) -> None:
    staff = api.staff_token(merchant)
    for method, path, body in ROUTES:
        assert _error(api.call(method, path, body, token=member["token"])) == (403, "FORBIDDEN"), path
        assert _error(api.call(method, path, body, token=staff)) == (403, "FORBIDDEN"), path
        assert _error(api.call(method, path, body)) == (401, "UNAUTHENTICATED"), path
    status, plans = api.get("/v1/admin/topup-plans", token=api.admin_token(merchant))
    assert [p["plan_id"] for p in plans["plans"]] == ["p300", "p500"]  # nothing was retired or changed


def test_another_merchants_templates_and_plans_are_not_found(api: Any, merchant: Any, make_merchant: Any) -> None:
    theirs = _template(api, make_merchant())["template_id"]
    admin = api.admin_token(merchant)
    assert _error(api.get(f"/v1/admin/coupon-templates/{theirs}", token=admin)) == (404, "TEMPLATE_NOT_FOUND")
    for action in ("pause", "resume", "end"):
        assert _error(api.post(f"/v1/admin/coupon-templates/{theirs}/{action}", token=admin)) == (
            404,
            "TEMPLATE_NOT_FOUND",
        )
    assert _error(api.patch(f"/v1/admin/coupon-templates/{theirs}", {"name": "x"}, token=admin)) == (
        404,
        "TEMPLATE_NOT_FOUND",
    )
    assert _error(api.patch("/v1/admin/topup-plans/nope", {"bonus": 1}, token=admin)) == (404, "PLAN_NOT_FOUND")
    assert _error(api.call("DELETE", "/v1/admin/topup-plans/nope", token=admin)) == (404, "PLAN_NOT_FOUND")


# --- read back --------------------------------------------------------------------------------


def test_tiers_read_back_as_they_were_put(api: Any, merchant: Any) -> None:
    admin = api.admin_token(merchant)
    birthday, monthly = (_template(api, merchant)["template_id"] for _ in range(2))  # gifts name real templates
    tiers = [
        {
            "tier_id": "a",
            "name": "A",
            "threshold": 0,
            "discount_rate": 100,
            "points_multiplier": 100,
            "birthday_template_id": None,
            "monthly_template_ids": [],
        },
        {
            "tier_id": "b",
            "name": "B",
            "threshold": 500,
            "discount_rate": 95,
            "points_multiplier": 150,
            "birthday_template_id": birthday,
            "monthly_template_ids": [monthly],
        },
    ]
    status, put = api.put("/v1/admin/tiers", {"tiers": tiers}, token=admin)
    assert status == 200, put
    status, got = api.get("/v1/admin/tiers", token=admin)
    assert status == 200 and got == put
    assert got["tiers"] == tiers  # what is read back can be PUT again


def test_settings_read_back_everything_patch_takes(api: Any, merchant: Any) -> None:
    admin = api.admin_token(merchant)
    wakeup = _template(api, merchant)["template_id"]
    change = {
        "points_per_yuan": 50,
        "points_expiry": "ROLLING",
        "points_expiry_days": 200,
        "tier_review": True,
        "referral_points": 30,
        "birthday_on": "DAY",
        "dormant_days": 60,
        "wakeup_template_id": wakeup,
        "message_templates": {"coupon_expiry": "tmpl-a", "birthday": "tmpl-b"},
        "prepaid_cap": 300000,
        "terms_version": "2026-11",
    }
    status, patched = api.patch("/v1/admin/settings", change, token=admin)
    assert status == 200, patched
    status, got = api.get("/v1/admin/settings", token=admin)
    assert status == 200 and got == patched
    assert {k: got[k] for k in change} == change
    assert got["sign_in_points"] == 10 and got["earn_points_per_yuan"] == 1  # untouched settings are shown too
    [record] = _audit(api, merchant, "SETTINGS_CHANGED")
    assert json.loads(record["detail"]["old"])["prepaid_cap"] == 500000
    assert json.loads(record["detail"]["new"])["prepaid_cap"] == 300000


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"prepaid_cap": None},
        {"prepaid_cap": 500001},
        {"prepaid_cap": 0},
        {"prepaid_cap": "1000"},
        {"terms_version": ""},
        {"terms_version": "v 2"},
        {"terms_version": 2},
        {"prepaid_cap": 1000, "nope": 1},
    ],
)
def test_bad_settings_are_400_and_change_nothing(api: Any, merchant: Any, bad: dict[str, Any]) -> None:
    admin = api.admin_token(merchant)
    before = api.get("/v1/admin/settings", token=admin)[1]
    assert _error(api.patch("/v1/admin/settings", bad, token=admin)) == (400, "VALIDATION_ERROR")
    assert api.get("/v1/admin/settings", token=admin)[1] == before
    assert _audit(api, merchant, "SETTINGS_CHANGED") == []


def test_a_lower_prepaid_cap_only_refuses_new_top_ups(api: Any, merchant: Any, member: dict[str, Any]) -> None:
    admin = api.admin_token(merchant)
    status, order = api.post("/v1/topup/orders", {"amount": 20000}, token=member["token"], headers=_key())
    assert status == 200, order
    assert api.patch("/v1/admin/settings", {"prepaid_cap": 10000}, token=admin)[0] == 200
    assert api.get("/v1/topup/plans", token=member["token"])[1]["prepaid_cap"] == 10000
    assert _error(api.post("/v1/topup/orders", {"amount": 500}, token=member["token"], headers=_key())) == (
        409,
        "PREPAID_CAP_EXCEEDED",
    )
    status, kept = api.get(f"/v1/topup/orders/{order['order_id']}", token=member["token"])
    assert status == 200 and kept["status"] == "PENDING" and kept["amount"] == 20000  # made before: still payable


def test_a_terms_bump_makes_members_agree_again_at_their_next_card_action(
    api: Any, merchant: Any, member: dict[str, Any]
) -> None:
    admin = api.admin_token(merchant)
    assert api.post("/v1/me/card", {"agreed_terms_version": "1"}, token=member["token"])[0] == 200
    assert api.patch("/v1/admin/settings", {"terms_version": "2"}, token=admin)[0] == 200
    status, body = api.post("/v1/me/card", {"agreed_terms_version": "1"}, token=member["token"])
    assert (status, body["error"]["code"], body["error"]["details"]) == (409, "TERMS_OUTDATED", {"terms_version": "2"})
    status, card = api.post("/v1/me/card", {"agreed_terms_version": "2"}, token=member["token"])
    assert status == 200 and card["card"]["number"] == member["member"]["card"]["number"]  # the same card
    from mini_program_api.members import members

    assert members.get(merchant.merchant_id, member["member"]["member_id"]).terms_version == "2"
    newcomer = api.login(merchant)
    assert (
        api.post("/v1/me/phone", {"code": f"phone:13900000001:{uuid.uuid4().hex[:6]}"}, token=newcomer["token"])[0]
        == 200
    )
    assert _error(api.post("/v1/me/card", {"agreed_terms_version": "1"}, token=newcomer["token"])) == (
        409,
        "TERMS_OUTDATED",
    )


def test_stores_staff_and_punch_plans_are_paged(api: Any, merchant: Any) -> None:
    admin = api.admin_token(merchant)
    for i in range(3):
        assert api.post("/v1/admin/stores", {"store_id": f"s{i}", "name": f"S{i}"}, token=admin)[0] == 201
        assert (
            api.post(
                "/v1/admin/staff",
                {"username": f"u{i}", "password": "correct horse battery", "role": "staff", "store_id": f"s{i}"},
                token=admin,
            )[0]
            == 201
        )
        assert (
            api.post(
                "/v1/admin/punch-card-plans",
                {"name": f"P{i}", "visits": 5, "valid_days": 30, "price": 100},
                token=admin,
            )[0]
            == 201
        )
    for path, field, ident in (
        ("/v1/admin/stores", "stores", "store_id"),
        ("/v1/admin/staff", "staff", "username"),
        ("/v1/admin/punch-card-plans", "plans", "plan_id"),
    ):
        n = 3 if field == "staff" else 2  # the staff list also holds the test's own admin account
        status, first = api.get(f"{path}?limit={n}", token=admin)
        assert status == 200 and len(first[field]) == n and first["cursor"], first
        status, rest = api.get(f"{path}?limit={n}&cursor={first['cursor']}", token=admin)
        assert status == 200 and len(rest[field]) == 1 and rest["cursor"] is None
        assert len({x[ident] for x in first[field] + rest[field]}) == n + 1
        assert _error(api.get(f"{path}?limit=0", token=admin)) == (400, "VALIDATION_ERROR")
        assert _error(api.get(f"{path}?cursor=bad", token=admin)) == (400, "INVALID_CURSOR")


# --- coupon templates -------------------------------------------------------------------------


def test_templates_list_paged_with_live_stock(api: Any, merchant: Any, member: dict[str, Any]) -> None:
    made = [_template(api, merchant, name=f"T{i}", total_stock=10 + i)["template_id"] for i in range(3)]
    assert _claim(api, member, made[0])[0] == 200
    admin = api.admin_token(merchant)
    status, first = api.get("/v1/admin/coupon-templates?limit=2", token=admin)
    assert status == 200 and len(first["templates"]) == 2 and first["cursor"]
    status, rest = api.get(f"/v1/admin/coupon-templates?limit=2&cursor={first['cursor']}", token=admin)
    assert status == 200 and len(rest["templates"]) == 1 and rest["cursor"] is None
    listed = {t["template_id"]: t for t in first["templates"] + rest["templates"]}
    assert set(listed) == set(made)
    one = _read(api, merchant, made[0])
    assert one == listed[made[0]]
    assert (one["status"], one["total_stock"], one["claimed"], one["remaining"]) == ("active", 10, 1, 9)
    assert _error(api.get("/v1/admin/coupon-templates?cursor=bad", token=admin)) == (400, "INVALID_CURSOR")


def test_patch_changes_what_is_safe_and_the_shelf_follows(
    api: Any, merchant: Any, member: dict[str, Any], clock: Any
) -> None:
    tid = _template(api, merchant, **WINDOW, total_stock=5)["template_id"]
    admin = api.admin_token(merchant)
    change = {"name": "新名字", "total_stock": 40, "valid_until": LATER_END}
    status, body = api.patch(f"/v1/admin/coupon-templates/{tid}", change, token=admin)
    assert status == 200, body
    assert (body["name"], body["total_stock"], body["remaining"], body["valid_until"]) == ("新名字", 40, 40, LATER_END)
    assert _read(api, merchant, tid) == body
    [record] = _audit(api, merchant, "COUPON_TEMPLATE_CHANGED")
    assert json.loads(record["detail"]["old"])["total_stock"] == 5
    assert json.loads(record["detail"]["new"])["name"] == "新名字"
    clock.advance(days=40)  # past the old end, before the new one: still on the shelf, claimable
    member = {**member, "token": api.token(merchant, member["member"]["member_id"])}
    admin = api.admin_token(merchant)
    assert tid in _offer_ids(api, member)
    status, coupon = _claim(api, member, tid)
    assert status == 200 and coupon["name"] == "新名字" and coupon["valid_until"] == LATER_END
    assert api.patch(f"/v1/admin/coupon-templates/{tid}", {"listed": False}, token=admin)[0] == 200
    assert tid not in _offer_ids(api, member)
    assert _error(_claim(api, member, tid)) == (404, "OFFER_NOT_FOUND")
    assert api.patch(f"/v1/admin/coupon-templates/{tid}", {"listed": True}, token=admin)[0] == 200
    assert tid in _offer_ids(api, member)


@pytest.mark.parametrize(
    "bad,code",
    [
        ({}, "VALIDATION_ERROR"),
        ({"name": None}, "VALIDATION_ERROR"),
        ({"total_stock": 4}, "VALIDATION_ERROR"),
        ({"total_stock": 10_000_001}, "VALIDATION_ERROR"),
        ({"total_stock": "9"}, "VALIDATION_ERROR"),
        ({"valid_until": timeline.iso(TODAY + timedelta(days=37))}, "VALIDATION_ERROR"),  # earlier than it was
        ({"valid_until": LATER_END[:19]}, "VALIDATION_ERROR"),  # no offset ({"kind": "GIFT"}, "VALIDATION_ERROR"),
        ({"per_member_limit": 5}, "VALIDATION_ERROR"),
        ({"name": ""}, "VALIDATION_ERROR"),
    ],
)
def test_bad_template_changes_are_400_and_change_nothing(
    api: Any, merchant: Any, bad: dict[str, Any], code: str
) -> None:
    tid = _template(api, merchant, **WINDOW, total_stock=5)["template_id"]
    before = _read(api, merchant, tid)
    assert _error(api.patch(f"/v1/admin/coupon-templates/{tid}", bad, token=api.admin_token(merchant))) == (400, code)
    assert _read(api, merchant, tid) == before
    assert _audit(api, merchant, "COUPON_TEMPLATE_CHANGED") == []


def test_a_relative_validity_has_no_end_to_move(api: Any, merchant: Any) -> None:
    tid = _template(api, merchant)["template_id"]
    assert _error(
        api.patch(f"/v1/admin/coupon-templates/{tid}", {"valid_until": LATER_END}, token=api.admin_token(merchant))
    ) == (400, "VALIDATION_ERROR")


def test_pause_stops_claims_resume_restarts_them_and_issued_coupons_keep_working(
    api: Any, merchant: Any, member: dict[str, Any]
) -> None:
    tid = _template(api, merchant, per_member_limit=3)["template_id"]
    admin = api.admin_token(merchant)
    status, coupon = _claim(api, member, tid)
    assert status == 200
    status, paused = api.post(f"/v1/admin/coupon-templates/{tid}/pause", token=admin)
    assert status == 200 and paused["status"] == "paused"
    assert api.post(f"/v1/admin/coupon-templates/{tid}/pause", token=admin)[1] == paused  # again: no change
    assert len(_audit(api, merchant, "COUPON_TEMPLATE_PAUSED")) == 1
    assert _error(_claim(api, member, tid)) == (409, "OFFER_NOT_AVAILABLE")
    assert tid not in _offer_ids(api, member)
    staff = api.staff_token(merchant)
    status, receipt = api.post(
        "/v1/staff/checkout",
        {"member_code": api.member_code(member["token"]), "amount": 2000, "coupon_id": coupon["coupon_id"]},
        token=staff,
        headers=_key(),
    )
    assert status == 200 and receipt["coupon_discount"] == 500, receipt
    status, resumed = api.post(f"/v1/admin/coupon-templates/{tid}/resume", token=admin)
    assert status == 200 and resumed["status"] == "active"
    assert tid in _offer_ids(api, member)
    assert _claim(api, member, tid)[0] == 200
    assert _read(api, merchant, tid)["claimed"] == 2


def test_end_is_for_good(api: Any, merchant: Any, member: dict[str, Any]) -> None:
    tid = _template(api, merchant)["template_id"]
    admin = api.admin_token(merchant)
    status, coupon = _claim(api, member, tid)
    status, ended = api.post(f"/v1/admin/coupon-templates/{tid}/end", token=admin)
    assert status == 200 and ended["status"] == "ended" and ended["ended_at"]
    assert _error(_claim(api, member, tid)) == (409, "OFFER_NOT_AVAILABLE")
    assert tid not in _offer_ids(api, member)
    for action in ("resume", "pause"):
        assert _error(api.post(f"/v1/admin/coupon-templates/{tid}/{action}", token=admin)) == (409, "TEMPLATE_ENDED")
    assert _error(api.patch(f"/v1/admin/coupon-templates/{tid}", {"name": "x"}, token=admin)) == (409, "TEMPLATE_ENDED")
    assert api.post(f"/v1/admin/coupon-templates/{tid}/end", token=admin)[1] == ended
    assert len(_audit(api, merchant, "COUPON_TEMPLATE_ENDED")) == 1
    status, mine = api.get("/v1/me/coupons", token=member["token"])
    assert [c["coupon_id"] for c in mine["coupons"]] == [coupon["coupon_id"]]  # still available to use


def test_more_stock_under_concurrent_claims_never_oversells(api: Any, merchant: Any) -> None:
    tid = _template(api, merchant, total_stock=10, per_member_limit=2)["template_id"]
    people = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(20)]
    admin = api.admin_token(merchant)
    with ThreadPoolExecutor(8) as pool:
        running = [pool.submit(_try_claim, merchant, people[i % 20], tid) for i in range(40)]
        status, body = api.patch(f"/v1/admin/coupon-templates/{tid}", {"total_stock": 25}, token=admin)
        outcomes = [f.result() for f in running]
    assert status == 200, body
    assert set(outcomes) <= {"ok", "SOLD_OUT", "CLAIM_LIMIT_REACHED"}
    final = _read(api, merchant, tid)
    assert final["total_stock"] == 25
    assert final["claimed"] == outcomes.count("ok") <= 25
    assert final["claimed"] + final["remaining"] == 25


# --- top-up plans -----------------------------------------------------------------------------


def test_topup_plans_create_edit_retire_and_read_back(
    api: Any, merchant: Any, member: dict[str, Any], sandbox: Any
) -> None:
    admin = api.admin_token(merchant)
    key = _key()
    status, made = api.post("/v1/admin/topup-plans", {"amount": 10000, "bonus": 1000}, token=admin, headers=key)
    assert status == 201 and made["amount"] == 10000, made
    assert api.post("/v1/admin/topup-plans", {"amount": 10000, "bonus": 1000}, token=admin, headers=key) == (201, made)
    assert _error(api.post("/v1/admin/topup-plans", {"amount": 20000}, token=admin, headers=key)) == (
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )
    assert len(_audit(api, merchant, "TOPUP_PLAN_CREATED")) == 1
    status, listed = api.get("/v1/admin/topup-plans", token=admin)
    assert made in listed["plans"]
    pid = made["plan_id"]
    assert made in api.get("/v1/topup/plans", token=member["token"])[1]["plans"]
    status, order = api.post("/v1/topup/orders", {"plan_id": pid}, token=member["token"], headers=_key())
    assert status == 200 and order["bonus"] == 1000
    status, edited = api.patch(f"/v1/admin/topup-plans/{pid}", {"bonus": 2000}, token=admin)
    assert status == 200 and edited == {"plan_id": pid, "amount": 10000, "bonus": 2000}
    assert edited in api.get("/v1/admin/topup-plans", token=admin)[1]["plans"]
    assert api.call("DELETE", f"/v1/admin/topup-plans/{pid}", token=admin) == (204, None)
    assert pid not in [p["plan_id"] for p in api.get("/v1/admin/topup-plans", token=admin)[1]["plans"]]
    assert _error(api.post("/v1/topup/orders", {"plan_id": pid}, token=member["token"], headers=_key())) == (
        404,
        "PLAN_NOT_FOUND",
    )
    sandbox.pay.pay(order["order_id"])  # the order made before retiring is paid and credited as made
    status, paid = api.get(f"/v1/topup/orders/{order['order_id']}", token=member["token"])
    assert paid["status"] == "PAID" and paid["bonus"] == 1000
    me = api.get("/v1/me", token=member["token"])[1]
    assert (me["principal"], me["bonus"]) == (10000, 1000)
    [retired] = _audit(api, merchant, "TOPUP_PLAN_RETIRED")
    assert json.loads(retired["detail"]["old"]) == {"amount": 10000, "bonus": 2000}


def test_a_named_plan_retried_is_the_same_plan_and_a_taken_id_is_409(api: Any, merchant: Any) -> None:
    admin = api.admin_token(merchant)
    body = {"plan_id": "p100", "amount": 10000, "bonus": 0}
    assert api.post("/v1/admin/topup-plans", body, token=admin)[0] == 201
    assert api.post("/v1/admin/topup-plans", body, token=admin)[0] == 201
    assert _error(api.post("/v1/admin/topup-plans", {**body, "bonus": 5}, token=admin)) == (409, "ALREADY_EXISTS")
    assert len(_audit(api, merchant, "TOPUP_PLAN_CREATED")) == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"amount": 10000, "bonus": 10001},
        {"amount": 0},
        {"amount": 500001},
        {"amount": "100"},
        {"bonus": 5},
        {"amount": 100, "plan_id": "a b"},
        {"amount": 100, "extra": 1},
    ],
)
def test_bad_topup_plans_are_400_and_change_nothing(api: Any, merchant: Any, bad: dict[str, Any]) -> None:
    admin = api.admin_token(merchant)
    before = api.get("/v1/admin/topup-plans", token=admin)[1]
    assert _error(api.post("/v1/admin/topup-plans", bad, token=admin, headers=_key())) == (400, "VALIDATION_ERROR")
    assert api.get("/v1/admin/topup-plans", token=admin)[1] == before


@pytest.mark.parametrize(
    "bad", [{}, {"amount": None, "bonus": None}, {"bonus": 30001}, {"amount": 1000}, {"plan_id": "x"}]
)
def test_bad_plan_edits_are_400_and_change_nothing(api: Any, merchant: Any, bad: dict[str, Any]) -> None:
    admin = api.admin_token(merchant)
    before = api.get("/v1/admin/topup-plans", token=admin)[1]
    assert _error(api.patch("/v1/admin/topup-plans/p300", bad, token=admin)) == (400, "VALIDATION_ERROR")
    assert api.get("/v1/admin/topup-plans", token=admin)[1] == before


def test_a_plan_above_the_cap_is_refused(api: Any, merchant: Any) -> None:
    admin = api.admin_token(merchant)
    assert api.patch("/v1/admin/settings", {"prepaid_cap": 20000}, token=admin)[0] == 200
    assert _error(api.post("/v1/admin/topup-plans", {"amount": 20001}, token=admin)) == (400, "VALIDATION_ERROR")
