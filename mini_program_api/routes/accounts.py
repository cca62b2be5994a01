"""The back office's people and places (role admin): stores edited or closed, staff accounts disabled,
re-passworded or signed out everywhere, and the audit trail that records all of it."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from mini_program_api.platform import clock
from mini_program_api.routes.endpoint import Call, endpoint
from mini_program_api.routes.views import store_view

if TYPE_CHECKING:  # annotations only: models and domain modules load on first use (endpoint.py)
    from mini_program_api.db.staff import AuditRecord, StaffAccount
    from mini_program_api.platform import paging
    from mini_program_api.routes.schemas import AuditQuery

bp = Blueprint(__name__)


def account_view(account: StaffAccount, tz: str) -> dict[str, Any]:
    locked = account.locked_until if account.locked_until and account.locked_until > clock.now() else None
    return {
        "username": account.username,
        "role": account.role,
        "store_id": account.store_id,
        "disabled": bool(account.disabled),
        "locked_until": clock.iso(locked, tz) if locked else None,
        "created_at": clock.iso(account.created_at, tz),
    }


def audit_view(record: AuditRecord, tz: str) -> dict[str, Any]:
    return {
        "at": clock.iso(record.at, tz),
        "actor": record.actor,
        "role": record.role,
        "store_id": record.store_id,
        "action": record.action,
        "target": record.target,
        "member_id": record.member_id,
        "detail": record.detail.as_dict(),
    }


def audit_page(page: paging.Page[AuditRecord], tz: str) -> dict[str, Any]:
    return {"records": [audit_view(r, tz) for r in page.items], "cursor": page.cursor}


@endpoint(bp, "/v1/admin/stores/{store_id}", "GET", role="admin", response="StoreView", errors=("STORE_NOT_FOUND",))
def get_store(call: Call, store_id: str) -> dict[str, Any]:
    from mini_program_api.staff import stores

    return store_view(stores.get_store(call.caller.merchant_id, store_id), call.timezone)


@endpoint(
    bp,
    "/v1/admin/stores/{store_id}",
    "PATCH",
    role="admin",
    body="StorePatchBody",
    response="StoreView",
    errors=("STORE_NOT_FOUND",),
)
def rename_store(call: Call, store_id: str) -> dict[str, Any]:
    from mini_program_api.staff import stores

    return store_view(stores.rename_store(call.caller, store_id, call.body.name), call.timezone)


@endpoint(
    bp,
    "/v1/admin/stores/{store_id}/close",
    "POST",
    role="admin",
    response="StoreView",
    errors=("STORE_CLOSED", "STORE_NOT_FOUND"),
)
def close_store(call: Call, store_id: str) -> dict[str, Any]:
    from mini_program_api.staff import stores

    return store_view(stores.close_store(call.caller, store_id), call.timezone)


@endpoint(bp, "/v1/admin/staff/{username}", "GET", role="admin", response="StaffView", errors=("STAFF_NOT_FOUND",))
def get_account(call: Call, username: str) -> dict[str, Any]:
    from mini_program_api.staff import accounts

    return account_view(accounts.account(call.caller.merchant_id, username), call.timezone)


@endpoint(
    bp,
    "/v1/admin/staff/{username}/disable",
    "POST",
    role="admin",
    response="StaffView",
    errors=("STAFF_NOT_FOUND", "CANNOT_DISABLE_SELF"),
)
def disable(call: Call, username: str) -> dict[str, Any]:
    from mini_program_api.staff import accounts

    return account_view(accounts.set_disabled(call.caller, username, True), call.timezone)


@endpoint(
    bp,
    "/v1/admin/staff/{username}/enable",
    "POST",
    role="admin",
    response="StaffView",
    errors=("CANNOT_DISABLE_SELF", "STAFF_NOT_FOUND"),
)
def enable(call: Call, username: str) -> dict[str, Any]:
    from mini_program_api.staff import accounts

    return account_view(accounts.set_disabled(call.caller, username, False), call.timezone)


@endpoint(
    bp,
    "/v1/admin/staff/{username}/password",
    "POST",
    role="admin",
    body="StaffPasswordBody",
    response="StaffView",
    errors=("STAFF_NOT_FOUND",),
)
def reset_password(call: Call, username: str) -> dict[str, Any]:
    from mini_program_api.staff import accounts

    return account_view(accounts.reset_password(call.caller, username, call.body.password), call.timezone)


@endpoint(
    bp,
    "/v1/admin/staff/{username}/revoke-sessions",
    "POST",
    role="admin",
    response="StaffView",
    errors=("STAFF_NOT_FOUND",),
)
def revoke_sessions(call: Call, username: str) -> dict[str, Any]:
    from mini_program_api.staff import accounts

    return account_view(accounts.revoke_sessions(call.caller, username), call.timezone)


@endpoint(
    bp, "/v1/admin/audit", "GET", role="admin", query="AuditQuery", response="AuditDayView", errors=("NOT_FOUND",)
)
def audit_trail(call: Call) -> dict[str, Any]:
    """`?day=`: that day, oldest first (paged); without it, the whole trail, newest first, across days."""
    from mini_program_api.merchants import merchants
    from mini_program_api.staff import audit

    q: AuditQuery = call.query
    merchant_id, tz = call.caller.merchant_id, call.timezone
    if q.day:
        return audit_page(audit.day_page(merchant_id, q.day, q.cursor, q.limit), tz)
    # No record is older than the merchant (a day's margin for its time zone).
    since = clock.local_date(tz, merchants.get(merchant_id).created_at - timedelta(days=1))
    return audit_page(audit.trail(merchant_id, q.cursor, q.limit, since), tz)
