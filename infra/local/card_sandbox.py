"""The card (卡券) part of the WeChat sandbox: member cards as WeChat keeps them, and its event pushes.

- ``card/create``, ``card/update``, ``card/get``, ``card/membercard/activateuserform/set``,
  ``card/membercard/activate/geturl``, ``card/code/decrypt``, ``card/membercard/activatetempinfo/get``,
  ``card/membercard/activate``, ``card/membercard/updateuser``, ``card/code/consume`` and
  ``/cgi-bin/ticket/getticket?type=wx_card``, all with the official account's access token;
- every call is recorded in ``calls`` (path, body);
- ``fail(path, errcode, times)`` makes the next calls to a path fail with that errcode; errcode
  ``"lost"`` applies the call and then loses the answer (a 504 with no body: a timeout to the caller);
- ``POST /_sandbox/cards/{card_id}/members {"openid", "phone", "name"?}`` is a member adding the card
  and filling the one-click activation form: it answers ``code``, ``encrypt_code`` and
  ``activate_ticket``, as WeChat hands them to the mini program;
- ``GET /_sandbox/cards/{code}`` shows what WeChat displays for that card code (activation,
  membership number, bonus, balance, custom field, the change notices sent);
- ``POST /_sandbox/cards/events {"appid", "url", "token", "aes_key"?}`` (or ``register_events``) sets where
  the pushes go; ``push_event(appid, event, **fields)`` sends a signed (and, with an EncodingAESKey, encrypted)
  event push to the URL registered with ``register_events``, as WeChat does.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode

import requests
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

TICKET_TTL = 7200


class CardSandbox:
    def __init__(self) -> None:
        self.cards: dict[str, dict[str, Any]] = {}  # card_id -> {appid, card, form, status}
        self.codes: dict[str, dict[str, Any]] = {}  # code -> what WeChat displays
        self.encrypted: dict[str, str] = {}  # encrypt_code -> code
        self.tickets: dict[str, dict[str, Any]] = {}  # activate_ticket -> form info
        self.card_tickets: dict[str, tuple[str, float]] = {}  # appid -> current api_ticket
        self.ticket_fetches: dict[str, int] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures: dict[str, list[Any]] = {}
        self.events: dict[str, dict[str, str | None]] = {}  # appid -> {url, token, aes_key}

    # --- controls --------------------------------------------------------------

    def fail(self, path: str, errcode: int | str = -1, times: int = 1) -> None:
        self.failures.setdefault(path, []).extend([errcode] * times)

    def register_events(self, appid: str, url: str, token: str, aes_key: str | None = None) -> None:
        self.events[appid] = {"url": url, "token": token, "aes_key": aes_key}

    def add_member(self, card_id: str, openid: str, phone: str | None, name: str | None = None) -> dict[str, str]:
        if card_id not in self.cards:
            return {"errcode": "40073", "errmsg": "invalid card_id"}
        code = f"{secrets.randbelow(10**12):012d}"
        encrypt_code = secrets.token_urlsafe(18)
        ticket = secrets.token_urlsafe(18)
        self.encrypted[encrypt_code] = code
        fields = [{"name": "USER_FORM_INFO_FLAG_MOBILE", "value": phone}] if phone else []
        if name:
            fields.append({"name": "USER_FORM_INFO_FLAG_NAME", "value": name})
        self.tickets[ticket] = {"card_id": card_id, "code": code, "info": {"common_field_list": fields}}
        self.codes[code] = {
            "card_id": card_id,
            "openid": openid,
            "activated": False,
            "membership_number": None,
            "bonus": 0,
            "balance": 0,
            "custom_field_value1": None,
            "notices": [],
        }
        return {"code": code, "encrypt_code": encrypt_code, "activate_ticket": ticket, "openid": openid}

    def push_event(
        self,
        appid: str,
        event: str,
        forge: bool = False,
        timestamp: int | None = None,
        create_time: int | None = None,
        **fields: Any,
    ) -> requests.Response:
        target = self.events[appid]
        source = fields.pop("FromUserName", "o-oa-user")
        timestamp = int(time.time()) if timestamp is None else timestamp
        elements = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
        xml = (
            f"<xml><ToUserName><![CDATA[gh_{appid}]]></ToUserName><FromUserName><![CDATA["
            f"{source}]]></FromUserName><CreateTime>{create_time or timestamp}"
            f"</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>{elements}</xml>"
        )
        token = str(target["token"]) + ("-forged" if forge else "")
        nonce = secrets.token_hex(5)
        query = {"timestamp": str(timestamp), "nonce": nonce, "openid": "o-oa-user"}
        signer = WeChatSigner()
        signer.add_data(token, str(timestamp), nonce)
        query["signature"] = signer.signature
        body = xml
        if target["aes_key"]:
            crypto = WeChatCrypto(token, str(target["aes_key"]), appid)
            encrypted = crypto.encrypt_message(xml, nonce, str(timestamp))
            import xmltodict

            parsed = xmltodict.parse(encrypted)["xml"]
            query.update(encrypt_type="aes", msg_signature=parsed["MsgSignature"])
            body = (
                f"<xml><ToUserName><![CDATA[gh_{appid}]]></ToUserName><Encrypt><![CDATA[{parsed['Encrypt']}]]>"
                "</Encrypt></xml>"
            )
        return requests.post(
            f"{target['url']}?{urlencode(query)}", data=body.encode(), headers={"Content-Type": "text/xml"}, timeout=10
        )

    def display(self, code: str) -> dict[str, Any] | None:
        return self.codes.get(code)

    # --- WeChat API (called by WeChatSandbox with the caller's appid) ------------------

    def handle(self, path: str, appid: str, body: dict[str, Any], args: dict[str, str]) -> tuple[dict[str, Any], bool]:
        """(answer, lost): lost means the call was applied but its answer must not reach the caller."""
        self.calls.append((path, body))
        queued = self.failures.get(path)
        lost = False
        if queued:
            errcode = queued.pop(0)
            if errcode == "lost":
                lost = True
            else:
                return {"errcode": errcode, "errmsg": "injected failure"}, False
        return getattr(self, "_" + path.strip("/").replace("/", "_").replace("-", "_"))(appid, body, args), lost

    def _ours(self, appid: str, card_id: Any) -> dict[str, Any] | None:
        card = self.cards.get(str(card_id))
        return card if card is not None and card["appid"] == appid else None

    def _code(self, appid: str, body: dict[str, Any]) -> dict[str, Any] | None:
        shown = self.codes.get(str(body.get("code")))
        if shown is None or self._ours(appid, shown["card_id"]) is None:
            return None
        if body.get("card_id") and body["card_id"] != shown["card_id"]:
            return None
        return shown

    def _card_create(self, appid: str, body: dict[str, Any], args: dict[str, str]) -> dict[str, Any]:
        card = body.get("card") or {}
        if card.get("card_type") != "MEMBER_CARD" or not card.get("member_card", {}).get("base_info"):
            return {"errcode": 47001, "errmsg": "data format error"}
        card_id = "p" + secrets.token_urlsafe(20)
        self.cards[card_id] = {"appid": appid, "card": card, "form": None, "status": "CARD_STATUS_NOT_VERIFY"}
        return {"errcode": 0, "errmsg": "ok", "card_id": card_id}

    def _card_update(self, appid: str, body: dict[str, Any], args: dict[str, str]) -> dict[str, Any]:
        card = self._ours(appid, body.get("card_id"))
        if card is None:
            return {"errcode": 40073, "errmsg": "invalid card_id"}
        update = body.get("member_card") or {}
        if not update:
            return {"errcode": 47001, "errmsg": "data format error: nothing to update"}
        member_card = card["card"]["member_card"]
        member_card["base_info"].update(update.pop("base_info", {}))
        member_card.update(update)
        card["status"] = "CARD_STATUS_NOT_VERIFY"
        return {"errcode": 0, "errmsg": "ok", "send_check": True}

    def _card_get(self, appid: str, body: dict[str, Any], args: dict[str, str]) -> dict[str, Any]:
        card = self._ours(appid, body.get("card_id"))
        if card is None:
            return {"errcode": 40073, "errmsg": "invalid card_id"}
        return {"errcode": 0, "errmsg": "ok", "card": card["card"]}

    def _card_membercard_activateuserform_set(
        self, appid: str, body: dict[str, Any], args: dict[str, str]
    ) -> dict[str, Any]:
        card = self._ours(appid, body.get("card_id"))
        if card is None:
            return {"errcode": 40073, "errmsg": "invalid card_id"}
        card["form"] = body
        return {"errcode": 0, "errmsg": "ok"}

    def _card_membercard_activate_geturl(
        self, appid: str, body: dict[str, Any], args: dict[str, str]
    ) -> dict[str, Any]:
        if self._ours(appid, body.get("card_id")) is None:
            return {"errcode": 40073, "errmsg": "invalid card_id"}
        query = urlencode(
            {
                "action": "preshow",
                "encrypt_card_id": f"enc-{body['card_id']}",
                "outer_str": body.get("outer_str") or "",
                "biz": f"biz-{appid}",
            }
        )
        return {"errcode": 0, "errmsg": "ok", "url": f"https://mp.weixin.qq.com/bizmall/activatemembercard?{query}"}

    def _card_code_decrypt(self, appid: str, body: dict[str, Any], args: dict[str, str]) -> dict[str, Any]:
        code = self.encrypted.get(str(body.get("encrypt_code")))
        if code is None or self._ours(appid, self.codes[code]["card_id"]) is None:
            return {"errcode": 40075, "errmsg": "invalid encrypt code"}
        return {"errcode": 0, "errmsg": "ok", "code": code}

    def _card_membercard_activatetempinfo_get(
        self, appid: str, body: dict[str, Any], args: dict[str, str]
    ) -> dict[str, Any]:
        ticket = self.tickets.get(str(body.get("activate_ticket")))
        if ticket is None or self._ours(appid, ticket["card_id"]) is None:
            return {"errcode": 40079, "errmsg": "invalid activate ticket"}
        return {"errcode": 0, "errmsg": "ok", "info": ticket["info"]}

    def _card_membercard_activate(self, appid: str, body: dict[str, Any], args: dict[str, str]) -> dict[str, Any]:
        shown = self._code(appid, body)
        if shown is None or not body.get("membership_number"):
            return {"errcode": 40056, "errmsg": "invalid code"}
        if shown["activated"] and shown["membership_number"] != body["membership_number"]:
            return {"errcode": 40078, "errmsg": "code already activated"}
        shown.update(
            activated=True,
            membership_number=body["membership_number"],
            bonus=int(body.get("init_bonus", 0)),
            balance=int(body.get("init_balance", 0)),
            custom_field_value1=body.get("init_custom_field_value1"),
        )
        return {"errcode": 0, "errmsg": "ok"}

    def _card_membercard_updateuser(self, appid: str, body: dict[str, Any], args: dict[str, str]) -> dict[str, Any]:
        shown = self._code(appid, body)
        if shown is None or shown.get("deleted"):
            return {"errcode": 40056, "errmsg": "invalid code"}
        if not shown["activated"]:
            return {"errcode": 40078, "errmsg": "card not activated"}
        for key in ("bonus", "balance"):
            if key in body:
                shown[key] = int(body[key])
        if "custom_field_value1" in body:
            shown["custom_field_value1"] = body["custom_field_value1"]
        for key in ("record_bonus", "record_balance"):
            if body.get(key):
                shown["notices"].append(body[key])
        shown["updates"] = shown.get("updates", 0) + 1
        return {
            "errcode": 0,
            "errmsg": "ok",
            "result_bonus": shown["bonus"],
            "result_balance": shown["balance"],
            "openid": shown["openid"],
        }

    def _card_code_consume(self, appid: str, body: dict[str, Any], args: dict[str, str]) -> dict[str, Any]:
        shown = self._code(appid, body)
        if shown is None or shown.get("consumed"):
            return {"errcode": 40099, "errmsg": "code consumed"}
        shown["consumed"] = True
        return {"errcode": 0, "errmsg": "ok", "card": {"card_id": shown["card_id"]}, "openid": shown["openid"]}

    def _cgi_bin_ticket_getticket(self, appid: str, body: dict[str, Any], args: dict[str, str]) -> dict[str, Any]:
        if args.get("type") != "wx_card":
            return {"errcode": 40097, "errmsg": "invalid args"}
        self.ticket_fetches[appid] = self.ticket_fetches.get(appid, 0) + 1
        ticket, until = self.card_tickets.get(appid, ("", 0.0))
        if until <= time.time():
            ticket, until = secrets.token_urlsafe(24), time.time() + TICKET_TTL
            self.card_tickets[appid] = (ticket, until)
        return {"errcode": 0, "errmsg": "ok", "ticket": ticket, "expires_in": int(until - time.time())}
