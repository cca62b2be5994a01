"""WeChat 卡包: the admin's card set-up and the member's activation (wallet/; WeChat's event pushes:
routes/wechat/wallet.py).

The wallet's modules reach wechatpy and cryptography: they are imported by the handlers that use them,
so `import app` stays free of them (tests/infra/test_cold_start.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from mini_program_api.routes.endpoint import Call, endpoint

if TYPE_CHECKING:  # annotations only: models and domain modules load on first use (endpoint.py)
    from mini_program_api.routes.schemas import ActivateBody, WalletCardBody

bp = Blueprint(__name__)
_WECHAT = ("WECHAT_UNAVAILABLE", "WECHAT_REFUSED", "INVALID_CODE")


@endpoint(
    bp, "/v1/admin/wallet/card", "GET", role="admin", response="WalletCardView", errors=("WALLET_NOT_CONFIGURED",)
)
def get_card(call: Call) -> dict[str, Any]:
    from mini_program_api.wallet import setup

    return setup.view(setup.get(call.caller.merchant_id))


@endpoint(
    bp,
    "/v1/admin/wallet/card",
    "PUT",
    role="admin",
    body="WalletCardBody",
    response="WalletCardView",
    errors=("INVALID_SECRET_REF", "NOT_FOUND", "WALLET_NOT_CONFIGURED"),
)
def put_card(call: Call) -> dict[str, Any]:
    """Replace the set-up and bring WeChat's card to it (see wallet/setup.py); readable back with GET."""
    from mini_program_api.wallet import setup

    body: WalletCardBody = call.body
    return setup.view(setup.put(call.caller, setup.CardSpec(**body.model_dump())))


@endpoint(
    bp,
    "/v1/me/wallet",
    "GET",
    role="member",
    response="MemberWalletView",
    errors=("WALLET_NOT_CONFIGURED", "WALLET_CARD_NOT_READY", "MEMBER_NOT_FOUND", *_WECHAT),
)
def member_wallet(call: Call) -> dict[str, Any]:
    from mini_program_api.wallet import activation

    return activation.offer(call.caller.merchant_id, call.caller.subject)


@endpoint(
    bp,
    "/v1/me/wallet/activate",
    "POST",
    role="member",
    body="ActivateBody",
    response="MemberWalletView",
    errors=(
        "WALLET_NOT_CONFIGURED",
        "WALLET_CARD_NOT_READY",
        "WALLET_CARD_TAKEN",
        "MEMBER_NOT_FOUND",
        "NOT_FOUND",
        "PHONE_REQUIRED",
        "PUNCH_CARD_NOT_FOUND",
        "PHONE_MISMATCH",
        "PHONE_IN_USE",
        "TERMS_OUTDATED",
        *_WECHAT,
    ),
)
def activate(call: Call) -> dict[str, Any]:
    """One-step activation with what WeChat handed the mini program (see wallet/activation.py)."""
    from mini_program_api.wallet import activation

    body: ActivateBody = call.body
    return activation.activate(call.caller.merchant_id, call.caller.subject, activation.Activation(**body.model_dump()))
