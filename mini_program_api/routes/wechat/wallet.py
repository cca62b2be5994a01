"""WeChat's 卡包 event pushes for a merchant's member card (wallet/events.py), and its server URL check.

The wallet's modules reach wechatpy and cryptography: they are imported by the handlers that use them."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from mini_program_api.routes.endpoint import Call, endpoint

bp = Blueprint(__name__)
_PUSH_TYPES = ["text/xml", "application/xml", "text/plain", "application/json"]


def _query() -> dict[str, str]:
    return dict(bp.current_request.query_params or {})


def _push() -> Any:
    from mini_program_api.wallet import events

    q = _query()
    return events.Push(
        signature=q.get("signature", ""),
        timestamp=q.get("timestamp", ""),
        nonce=q.get("nonce", ""),
        msg_signature=q.get("msg_signature"),
        encrypt_type=q.get("encrypt_type"),
    )


@endpoint(
    bp,
    "/v1/wechat/card-events/{merchant_id}",
    "GET",
    role=None,
    response="PlainText",
    errors=("INVALID_EVENT", "WALLET_NOT_CONFIGURED"),
)
def verify_event_url(call: Call, merchant_id: str) -> Response:
    """公众平台's server URL check: the echo, as text, when the signature is the merchant's token's."""
    from mini_program_api.wallet import events

    echo = events.verify_url(merchant_id, _push(), _query().get("echostr", ""))
    return Response(body=echo, status_code=200, headers={"Content-Type": "text/plain"})


@endpoint(
    bp,
    "/v1/wechat/card-events/{merchant_id}",
    "POST",
    role=None,
    response="PlainText",
    errors=("INVALID_EVENT", "WALLET_NOT_CONFIGURED", "VALIDATION_ERROR"),
    content_types=_PUSH_TYPES,
)
def card_event(call: Call, merchant_id: str) -> Response:
    """WeChat's card event push (XML, plain or encrypted): "success" once handled or already handled."""
    from mini_program_api.wallet import events

    answer = events.receive(merchant_id, _push(), call.raw_body)
    return Response(body=answer, status_code=200, headers={"Content-Type": "text/plain"})
