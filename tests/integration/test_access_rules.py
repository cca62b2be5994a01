"""Who may do what: staff lockout under concurrency, store scoping, audited admin changes, template rules."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from mini_program_api.db.staff import StaffAccount, staff_pk
from mini_program_api.merchants import merchants
from mini_program_api.money import ledger
from mini_program_api.money.ledger import Account, Operation
from mini_program_api.platform import clock
from mini_program_api.staff import accounts, audit
from tests.db_calls import record
from tests.http_race import guess_at_once

PASSWORD = "correct horse battery"


def _today(merchant: Any) -> str:
    return clock.local_date(merchant.timezone).isoformat()


# --- item 14: the lockout holds under concurrency ---------------------------------------------


def test_20_concurrent_wrong_passwords_check_at_most_5_and_lock(
    api: Any, api_url: str, merchant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.staff_token(merchant, "s1")
    accounts.create_account(None, merchant.merchant_id, "bob", PASSWORD, "staff", "s1")
    body = {"merchant_id": merchant.merchant_id, "username": "bob", "password": "wrong password!"}
    checked, outcomes = guess_at_once(monkeypatch, accounts, f"{api_url}/v1/staff/login", [body] * 20)
    assert len(checked) <= accounts.MAX_FAILED_LOGINS, len(checked)
    assert set(outcomes) <= {(401, "INVALID_CREDENTIALS"), (429, "ACCOUNT_LOCKED")}
    status, body = api.post(
        "/v1/staff/login", {"merchant_id": merchant.merchant_id, "username": "bob", "password": PASSWORD}
    )
    assert (status, body["error"]["code"]) == (429, "ACCOUNT_LOCKED")  # the right password during the lock
    account = StaffAccount.get(staff_pk(merchant.merchant_id), "bob", consistent_read=True)
    assert account.locked_until is not None and account.locked_until > clock.now()


def test_the_lock_lifts_after_15_minutes_and_a_good_login_resets_the_count(api: Any, merchant: Any, clock: Any) -> None:
    api.staff_token(merchant, "s1")
    accounts.create_account(None, merchant.merchant_id, "bob", PASSWORD, "staff", "s1")
    login = {"merchant_id": merchant.merchant_id, "username": "bob"}
    for _ in range(accounts.MAX_FAILED_LOGINS - 1):
        assert api.post("/v1/staff/login", {**login, "password": "wrong password!"})[0] == 401
    assert api.post("/v1/staff/login", {**login, "password": PASSWORD})[0] == 200  # resets the count
    for _ in range(accounts.MAX_FAILED_LOGINS):
        assert api.post("/v1/staff/login", {**login, "password": "wrong password!"})[0] == 401
    assert api.post("/v1/staff/login", {**login, "password": PASSWORD})[0] == 429
    clock.advance(minutes=accounts.LOCK_MINUTES - 1)
    assert api.post("/v1/staff/login", {**login, "password": PASSWORD})[0] == 429
    clock.advance(minutes=1, seconds=1)
    assert api.post("/v1/staff/login", {**login, "password": PASSWORD})[0] == 200
    assert int(StaffAccount.get(staff_pk(merchant.merchant_id), "bob", consistent_read=True).failed_logins) == 0


# --- item 15: staff see and refund only their own store's sales ------------------------------


def test_staff_of_another_store_can_neither_read_nor_refund_a_sale(api: Any, merchant: Any) -> None:
    seller, other = api.staff_token(merchant, "s1"), api.staff_token(merchant, "s2")
    member = api.member_with_card(merchant)
    ledger.post(
        merchant.merchant_id,
        member["member"]["member_id"],
        Operation(f"test-{uuid.uuid4().hex[:8]}", "TEST_CREDIT", ledger.postings({Account.PRINCIPAL: 5000})),
    )
    status, sale = api.post(
        "/v1/staff/checkout",
        {"member_code": api.member_code(member["token"]), "amount": 3000, "stored_value": 3000},
        token=seller,
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 200, sale
    path = f"/v1/staff/orders/{sale['order_id']}"
    status, body = api.get(path, token=other)
    assert (status, body["error"]["code"]) == (404, "ORDER_NOT_FOUND")
    status, body = api.post(f"{path}/refund", token=other)
    assert (status, body["error"]["code"]) == (404, "ORDER_NOT_FOUND")
    assert api.get(path, token=seller) == (200, sale)
    assert api.get(path, token=api.admin_token(merchant)) == (200, sale)
    status, refunded = api.post(f"{path}/refund", token=seller)
    assert status == 200 and refunded["status"] == "REFUNDED"


# --- item 16: admin changes and their audit record in one transaction ------------------------


def test_settings_and_their_audit_record_with_old_and_new_values_are_one_transaction(
    api: Any, merchant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = api.admin_token(merchant)
    calls = record(monkeypatch)
    status, body = api.patch("/v1/admin/settings", {"points_per_yuan": 200, "tier_review": True}, token=admin)
    assert status == 200 and body["points_per_yuan"] == 200 and body["tier_review"] is True, body
    assert [c[0] for c in calls.writes] == ["TransactWriteItems"]
    items = calls.writes[0][1]["TransactItems"]
    assert sorted(next(iter(i)) for i in items) == ["Put", "Update"]  # the merchant and its audit record
    [entry] = [r for r in audit.day(merchant.merchant_id, _today(merchant)) if r.action == "SETTINGS_CHANGED"]
    detail = entry.detail.as_dict()
    assert json.loads(detail["old"]) == {"points_per_yuan": 100, "tier_review": False}
    assert json.loads(detail["new"]) == {"points_per_yuan": 200, "tier_review": True}


def test_tiers_and_their_audit_record_are_one_transaction(
    api: Any, merchant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = api.admin_token(merchant)
    calls = record(monkeypatch)
    tiers = [
        {"tier_id": "normal", "name": "普通", "threshold": 0},
        {"tier_id": "vip", "name": "VIP", "threshold": 2000, "discount_rate": 95},
    ]
    status, body = api.put("/v1/admin/tiers", {"tiers": tiers}, token=admin)
    assert status == 200, body
    assert [c[0] for c in calls.writes] == ["TransactWriteItems"]
    [entry] = [r for r in audit.day(merchant.merchant_id, _today(merchant)) if r.action == "TIERS_SET"]
    assert json.loads(entry.detail.as_dict()["new"]) == ["normal", "vip"]
    assert json.loads(entry.detail.as_dict()["old"]) == ["normal", "silver", "gold"]
    assert [t.tier_id for t in merchants.get(merchant.merchant_id).tiers] == ["normal", "vip"]


# --- item 17: template and plan rules ----------------------------------------------------------


def test_a_fixed_window_shorter_than_3_days_is_refused(api: Any, merchant: Any) -> None:
    admin, now = api.admin_token(merchant), clock.now()
    base = {"name": "快闪", "kind": "CASH", "amount": 300, "total_stock": 10, "per_member_limit": 1}
    for start, end in (
        (now, now + timedelta(days=2, hours=23)),
        (now + timedelta(days=10), now + timedelta(days=12)),
        (now - timedelta(days=30), now + timedelta(days=1)),
    ):  # 3 days long, 1 day left
        status, body = api.post(
            "/v1/admin/coupon-templates",
            {**base, "valid_from": start.isoformat(), "valid_until": end.isoformat()},
            token=admin,
        )
        assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), (start, end)
    status, body = api.post(
        "/v1/admin/coupon-templates",
        {**base, "valid_from": now.isoformat(), "valid_until": (now + timedelta(days=3, minutes=1)).isoformat()},
        token=admin,
    )
    assert status == 201, body


def test_unknown_store_ids_are_refused_in_templates_and_punch_plans(api: Any, merchant: Any) -> None:
    admin = api.admin_token(merchant)
    assert api.post("/v1/admin/stores", {"store_id": "s1", "name": "One"}, token=admin)[0] == 201
    template = {
        "name": "免费拿铁",
        "kind": "GIFT",
        "gift_name": "拿铁",
        "total_stock": 10,
        "per_member_limit": 1,
        "days_after_claim": 7,
    }
    plan = {"name": "10杯咖啡", "visits": 10, "valid_days": 90, "price": 2500}
    for path, body in (("/v1/admin/coupon-templates", template), ("/v1/admin/punch-card-plans", plan)):
        status, error = api.post(path, {**body, "store_ids": ["s1", "nope"]}, token=admin)
        assert (status, error["error"]["code"]) == (404, "STORE_NOT_FOUND"), path
        assert "nope" in error["error"]["message"]
        assert api.post(path, {**body, "store_ids": ["s1"]}, token=admin)[0] == 201, path
