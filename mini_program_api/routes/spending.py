"""The member's spending password and the counter payments waiting for them: /v1/me/spending-password,
/v1/me/pending-payments. Ids come only from the token; the password never appears in an answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from mini_program_api.platform.clock import iso
from mini_program_api.routes.endpoint import Call, endpoint
from mini_program_api.routes.views import receipt_view

if TYPE_CHECKING:
    from mini_program_api.db.spending import PendingPayment


bp = Blueprint(__name__)


def _state(call: Call) -> dict[str, Any]:
    from mini_program_api.merchants import merchants
    from mini_program_api.till import spending_password

    s = spending_password.state(merchants.get(call.caller.merchant_id), call.caller.subject)
    return {
        "is_set": s.is_set,
        "required": s.required,
        "free_limit": s.free_limit,
        "effective_free_limit": s.effective_limit,
        "free_limit_ceiling": s.ceiling,
        "locked_until": iso(s.locked_until, call.timezone) if s.locked_until else None,
    }


@endpoint(bp, "/v1/me/spending-password", "GET", role="member", response="SpendingPasswordState", errors=("NOT_FOUND",))
def get_state(call: Call) -> dict[str, Any]:
    return _state(call)


def _set(call: Call, reset: bool) -> dict[str, Any]:
    from mini_program_api.till import spending_password

    spending_password.set_password(
        call.caller.merchant_id, call.caller.subject, call.body.phone_code, call.body.password, reset
    )
    return _state(call)


# Setting and resetting both go through `_set`, so they answer the same codes.
_SET_ERRORS = (
    "INVALID_CODE",
    "MEMBER_NOT_FOUND",
    "NOT_FOUND",
    "PHONE_MISMATCH",
    "PHONE_REQUIRED",
    "SPENDING_PASSWORD_NOT_SET",
    "SPENDING_PASSWORD_SET",
    "WECHAT_UNAVAILABLE",
)


@endpoint(
    bp,
    "/v1/me/spending-password",
    "POST",
    role="member",
    body="SetSpendingPasswordBody",
    response="SpendingPasswordState",
    errors=_SET_ERRORS,
)
def set_password(call: Call) -> dict[str, Any]:
    return _set(call, reset=False)


@endpoint(
    bp,
    "/v1/me/spending-password/reset",
    "POST",
    role="member",
    body="SetSpendingPasswordBody",
    response="SpendingPasswordState",
    errors=_SET_ERRORS,
)
def reset_password(call: Call) -> dict[str, Any]:
    """Forgotten: replaced after a fresh phone verification (and a lock lifted)."""
    return _set(call, reset=True)


@endpoint(
    bp,
    "/v1/me/spending-password/change",
    "POST",
    role="member",
    body="ChangeSpendingPasswordBody",
    response="SpendingPasswordState",
    errors=("MEMBER_NOT_FOUND", "NOT_FOUND", "SPENDING_LOCKED", "SPENDING_PASSWORD_NOT_SET", "SPENDING_PASSWORD_WRONG"),
)
def change_password(call: Call) -> dict[str, Any]:
    from mini_program_api.till import spending_password

    spending_password.change_password(
        call.caller.merchant_id, call.caller.subject, call.body.old_password, call.body.password
    )
    return _state(call)


@endpoint(
    bp,
    "/v1/me/spending-password/free-limit",
    "PUT",
    role="member",
    body="FreeLimitBody",
    response="SpendingPasswordState",
    errors=(
        "INVALID_CODE",
        "MEMBER_NOT_FOUND",
        "NOT_FOUND",
        "PHONE_MISMATCH",
        "PHONE_REQUIRED",
        "SPENDING_LOCKED",
        "SPENDING_PASSWORD_NOT_SET",
        "SPENDING_PASSWORD_WRONG",
        "VERIFICATION_REQUIRED",
        "WECHAT_UNAVAILABLE",
    ),
)
def set_free_limit(call: Call) -> dict[str, Any]:
    """Lowering needs only the token; raising also the spending password or a fresh phone code."""
    from mini_program_api.till import spending_password

    body = call.body
    spending_password.set_free_limit(
        call.caller.merchant_id, call.caller.subject, body.free_limit, body.password, body.phone_code
    )
    return _state(call)


def _pending_view(p: PendingPayment, tz: str) -> dict[str, Any]:
    from mini_program_api.staff import stores

    store = stores.get_store(p.merchant_id, p.store_id)
    return {
        "confirmation_id": p.confirmation_id,
        "store_id": p.store_id,
        "store_name": store.name,
        "amount": int(p.amount),
        "stored_value": int(p.stored_value),
        "points": int(p.points),
        "coupon_id": p.coupon_id,
        "expires_at": iso(p.expires_at, tz),
    }


@endpoint(
    bp, "/v1/me/pending-payments", "GET", role="member", response="PendingPaymentsView", errors=("STORE_NOT_FOUND",)
)
def pending(call: Call) -> dict[str, Any]:
    from mini_program_api.till import pending_payments

    tz = call.timezone
    return {
        "payments": [_pending_view(p, tz) for p in pending_payments.mine(call.caller.merchant_id, call.caller.subject)]
    }


@endpoint(
    bp,
    "/v1/me/pending-payments/{confirmation_id}/confirm",
    "POST",
    role="member",
    body="ConfirmBody",
    response="ReceiptView",
    errors=(
        "AMOUNT_OUT_OF_RANGE",
        "CARD_NOT_OPEN",
        "CONFIRMATION_EXPIRED",
        "CONFIRMATION_NOT_FOUND",
        "CONFIRMATION_WITHDRAWN",
        "COUPON_ALREADY_USED",
        "COUPON_EXPIRED",
        "COUPON_NOT_APPLICABLE",
        "COUPON_NOT_FOUND",
        "INSUFFICIENT_BALANCE",
        "INSUFFICIENT_POINTS",
        "MEMBER_FROZEN",
        "MEMBER_NOT_FOUND",
        "ORDER_NOT_FOUND",
        "PAYMENT_EXCEEDS_DUE",
        "PUNCH_CARD_NOT_FOUND",
        "SPENDING_LOCKED",
        "SPENDING_PASSWORD_NOT_SET",
        "SPENDING_PASSWORD_WRONG",
    ),
)
def confirm(call: Call, confirmation_id: str) -> dict[str, Any]:
    from mini_program_api.till import checkout

    order = checkout.confirm(call.caller, confirmation_id, call.body.password)
    return receipt_view(order, call.timezone)
