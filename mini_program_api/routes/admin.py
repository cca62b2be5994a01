"""The merchant's back office (role admin): stores, staff, punch-card and top-up plans, tiers, settings,
the audit trail. Everything an admin writes can be read back here; lists that can grow are paged."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from mini_program_api.routes.accounts import account_view
from mini_program_api.routes.endpoint import Call, endpoint
from mini_program_api.routes.views import (
    admin_tier_view,
    plan_view,
    punch_card_view,
    punch_plan_view,
    settings_view,
    store_view,
)

if TYPE_CHECKING:  # annotations only: models and domain modules load on first use (endpoint.py)
    from mini_program_api.routes.schemas import PunchPlanBody, StaffBody, TopupPlanBody

bp = Blueprint(__name__)


@endpoint(
    bp,
    "/v1/admin/stores",
    "POST",
    role="admin",
    body="StoreBody",
    status=201,
    response="StoreView",
    errors=("ALREADY_EXISTS", "NOT_FOUND", "STORE_NOT_FOUND"),
)
def create_store(call: Call) -> dict[str, Any]:
    from mini_program_api.staff import stores

    store = stores.create_store(call.caller, call.body.store_id, call.body.name)
    return {"store_id": store.store_id, "name": store.name}


@endpoint(bp, "/v1/admin/stores", "GET", role="admin", query="PageQuery", response="StorePage")
def list_stores(call: Call) -> dict[str, Any]:
    from mini_program_api.staff import stores

    page = stores.stores(call.caller.merchant_id, call.query.cursor, call.query.limit)
    return {"stores": [store_view(s, call.timezone) for s in page.items], "cursor": page.cursor}


@endpoint(
    bp,
    "/v1/admin/staff",
    "POST",
    role="admin",
    body="StaffBody",
    status=201,
    response="StaffView",
    errors=("ALREADY_EXISTS", "NOT_FOUND", "STORE_NOT_FOUND", "STORE_CLOSED"),
)
def create_staff(call: Call) -> dict[str, Any]:
    from mini_program_api.staff import accounts

    body: StaffBody = call.body
    account = accounts.create_account(
        call.caller, call.caller.merchant_id, body.username, body.password, body.role, body.store_id
    )
    return {"username": account.username, "role": account.role, "store_id": account.store_id}


@endpoint(bp, "/v1/admin/staff", "GET", role="admin", query="PageQuery", response="StaffPage")
def list_staff(call: Call) -> dict[str, Any]:
    from mini_program_api.staff import accounts

    page = accounts.accounts(call.caller.merchant_id, call.query.cursor, call.query.limit)
    return {"staff": [account_view(a, call.timezone) for a in page.items], "cursor": page.cursor}


@endpoint(
    bp,
    "/v1/admin/punch-card-plans",
    "POST",
    role="admin",
    body="PunchPlanBody",
    status=201,
    response="PunchPlanView",
    idempotent=True,
    errors=("NOT_FOUND", "PUNCH_PLAN_NOT_FOUND", "STORE_NOT_FOUND"),
)
def create_punch_plan(call: Call) -> dict[str, Any]:
    from mini_program_api.till import punch_cards

    body: PunchPlanBody = call.body
    plan = punch_cards.create_plan(
        call.caller, body.name, body.visits, body.valid_days, body.price, body.store_ids, call.idempotency_key
    )
    return punch_plan_view(plan)


@endpoint(bp, "/v1/admin/punch-card-plans", "GET", role="admin", query="PageQuery", response="PunchPlanPage")
def list_punch_plans(call: Call) -> dict[str, Any]:
    from mini_program_api.till import punch_cards

    page = punch_cards.plan_page(call.caller.merchant_id, call.query.cursor, call.query.limit)
    return {"plans": [punch_plan_view(p) for p in page.items], "cursor": page.cursor}


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/punch-cards",
    "POST",
    role="admin",
    body="PunchGiveBody",
    status=201,
    response="PunchCardView",
    idempotent=True,
    errors=("CARD_NOT_OPEN", "MEMBER_NOT_FOUND", "PUNCH_CARD_NOT_FOUND", "PUNCH_PLAN_NOT_FOUND"),
)
def give_punch_card(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.till import punch_cards

    card = punch_cards.give(call.caller, member_id, call.body.plan_id, call.idempotency_key)
    return punch_card_view(card, call.timezone)


@endpoint(bp, "/v1/admin/tiers", "GET", role="admin", response="TiersView", errors=("NOT_FOUND",))
def get_tiers(call: Call) -> dict[str, Any]:
    from mini_program_api.merchants import merchants

    return {"tiers": [admin_tier_view(t) for t in merchants.read(call.caller.merchant_id).tiers]}


@endpoint(
    bp,
    "/v1/admin/tiers",
    "PUT",
    role="admin",
    body="TiersBody",
    response="TiersView",
    errors=("NOT_FOUND", "TEMPLATE_NOT_FOUND", "TEMPLATE_NOT_USABLE"),
)
def set_tiers(call: Call) -> dict[str, Any]:
    from mini_program_api.merchants import changes, configuration

    specs = [
        configuration.TierSpec(**{**t.model_dump(), "monthly_template_ids": tuple(t.monthly_template_ids)})
        for t in call.body.tiers
    ]
    merchant = changes.set_tiers(call.caller, specs)
    return {"tiers": [admin_tier_view(t) for t in merchant.tiers]}


@endpoint(bp, "/v1/admin/settings", "GET", role="admin", response="SettingsView", errors=("NOT_FOUND",))
def get_settings(call: Call) -> dict[str, Any]:
    from mini_program_api.merchants import merchants

    return settings_view(merchants.read(call.caller.merchant_id))


@endpoint(
    bp,
    "/v1/admin/settings",
    "PATCH",
    role="admin",
    body="SettingsBody",
    response="SettingsView",
    errors=("NOT_FOUND", "TEMPLATE_NOT_FOUND", "TEMPLATE_NOT_USABLE"),
)
def update_settings(call: Call) -> dict[str, Any]:
    from mini_program_api.merchants import changes

    return settings_view(changes.update_settings(call.caller, call.body.model_dump(exclude_none=True)))


@endpoint(bp, "/v1/admin/topup-plans", "GET", role="admin", response="AdminTopupPlansView", errors=("NOT_FOUND",))
def list_topup_plans(call: Call) -> dict[str, Any]:
    """At most `plans.MAX_PLANS`, on the merchant row: one page."""
    from mini_program_api.merchants import merchants
    from mini_program_api.topup import plans

    return {"plans": [plan_view(p) for p in plans.listed(merchants.read(call.caller.merchant_id))]}


@endpoint(
    bp,
    "/v1/admin/topup-plans",
    "POST",
    role="admin",
    body="TopupPlanBody",
    status=201,
    response="TopupPlanView",
    idempotent=True,
    errors=("ALREADY_EXISTS", "NOT_FOUND", "PLAN_NOT_FOUND", "TOO_MANY_PLANS"),
)
def create_topup_plan(call: Call) -> dict[str, Any]:
    from mini_program_api.topup import plans

    body: TopupPlanBody = call.body
    return plan_view(plans.create(call.caller, body.plan_id, body.amount, body.bonus, call.idempotency_key))


@endpoint(
    bp,
    "/v1/admin/topup-plans/{plan_id}",
    "PATCH",
    role="admin",
    body="TopupPlanPatchBody",
    response="TopupPlanView",
    errors=("PLAN_NOT_FOUND",),
)
def edit_topup_plan(call: Call, plan_id: str) -> dict[str, Any]:
    from mini_program_api.topup import plans

    return plan_view(plans.edit(call.caller, plan_id, call.body.amount, call.body.bonus))


@endpoint(bp, "/v1/admin/topup-plans/{plan_id}", "DELETE", role="admin", status=204, errors=("PLAN_NOT_FOUND",))
def retire_topup_plan(call: Call, plan_id: str) -> None:
    from mini_program_api.topup import plans

    plans.retire(call.caller, plan_id)


def _member_days(merchant: Any) -> dict[str, Any]:
    from mini_program_api.merchants import member_days

    return {"member_days": [member_days.view(d) for d in merchant.member_days or []]}


@endpoint(bp, "/v1/admin/member-days", "GET", role="admin", response="MemberDaysView", errors=("NOT_FOUND",))
def get_member_days(call: Call) -> dict[str, Any]:
    """The member days (points multipliers), as PUT takes them."""
    from mini_program_api.merchants import merchants

    return _member_days(merchants.read(call.caller.merchant_id))


@endpoint(
    bp,
    "/v1/admin/member-days",
    "PUT",
    role="admin",
    body="MemberDaysBody",
    response="MemberDaysView",
    errors=("NOT_FOUND",),
)
def set_member_days(call: Call) -> dict[str, Any]:
    """Replace the member days; audited; the same list again changes nothing."""
    from mini_program_api.merchants import changes, member_days

    specs = [
        member_days.DaySpec(
            **{**d.model_dump(), "weekdays": tuple(d.weekdays), "dates": tuple(d.dates), "tier_ids": tuple(d.tier_ids)}
        )
        for d in call.body.member_days
    ]
    return _member_days(changes.set_member_days(call.caller, specs))
