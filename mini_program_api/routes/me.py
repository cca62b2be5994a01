"""The member's own resources: /v1/me/*. Ids come only from the token, never from the client."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from mini_program_api.platform.clock import iso
from mini_program_api.routes.endpoint import Call, endpoint
from mini_program_api.routes.views import entry_view, member_view

if TYPE_CHECKING:  # annotations only: models and domain modules load on first use (endpoint.py)
    from mini_program_api.routes.schemas import CardBody, LedgerQuery

bp = Blueprint(__name__)


def _me(call: Call, as_found: bool = False) -> dict[str, Any]:
    """The member's view; `as_found`: from the row the call's authentication read (a call that wrote nothing)."""
    from mini_program_api.members import members
    from mini_program_api.merchants import merchants

    merchant = merchants.get(call.caller.merchant_id)
    member = call.member if as_found else None
    return member_view(merchant, member or members.get(call.caller.merchant_id, call.caller.subject))


@endpoint(bp, "/v1/me", "GET", role="member", response="MeView", errors=("MEMBER_NOT_FOUND", "NOT_FOUND"))
def me(call: Call) -> dict[str, Any]:
    from mini_program_api.coupons import held

    return {
        **_me(call, as_found=True),
        "coupon_count": held.available_count(call.caller.merchant_id, call.caller.subject),
    }


@endpoint(
    bp,
    "/v1/me/phone",
    "POST",
    role="member",
    body="PhoneBody",
    response="PhoneBoundView",
    errors=(
        "INVALID_CODE",
        "MEMBER_NOT_FOUND",
        "NOT_FOUND",
        "PHONE_IN_USE",
        "SPENDING_LOCKED",
        "SPENDING_PASSWORD_NOT_SET",
        "SPENDING_PASSWORD_WRONG",
        "VERIFICATION_REQUIRED",
        "WECHAT_UNAVAILABLE",
    ),
)
def bind_phone(call: Call) -> dict[str, Any]:
    """The bound phone resets the spending password, so changing it is guarded there (till/spending_password.py).
    A first login whose number finds an imported card moves to that member: the answer carries its token."""
    from mini_program_api.merchants import merchants
    from mini_program_api.platform import auth
    from mini_program_api.platform.auth import Principal
    from mini_program_api.till import spending_password

    bound = spending_password.bind_phone(
        call.caller.merchant_id, call.caller.subject, call.body.code, call.body.spending_password
    )
    if bound.member_id == call.caller.subject:
        return {**_me(call), "token": None}
    token, _ = auth.issue(Principal(call.caller.merchant_id, bound.member_id, "member"))
    return {**member_view(merchants.get(call.caller.merchant_id), bound), "token": token}


@endpoint(
    bp,
    "/v1/me/card",
    "POST",
    role="member",
    body="CardBody",
    response="CardOpenedView",
    errors=("MEMBER_NOT_FOUND", "NOT_FOUND", "PHONE_REQUIRED", "PUNCH_CARD_NOT_FOUND", "TERMS_OUTDATED"),
)
def open_card(call: Call) -> dict[str, Any]:
    from mini_program_api.members import cards, welcome_gift

    body: CardBody = call.body
    cards.open_card(
        call.caller.merchant_id,
        call.caller.subject,
        body.agreed_terms_version,
        body.name,
        date.fromisoformat(body.birthday) if body.birthday else None,
    )
    return {**_me(call), "welcome_gift": welcome_gift.given(call.caller.merchant_id, call.caller.subject)}


@endpoint(
    bp,
    "/v1/me/code",
    "GET",
    role="member",
    response="MemberCodeView",
    errors=("CARD_NOT_OPEN", "MEMBER_NOT_FOUND", "NOT_FOUND"),
)
def member_code(call: Call) -> dict[str, Any]:
    from mini_program_api.members import member_codes, members
    from mini_program_api.merchants import merchants

    merchant = merchants.get(call.caller.merchant_id)
    code, expires_at = member_codes.issue(members.get(call.caller.merchant_id, call.caller.subject))
    return {"code": code, "expires_at": iso(expires_at, merchant.timezone), "expires_in": member_codes.ttl_seconds()}


@endpoint(bp, "/v1/me/ledger", "GET", role="member", query="LedgerQuery", response="LedgerPage", errors=("NOT_FOUND",))
def history(call: Call) -> dict[str, Any]:
    from mini_program_api.merchants import merchants
    from mini_program_api.money import ledger

    q: LedgerQuery = call.query
    merchant = merchants.get(call.caller.merchant_id)
    page = ledger.history(call.caller.merchant_id, call.caller.subject, q.account, q.cursor, q.limit)
    return {"entries": [entry_view(e, merchant.timezone, members_own=True) for e in page.items], "cursor": page.cursor}


@endpoint(
    bp,
    "/v1/me/sign-in",
    "POST",
    role="member",
    response="SignInView",
    errors=("CARD_NOT_OPEN", "MEMBER_NOT_FOUND", "NOT_FOUND", "PUNCH_CARD_NOT_FOUND", "SIGN_IN_DISABLED"),
)
def daily_sign_in(call: Call) -> dict[str, Any]:
    from mini_program_api.members import sign_in

    result = sign_in.sign_in(call.caller.merchant_id, call.caller.subject)
    return {
        "date": result.day.isoformat(),
        "already_signed_in": result.already_signed_in,
        "points_earned": result.points,
        "growth_earned": result.growth,
        "tier_upgraded": result.upgraded,
        "member": _me(call),
    }


@endpoint(
    bp,
    "/v1/me/subscriptions",
    "POST",
    role="member",
    body="SubscriptionsBody",
    response="GrantsView",
    errors=("NOT_FOUND",),
)
def subscriptions(call: Call) -> dict[str, Any]:
    """Grants the member just accepted in wx.requestSubscribeMessage (one message each), and the templates
    refused; every answer is kept as a consent record."""
    from mini_program_api.members import notices

    held = notices.grant(call.caller.merchant_id, call.caller.subject, call.body.template_ids, call.body.refused)
    return {"grants": held}
