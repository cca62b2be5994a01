"""Issue 13: the welcome gift — points and coupons from settings, given once in the card opening's transaction.
Over HTTP on the local stack; racing openings go through the served API (http_race)."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mini_program_api.coupons import stock
from mini_program_api.db.coupon_templates import CouponTemplate, template_pk
from mini_program_api.db.coupons import Coupon
from mini_program_api.db.models import member_pk
from tests.http_race import post_at_once
from tests.ledger_checks import checked_balances

CASH = {
    "name": "开卡礼5元",
    "kind": "CASH",
    "amount": 500,
    "per_member_limit": 1,
    "days_after_claim": 7,
    "listed": False,
}


def _template(api: Any, merchant: Any, stock: int, **over: Any) -> str:
    status, body = api.post(
        "/v1/admin/coupon-templates", {**CASH, "total_stock": stock, **over}, token=api.admin_token(merchant)
    )
    assert status == 201, body
    return str(body["template_id"])


def _configure(api: Any, merchant: Any, **values: Any) -> tuple[int, Any]:
    return api.patch("/v1/admin/settings", values, token=api.admin_token(merchant))


def _coupons_of(merchant: Any, member_id: str) -> list[Coupon]:
    return list(
        Coupon.query(member_pk(merchant.merchant_id, member_id), Coupon.sk.startswith("COUPON#"), consistent_read=True)
    )


def _with_phone(api: Any, merchant: Any) -> dict[str, Any]:
    session = api.login(merchant)
    status, body = api.post(
        "/v1/me/phone", {"code": f"phone:139{uuid.uuid4().int % 10**8:08d}"}, token=session["token"]
    )
    assert status == 200, body
    return session


def _open(api: Any, merchant: Any, token: str) -> tuple[int, Any]:
    return api.post("/v1/me/card", {"agreed_terms_version": merchant.terms_version}, token=token)


def test_welcome_gift_is_configured_read_back_and_given_once(api: Any, merchant: Any) -> None:
    template_id = _template(api, merchant, stock=1)
    status, body = _configure(api, merchant, welcome_points=50, welcome_template_ids=[template_id])
    assert status == 200, body
    status, settings = api.get("/v1/admin/settings", token=api.admin_token(merchant))
    assert (settings["welcome_points"], settings["welcome_template_ids"]) == (50, [template_id])

    first = _with_phone(api, merchant)
    status, body = _open(api, merchant, first["token"])
    assert status == 200, body
    assert body["welcome_gift"] == {
        "points": 50,
        "coupon_ids": [c.coupon_id for c in _coupons_of(merchant, first["member"]["member_id"])],
        "sold_out": [],
        "unavailable": [],
    }
    assert body["points"] == 50 and len(body["welcome_gift"]["coupon_ids"]) == 1
    # Opening again (a retry, a second tap) gives nothing more.
    status, again = _open(api, merchant, first["token"])
    assert status == 200 and again["points"] == 50, again
    member_id = first["member"]["member_id"]
    assert len(_coupons_of(merchant, member_id)) == 1
    assert checked_balances(merchant.merchant_id, member_id)["points"] == 50
    status, ledger = api.get("/v1/me/ledger?account=points", token=first["token"])
    assert [(e["kind"], e["amount"]) for e in ledger["entries"]] == [("WELCOME_GIFT", 50)]

    # The one coupon in stock is gone: the next card still opens, with the points and no coupon.
    second = _with_phone(api, merchant)
    status, body = _open(api, merchant, second["token"])
    assert status == 200, body
    assert body["welcome_gift"] == {"points": 50, "coupon_ids": [], "sold_out": [template_id], "unavailable": []}
    assert _coupons_of(merchant, second["member"]["member_id"]) == []
    assert body["card"]["number"]


def test_welcome_config_naming_a_missing_or_unusable_template_changes_nothing(
    api: Any, merchant: Any, make_merchant: Any
) -> None:
    admin = api.admin_token(merchant)
    good = _template(api, merchant, stock=5)
    assert _configure(api, merchant, welcome_template_ids=[good])[0] == 200
    reward = _template(api, merchant, stock=5, points_price=100, listed=True)
    paused = _template(api, merchant, stock=5)
    assert api.post(f"/v1/admin/coupon-templates/{paused}/pause", token=admin)[0] == 200
    other_merchant_template = _template(api, make_merchant(), stock=5)
    for ids, code in (
        ([other_merchant_template], "TEMPLATE_NOT_FOUND"),
        (["CTnope"], "TEMPLATE_NOT_FOUND"),
        ([reward], "TEMPLATE_NOT_USABLE"),
        ([paused], "TEMPLATE_NOT_USABLE"),
        ([good, good], "VALIDATION_ERROR"),
    ):
        status, body = _configure(api, merchant, welcome_template_ids=ids, welcome_points=10)
        assert (status // 100, body["error"]["code"]) == (4, code), (ids, body)
    for bad in ({"welcome_points": -1}, {"welcome_points": "10"}, {}, {"welcome_points": None}):
        status, body = _configure(api, merchant, **bad)
        assert status == 400, (bad, body)
    status, settings = api.get("/v1/admin/settings", token=admin)
    assert (settings["welcome_points"], settings["welcome_template_ids"]) == (0, [good])
    # Only an admin of this merchant configures it.
    member = api.member_with_card(merchant)
    assert api.patch("/v1/admin/settings", {"welcome_points": 5}, token=member["token"])[0] == 403
    assert api.patch("/v1/admin/settings", {"welcome_points": 5}, token=api.staff_token(merchant))[0] == 403
    # An empty list turns the coupons off.
    assert _configure(api, merchant, welcome_template_ids=[])[0] == 200
    assert api.get("/v1/admin/settings", token=admin)[1]["welcome_template_ids"] == []


def test_a_template_paused_after_configuration_is_left_out_and_the_card_opens(api: Any, merchant: Any) -> None:
    template_id = _template(api, merchant, stock=5)
    assert _configure(api, merchant, welcome_template_ids=[template_id])[0] == 200
    assert api.post(f"/v1/admin/coupon-templates/{template_id}/pause", token=api.admin_token(merchant))[0] == 200
    session = _with_phone(api, merchant)
    status, body = _open(api, merchant, session["token"])
    assert status == 200 and body["card"]["number"], body
    assert body["welcome_gift"]["unavailable"] == [template_id] and body["points"] == 0


def test_racing_openings_give_each_member_one_gift_and_never_oversell(api: Any, merchant: Any, stack: Any) -> None:
    template_id = _template(api, merchant, stock=3)
    assert _configure(api, merchant, welcome_points=20, welcome_template_ids=[template_id])[0] == 200
    sessions = [_with_phone(api, merchant) for _ in range(6)]
    body = {"agreed_terms_version": merchant.terms_version}
    # Each member taps "open" twice at once; six members race for three coupons.
    tokens = [s["token"] for s in sessions for _ in range(2)]
    barrier = threading.Barrier(len(tokens))
    with ThreadPoolExecutor(len(tokens)) as pool:
        outcomes = list(pool.map(lambda t: post_at_once(barrier, f"{stack.api_url}/v1/me/card", body, t), tokens))
    assert all(status == 200 for status, _ in outcomes), outcomes
    held = 0
    for session in sessions:
        member_id = session["member"]["member_id"]
        assert checked_balances(merchant.merchant_id, member_id)["points"] == 20
        mine = _coupons_of(merchant, member_id)
        assert len(mine) <= 1
        held += len(mine)
    template = CouponTemplate.get(template_pk(merchant.merchant_id), template_id)
    assert held == 3 and stock.remaining_stock(merchant.merchant_id, template) == 0


def test_no_gift_configured_gives_nothing_and_records_nothing(api: Any, merchant: Any) -> None:
    session = _with_phone(api, merchant)
    status, body = _open(api, merchant, session["token"])
    assert status == 200 and body["welcome_gift"] is None and body["points"] == 0


def test_a_welcome_coupon_counts_towards_its_templates_per_member_limit(api: Any, merchant: Any) -> None:
    template_id = _template(api, merchant, stock=10, listed=True)  # limit 1, given on opening and also listed
    assert _configure(api, merchant, welcome_template_ids=[template_id])[0] == 200
    session = _with_phone(api, merchant)
    status, body = _open(api, merchant, session["token"])
    assert status == 200 and len(body["welcome_gift"]["coupon_ids"]) == 1, body
    status, offers = api.get("/v1/coupons/offers", token=session["token"])
    assert status == 200 and [o["claimed"] for o in offers["offers"] if o["template_id"] == template_id] == [1]
    status, body = api.post(
        f"/v1/coupons/offers/{template_id}/claim", token=session["token"], headers={"idempotency-key": uuid.uuid4().hex}
    )
    assert (status, body["error"]["code"]) == (409, "CLAIM_LIMIT_REACHED"), body
    assert len(_coupons_of(merchant, session["member"]["member_id"])) == 1


def test_gift_settings_refuse_templates_that_are_not_the_merchants_own(
    api: Any, merchant: Any, make_merchant: Any
) -> None:
    admin = api.admin_token(merchant)
    good = _template(api, merchant, stock=5)
    reward = _template(api, merchant, stock=5, points_price=100, listed=True)
    others = _template(api, make_merchant(), stock=5)
    tiers = lambda **gift: {"tiers": [{"tier_id": "normal", "name": "普通", "threshold": 0, **gift}]}  # noqa: E731
    for template_id, code in (
        (others, "TEMPLATE_NOT_FOUND"),
        ("CTnope", "TEMPLATE_NOT_FOUND"),
        (reward, "TEMPLATE_NOT_USABLE"),
    ):
        status, body = _configure(api, merchant, wakeup_template_id=template_id)
        assert (status // 100, body["error"]["code"]) == (4, code), (template_id, body)
        for gift in ({"birthday_template_id": template_id}, {"monthly_template_ids": [good, template_id]}):
            status, body = api.put("/v1/admin/tiers", tiers(**gift), token=admin)
            assert (status // 100, body["error"]["code"]) == (4, code), (gift, body)
    status, settings = api.get("/v1/admin/settings", token=admin)
    assert settings["wakeup_template_id"] is None
    status, read = api.get("/v1/admin/tiers", token=admin)
    assert [(t["birthday_template_id"], t["monthly_template_ids"]) for t in read["tiers"]] == [(None, [])] * len(
        read["tiers"]
    )

    assert _configure(api, merchant, wakeup_template_id=good)[0] == 200
    status, body = api.put(
        "/v1/admin/tiers", tiers(birthday_template_id=good, monthly_template_ids=[good]), token=admin
    )
    assert status == 200 and body["tiers"][0]["birthday_template_id"] == good, body
    # A template configured before it was paused does not block editing the tiers; a new one is checked.
    assert api.post(f"/v1/admin/coupon-templates/{good}/pause", token=admin)[0] == 200
    status, body = api.put(
        "/v1/admin/tiers", {"tiers": [{**tiers(birthday_template_id=good)["tiers"][0], "name": "会员"}]}, token=admin
    )
    assert status == 200 and body["tiers"][0]["name"] == "会员", body
    status, body = api.put(
        "/v1/admin/tiers", tiers(birthday_template_id=good, monthly_template_ids=[others]), token=admin
    )
    assert (status, body["error"]["code"]) == (404, "TEMPLATE_NOT_FOUND"), body
