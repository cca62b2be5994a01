"""WeChat Pay's notifies of a top-up's payment or refund (topup/notify.py): verified, decrypted, applied once."""

from __future__ import annotations

from chalice import Blueprint

from mini_program_api.platform.config import settings
from mini_program_api.platform.errors import KabaoError
from mini_program_api.routes.endpoint import Call, endpoint

bp = Blueprint(__name__)
# What handling a notify may answer (topup/notify.py), on either path.
_ERRORS = (
    "INVALID_NOTIFY",
    "MEMBER_NOT_FOUND",
    "NOTIFY_MISMATCH",
    "ORDER_NOT_FOUND",
    "PAYMENT_NOT_CONFIGURED",
    "PUNCH_CARD_NOT_FOUND",
)


@endpoint(
    bp,
    "/v1/wechatpay/notify/{merchant_id}",
    "POST",
    role=None,
    status=204,
    errors=_ERRORS,
)
def notify_for_merchant(call: Call, merchant_id: str) -> None:
    from mini_program_api.topup import notify

    notify.handle_notify(merchant_id, call.headers, call.raw_body.decode("utf-8", "replace"))


@endpoint(
    bp,
    "/v1/wechatpay/notify",
    "POST",
    role=None,
    status=204,
    errors=(*_ERRORS, "NOT_FOUND"),  # no merchant configured for the contract's path
)
def notify(call: Call) -> None:
    """The contract's path, for the usual one-merchant deployment (KABAO_MERCHANT_ID)."""
    from mini_program_api.topup import notify

    merchant_id = settings().default_merchant_id
    if merchant_id is None:
        raise KabaoError("NOT_FOUND", "use /v1/wechatpay/notify/{merchant_id} on a multi-merchant deployment")
    notify.handle_notify(merchant_id, call.headers, call.raw_body.decode("utf-8", "replace"))
