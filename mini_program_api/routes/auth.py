"""Logging in: a member from the mini program (`POST /v1/auth/login`), staff and admins with a password
(`POST /v1/staff/login`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from mini_program_api.routes.endpoint import Call, endpoint
from mini_program_api.routes.views import member_view, merchant_view

if TYPE_CHECKING:  # annotations only: models and domain modules load on first use (endpoint.py)
    from mini_program_api.routes.schemas import LoginBody, StaffLoginBody

bp = Blueprint(__name__)


@endpoint(
    bp,
    "/v1/auth/login",
    "POST",
    role=None,
    body="LoginBody",
    response="LoginView",
    errors=(
        "INVALID_CODE",
        "INVALID_INVITE_CODE",
        "MEMBER_NOT_FOUND",
        "NOT_FOUND",
        "UNKNOWN_APPID",
        "WECHAT_UNAVAILABLE",
    ),
)
def login(call: Call) -> dict[str, Any]:
    from mini_program_api.members import login
    from mini_program_api.platform import auth
    from mini_program_api.platform.auth import Principal

    body: LoginBody = call.body
    result = login.login(body.appid, body.code, body.invite_code, body.scene)
    token, expires_in = auth.issue(Principal(result.merchant.merchant_id, result.member.member_id, "member"))
    return {
        "token": token,
        "expires_in": expires_in,
        "member": member_view(result.merchant, result.member),
        "merchant": merchant_view(result.merchant),
        "created": result.created,
        "invite": result.invite,
    }


@endpoint(
    bp,
    "/v1/staff/login",
    "POST",
    role=None,
    body="StaffLoginBody",
    response="StaffLoginView",
    errors=(
        "ACCOUNT_DISABLED",
        "ACCOUNT_LOCKED",
        "INVALID_CREDENTIALS",
        "NOT_FOUND",
        "STORE_CLOSED",
        "STORE_NOT_FOUND",
    ),
)
def staff_login(call: Call) -> dict[str, Any]:
    from mini_program_api.staff import accounts

    body: StaffLoginBody = call.body
    session = accounts.login(body.merchant_id, body.username, body.password)
    return {
        "token": session.token,
        "expires_in": session.expires_in,
        "role": session.principal.role,
        "store_id": session.principal.store_id,
    }
