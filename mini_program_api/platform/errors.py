"""Every client-visible error: one code, one HTTP status, raised from domain code.

Routes turn a `KabaoError` into `{"error": {"code", "message"}}`; anything else
escaping a handler is a bug and surfaces as a 500.
"""

from __future__ import annotations

from typing import Any

STATUS: dict[str, int] = {
    "BAD_REQUEST": 400,
    "INVALID_JSON": 400,
    "VALIDATION_ERROR": 400,
    "INVALID_CURSOR": 400,
    "INVALID_DATE_RANGE": 400,
    "INVALID_IDEMPOTENCY_KEY": 400,
    "UNKNOWN_APPID": 400,
    "INVALID_CODE": 400,
    "AMOUNT_OUT_OF_RANGE": 400,
    "NOTIFY_MISMATCH": 400,
    "PAYMENT_EXCEEDS_DUE": 400,
    "INVALID_INVITE_CODE": 400,
    "INVALID_SECRET_REF": 400,
    "WEBHOOK_URL_REFUSED": 400,
    "UNAUTHENTICATED": 401,
    "INVALID_NOTIFY": 401,
    "INVALID_EVENT": 401,
    "TOKEN_EXPIRED": 401,
    "INVALID_CREDENTIALS": 401,
    "SESSION_REVOKED": 401,
    "ACCOUNT_DELETED": 401,
    "FORBIDDEN": 403,
    "ACCOUNT_DISABLED": 403,
    "PHONE_MISMATCH": 403,
    "SPENDING_PASSWORD_WRONG": 403,
    "TILL_PASSWORD_NOT_ALLOWED": 403,
    "VERIFICATION_REQUIRED": 403,
    "NOT_FOUND": 404,
    "MEMBER_NOT_FOUND": 404,
    "PLAN_NOT_FOUND": 404,
    "OFFER_NOT_FOUND": 404,
    "ORDER_NOT_FOUND": 404,
    "REWARD_NOT_FOUND": 404,
    "COUPON_NOT_FOUND": 404,
    "STORE_NOT_FOUND": 404,
    "STAFF_NOT_FOUND": 404,
    "PUNCH_PLAN_NOT_FOUND": 404,
    "PUNCH_CARD_NOT_FOUND": 404,
    "TEMPLATE_NOT_FOUND": 404,
    "CONFIRMATION_NOT_FOUND": 404,
    "UPLOAD_NOT_FOUND": 404,
    "WEBHOOK_ENDPOINT_NOT_FOUND": 404,
    "WEBHOOK_EVENT_NOT_FOUND": 404,
    "TAG_NOT_FOUND": 404,
    "EXPORT_NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "SIGN_IN_DISABLED": 409,
    "PHONE_REQUIRED": 409,
    "PHONE_IN_USE": 409,
    "IMPORT_EXISTS": 409,
    "IMPORT_NOT_READY": 409,
    "UPLOAD_EXISTS": 409,
    "CARD_NOT_OPEN": 409,
    "TERMS_OUTDATED": 409,
    "INSUFFICIENT_POINTS": 409,
    "INSUFFICIENT_BALANCE": 409,
    "INSUFFICIENT_GROWTH": 409,
    "MEMBER_FROZEN": 409,
    "MEMBER_ALREADY_FROZEN": 409,
    "MEMBER_NOT_FROZEN": 409,
    "TAG_NAME_TAKEN": 409,
    "TAG_IN_USE": 409,
    "EXPORT_NOT_READY": 409,
    "CONCURRENT_UPDATE": 409,
    "PREPAID_CAP_EXCEEDED": 409,
    "OFFER_NOT_AVAILABLE": 409,
    "SOLD_OUT": 409,
    "CLAIM_LIMIT_REACHED": 409,
    "TIER_NOT_ELIGIBLE": 403,
    "PAYMENT_NOT_CONFIGURED": 409,
    "ORDER_NOT_REFUNDABLE": 409,
    "REFUND_PRINCIPAL_SPENT": 409,
    "REFUND_REFUSED": 409,
    "ALREADY_EXISTS": 409,
    "STORE_CLOSED": 409,
    "CANNOT_DISABLE_SELF": 409,
    "TEMPLATE_ENDED": 409,
    "TEMPLATE_NOT_USABLE": 409,
    "TOO_MANY_PLANS": 409,
    "COUPON_ALREADY_USED": 409,
    "COUPON_EXPIRED": 409,
    "COUPON_NOT_APPLICABLE": 409,
    "PUNCH_CARD_USED_UP": 409,
    "PUNCH_CARD_EXPIRED": 409,
    "PUNCH_CARD_NOT_APPLICABLE": 409,
    "CONFIRMATION_REQUIRED": 409,
    "CONFIRMATION_EXPIRED": 409,
    "CONFIRMATION_WITHDRAWN": 409,
    "SPENDING_PASSWORD_SET": 409,
    "SPENDING_PASSWORD_NOT_SET": 409,
    "WALLET_NOT_CONFIGURED": 409,
    "WALLET_CARD_NOT_READY": 409,
    "WALLET_CARD_TAKEN": 409,
    "WECHAT_REFUSED": 409,
    "STORED_VALUE_REMAINS": 409,
    "TOO_MANY_WEBHOOK_ENDPOINTS": 409,
    "REQUEST_TOO_LARGE": 413,
    "URI_TOO_LONG": 414,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "IDEMPOTENCY_KEY_REUSED": 422,
    "RATE_LIMITED": 429,
    "ACCOUNT_LOCKED": 429,
    "SPENDING_LOCKED": 429,
    "HEADERS_TOO_LARGE": 431,
    "WECHAT_UNAVAILABLE": 503,
    "DATABASE_UNAVAILABLE": 503,
}


class KabaoError(Exception):
    def __init__(self, code: str, message: str, **details: Any) -> None:
        if code not in STATUS:
            raise ValueError(f"unregistered error code {code}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    @property
    def status(self) -> int:
        return STATUS[self.code]

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one error shape, also for answers no handler gave (see routes/gateway.py)."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}
