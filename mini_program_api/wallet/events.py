"""WeChat's server pushes about the card (事件推送), to the URL the merchant set in 公众平台.

Verified before anything is read: the signature with the configured token (plain mode) or the
message signature and decryption through wechatpy's crypto (safe mode, EncodingAESKey set), and a
timestamp within `FRESH` of now, so a recorded push cannot be replayed later. XML through wechatpy.
WeChat redelivers a push it got no quick answer to: each is handled by idempotent writes, then
remembered by FromUserName + CreateTime + Event, so a redelivery is answered without being handled
again. The answer is "success" as soon as the writes are done (no WeChat call is made here).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from mini_program_api.db.models import LOOKUP, Lookup, member_pk
from mini_program_api.db.transact import Transaction, put_new, update_if
from mini_program_api.jobs import due
from mini_program_api.platform import clock
from mini_program_api.platform.errors import KabaoError
from mini_program_api.platform.secrets import SecretRefused, resolve_merchant
from mini_program_api.wallet import outbox, setup
from mini_program_api.wallet.models import MEMBER_SK, MemberWallet, WalletEvent, code_pk, event_pk

log = logging.getLogger(__name__)
FRESH = timedelta(minutes=5)
KEEP = timedelta(days=3)
HANDLED = (
    "user_get_card",
    "user_del_card",
    "user_view_card",
    "submit_membercard_user_info",
    "card_pass_check",
    "card_not_pass_check",
    "update_member_card",
)


@dataclass(frozen=True)
class Push:
    signature: str
    timestamp: str
    nonce: str
    msg_signature: str | None = None
    encrypt_type: str | None = None


def verify_url(merchant_id: str, push: Push, echostr: str) -> str:
    """The server check 公众平台 makes when the URL is saved: the echo, if the signature is ours."""
    card = setup.get(merchant_id)
    _check(_secret(merchant_id, card.event_token_ref), push)
    return echostr


def _secret(merchant_id: str, ref: str) -> str:
    """The card's own secret. A stored reference refused (another merchant's, platform/secrets.py) is a set-up the
    merchant must fix, answered as one: this URL is open to anyone, and a refusal must not be a 500."""
    try:
        return resolve_merchant(merchant_id, ref)
    except SecretRefused:
        raise KabaoError("WALLET_NOT_CONFIGURED", "this merchant's card event secrets are not usable") from None


def receive(merchant_id: str, push: Push, body: bytes) -> str:
    card = setup.get(merchant_id)
    token = _secret(merchant_id, card.event_token_ref)
    if push.encrypt_type == "aes":
        if not card.aes_key_ref or not push.msg_signature:
            raise KabaoError("INVALID_EVENT", "an encrypted push needs the configured EncodingAESKey")
        _fresh(push.timestamp)
        aes_key = _secret(merchant_id, card.aes_key_ref)
        try:
            xml = WeChatCrypto(token, aes_key, card.oa_appid).decrypt_message(
                body, push.msg_signature, push.timestamp, push.nonce
            )
        except (InvalidSignatureException, InvalidAppIdException):
            raise KabaoError("INVALID_EVENT", "the push's signature is not valid") from None
        except Exception:  # noqa: BLE001 - malformed XML or ciphertext from someone without the key
            raise KabaoError("INVALID_EVENT", "the push cannot be decrypted") from None
    else:
        if card.aes_key_ref:
            raise KabaoError("INVALID_EVENT", "this merchant's pushes are encrypted")
        _check(token, push)
        xml = body.decode("utf-8", "replace")
    try:
        message = parse_message(xml)
    except Exception:  # noqa: BLE001 - signed but unparseable: nothing we can act on
        raise KabaoError("VALIDATION_ERROR", "the push is not WeChat's XML") from None
    event = str(getattr(message, "event", "") or "")
    if event not in HANDLED:
        return "success"
    digest = hashlib.sha256(f"{message.source}|{message.create_time}|{event}".encode()).hexdigest()[:40]
    key = event_pk(merchant_id, digest)
    try:
        WalletEvent.get(key, "EVENT", consistent_read=True)
        return "success"  # a redelivery
    except WalletEvent.DoesNotExist:
        pass
    _handle(merchant_id, event, message)
    now = clock.now()
    put_new(WalletEvent(key, "EVENT", event=event, received_at=now, expires_ttl=now + KEEP))
    return "success"


def _check(token: str, push: Push) -> None:
    _fresh(push.timestamp)
    try:
        check_signature(token, push.signature, push.timestamp, push.nonce)
    except InvalidSignatureException:
        raise KabaoError("INVALID_EVENT", "the push's signature is not valid") from None


def _fresh(timestamp: str) -> None:
    sent = clock.unix_seconds(timestamp)
    if sent is None:
        raise KabaoError("INVALID_EVENT", "the push has no valid timestamp")
    if abs(clock.now().timestamp() - sent) > FRESH.total_seconds():
        raise KabaoError("INVALID_EVENT", "the push is stale")


def _member_of(merchant_id: str, code: str | None) -> str | None:
    if not code:
        return None
    try:
        return str(Lookup.get(code_pk(merchant_id, code), LOOKUP, consistent_read=True).target)
    except Lookup.DoesNotExist:
        return None


def _handle(merchant_id: str, event: str, message: object) -> None:
    card_id = str(getattr(message, "card_id", "") or "")
    code = getattr(message, "code", None) or getattr(message, "card_code", None)
    if event in ("card_pass_check", "card_not_pass_check"):
        setup.review_result(merchant_id, card_id, event == "card_pass_check", getattr(message, "refuse_reason", None))
        return
    member_id = _member_of(merchant_id, code)
    if member_id is None:
        # user_get_card, user_view_card, submit_membercard_user_info before activation links the code:
        # the link is made by the activation endpoint, with the member's token, never from a push.
        log.info("wallet event for an unlinked code", extra={"event": event})
        return
    pk = member_pk(merchant_id, member_id)
    if event == "user_del_card":
        update_if(
            MemberWallet(pk, MEMBER_SK),
            [MemberWallet.status.set("DELETED"), MemberWallet.deleted_at.set(clock.now()), *due.unslot(MemberWallet)],
            MemberWallet.code == code,
        )
    elif event == "update_member_card":
        # WeChat's card changed by something other than us: kabao is the source of truth, push it back.
        tx = Transaction()
        outbox.mark(tx, merchant_id, member_id)
        tx.commit()
