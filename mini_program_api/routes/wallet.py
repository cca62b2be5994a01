"""WeChat 卡包: the admin's card set-up, the member's activation, WeChat's event pushes (wallet/)."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from ..wallet import activation, events, setup
from ..wallet.schemas import ActivateBody, MemberWalletView, WalletCardBody, WalletCardView
from .endpoint import Call, endpoint

bp = Blueprint(__name__)
_PUSH_TYPES = ["text/xml", "application/xml", "text/plain", "application/json"]


@endpoint(bp, "/v1/admin/wallet/card", "GET", role="admin")
def get_card(call: Call) -> dict[str, Any]:
    return WalletCardView(**setup.view(setup.get(call.member.merchant_id))).model_dump()


@endpoint(bp, "/v1/admin/wallet/card", "PUT", role="admin", body=WalletCardBody)
def put_card(call: Call) -> dict[str, Any]:
    card = setup.put(call.member, setup.CardSpec(**call.body.model_dump()))
    return WalletCardView(**setup.view(card)).model_dump()


@endpoint(bp, "/v1/me/wallet", "GET", role="member")
def member_wallet(call: Call) -> dict[str, Any]:
    return MemberWalletView(**activation.offer(call.member.merchant_id, call.member.subject)).model_dump()


@endpoint(bp, "/v1/me/wallet/activate", "POST", role="member", body=ActivateBody)
def activate(call: Call) -> dict[str, Any]:
    result = activation.activate(call.member.merchant_id, call.member.subject,
                                 activation.Activation(**call.body.model_dump()))
    return MemberWalletView(**result).model_dump()


def _push(call: Call) -> events.Push:
    q = bp.current_request.query_params or {}
    return events.Push(signature=q.get("signature", ""), timestamp=q.get("timestamp", ""), nonce=q.get("nonce", ""),
                       msg_signature=q.get("msg_signature"), encrypt_type=q.get("encrypt_type"))


@endpoint(bp, "/v1/wechat/card-events/{merchant_id}", "GET", role=None)
def verify_event_url(call: Call, merchant_id: str) -> Response:
    echo = events.verify_url(merchant_id, _push(call), (bp.current_request.query_params or {}).get("echostr", ""))
    return Response(body=echo, status_code=200, headers={"Content-Type": "text/plain"})


@endpoint(bp, "/v1/wechat/card-events/{merchant_id}", "POST", role=None, content_types=_PUSH_TYPES)
def card_event(call: Call, merchant_id: str) -> Response:
    answer = events.receive(merchant_id, _push(call), call.raw_body)
    return Response(body=answer, status_code=200, headers={"Content-Type": "text/plain"})
