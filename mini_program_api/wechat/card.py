"""The card API (卡券) of a merchant's official account (公众号) through wechatpy.

The member card belongs to the official account, not the mini program: its own appid
and secret, so its own access token and card api_ticket, both shared by every container
(tokens.py). WeChat errors become our codes here: a code WeChat refuses (bad, expired,
used, not this card's) is INVALID_CODE; anything else it refuses is WECHAT_REFUSED (a
set-up problem an admin must look at); silence, timeouts and "system busy" are
WECHAT_UNAVAILABLE, which callers retry.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from functools import cache
from typing import Any

import requests
from wechatpy.exceptions import WeChatClientException

from mini_program_api.platform.config import settings
from mini_program_api.platform.errors import KabaoError
from mini_program_api.wechat import tokens
from mini_program_api.wechat.miniprogram import TIMEOUT_SECONDS
from mini_program_api.wechat.token_client import SharedTokenClient

log = logging.getLogger(__name__)

# 40056 invalid code, 40099 code already used/consumed, 40127 code deleted/expired, 40075 invalid encrypt_code,
# 40078 card not activated / invalid card status, 41012 missing card_id, 40079 expired activate ticket,
# 40073 invalid card_id for this code.
_BAD_CODE = {40056, 40099, 40127, 40075, 40079, 40073}
_BUSY = {-1, 45009, 45011, None}  # None: an HTTP error status, no WeChat answer at all


class OfficialAccountCards:
    """One official account's card operations. Every method maps WeChat's errors (module docstring)."""

    def __init__(self, appid: str, secret: str) -> None:
        self.appid = appid
        self._client = SharedTokenClient(appid, secret, settings().wechat_api_base, TIMEOUT_SECONDS)

    def create_member_card(self, card: dict[str, Any]) -> str:
        return str(self._call(self._client.card.create, {"card": card}))

    def update_member_card(self, card_id: str, member_card: dict[str, Any]) -> None:
        self._call(self._client.card.update, {"card_id": card_id, "member_card": member_card})

    def set_activate_form(self, card_id: str, form: dict[str, Any]) -> None:
        self._call(self._client.card.set_activate_user_form, card_id, **form)

    def activate_url(self, card_id: str, outer_str: str) -> str:
        return str(self._call(self._client.card.get_activate_url, card_id, outer_str))

    def decrypt_code(self, encrypt_code: str) -> str:
        return str(self._call(self._client.card.decrypt_code, encrypt_code))

    def activate_info(self, activate_ticket: str) -> dict[str, Any]:
        """What the member filled in WeChat's activation form (phone among `common_field_list`)."""
        return dict(self._call(self._client.card.get_activate_info, activate_ticket))

    def activate(self, card_id: str, code: str, membership_number: str, **initial: Any) -> None:
        self._call(self._client.card.activate_membercard, membership_number, code, card_id=card_id, **initial)

    def update_user(self, card_id: str, code: str, **values: Any) -> dict[str, Any]:
        return dict(self._call(self._client.card.update_membercard, code, card_id, **values))

    def consume_code(self, card_id: str, code: str) -> None:
        self._call(self._client.card.consume_code, code, card_id)

    def card_ticket(self) -> str:
        """The card api_ticket (type wx_card), shared by every container like the access token."""

        def fetch() -> tuple[str, int]:
            result = self._call(self._client.jsapi.get_ticket, "wx_card")
            return str(result["ticket"]), int(result["expires_in"])

        key = f"{self.appid}_wx_card_ticket"
        ticket = self._client.session.get(key)
        if ticket is not None:
            return str(ticket)
        # The access token first, outside the ticket's lease: the lease holder then only asks for the
        # ticket, well within the time the others wait for it.
        self._call(lambda: self._client.access_token)
        return tokens.shared(self._client.session, key, fetch)

    def card_ext(self, card_id: str, code: str = "", openid: str = "") -> dict[str, str]:
        """`wx.addCard`'s cardExt: signed with the card ticket (sha1 of the sorted values, WeChat's rule)."""
        timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
        values = [self.card_ticket(), timestamp, card_id, code, openid, nonce]
        signature = hashlib.sha1("".join(sorted(values)).encode()).hexdigest()
        ext = {"timestamp": timestamp, "nonce_str": nonce, "signature": signature}
        if code:
            ext["code"] = code
        if openid:
            ext["openid"] = openid
        return ext

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except WeChatClientException as exc:
            if exc.errcode in _BAD_CODE:
                raise KabaoError("INVALID_CODE", "WeChat refused the card code or ticket") from None
            log.warning("wechat card call failed", extra={"errcode": exc.errcode, "appid": self.appid})
            if exc.errcode in _BUSY:
                raise KabaoError("WECHAT_UNAVAILABLE", "WeChat is busy, retry shortly") from None
            raise KabaoError("WECHAT_REFUSED", f"WeChat refused the card request ({exc.errcode})") from None
        except requests.RequestException:
            log.warning("wechat unreachable", extra={"appid": self.appid})
            raise KabaoError("WECHAT_UNAVAILABLE", "WeChat is unreachable, retry shortly") from None


@cache
def for_account(appid: str, secret: str) -> OfficialAccountCards:
    """One client per official account per container (it keeps the token in memory between invocations)."""
    return OfficialAccountCards(appid, secret)
