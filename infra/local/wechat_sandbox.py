"""WeChat sandbox: a loopback stand-in for api.weixin.qq.com and, through `wechatpay_sandbox`, api.mch.weixin.qq.com.

Behaviour the tests and `make dev` rely on:

- apps are registered with ``POST /_sandbox/apps {"appid", "secret"}``; a wrong
  secret is WeChat's 40125 and an unknown appid 40013;
- ``js_code`` ``test:<openid>`` (optionally ``test:<openid>:<nonce>``, so one openid
  can log in many times) logs in as that openid; any other code is 40029, and
  every code is single-use (40163 the second time), as on WeChat;
- getPhoneNumber ``code`` ``phone:<digits>`` (optionally ``phone:<digits>:<nonce>``)
  yields that number, once;
- subscribe messages are recorded and listed by ``GET /_sandbox/messages``;
- ``/cgi-bin/token`` issues a new access token per call; ``POST /cgi-bin/stable_token``
  returns the current one while it is valid (a new one with ``force_refresh``); both
  count the calls per appid (``token_fetches``);
- the card API, its controls and event pushes: see ``card_sandbox`` (``self.card``);
- faults: ``POST /_sandbox/faults {"rate": 0.05, "late_seconds": 1, "seed": 0}`` makes that share of
  WeChat's and WeChat Pay's API calls fail, answer late or lose their answer after applying
  (``faults.SandboxFaults``); ``GET /_sandbox/faults`` counts them; rate 0 turns them off.

Run alone with ``python -m infra.local.wechat_sandbox --port 8002``.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .card_sandbox import CardSandbox
from .faults import SandboxFaults
from .loopback import LoopbackServer, cli_port
from .wechatpay_sandbox import PaySandbox

_OPENID = re.compile(r"^test:([A-Za-z0-9_-]{1,64})(?::[A-Za-z0-9_-]{1,64})?$")
_PHONE = re.compile(r"^phone:([0-9]{5,15})(?::[A-Za-z0-9_-]{1,64})?$")
TOKEN_TTL = 7200
CARD_PATHS = (
    "/card/create",
    "/card/update",
    "/card/get",
    "/card/membercard/activateuserform/set",
    "/card/membercard/activate/geturl",
    "/card/code/decrypt",
    "/card/membercard/activatetempinfo/get",
    "/card/membercard/activate",
    "/card/membercard/updateuser",
    "/card/code/consume",
    "/cgi-bin/ticket/getticket",
)


class WeChatSandbox:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.apps: dict[str, str] = {}
        self.tokens: dict[str, tuple[str, float]] = {}
        self.token_fetches: dict[str, int] = {}  # appid -> calls that fetched an access token
        self.used_codes: set[str] = set()
        self.messages: list[dict[str, Any]] = []
        self.failing_sends = 0  # the next N subscribe sends fail with WeChat's -1 "system busy"
        self.faults = SandboxFaults()
        self.pay = PaySandbox(faults=self.faults)
        self.card = CardSandbox()
        self._routes = Map(
            [
                Rule("/cgi-bin/token", endpoint="token", methods=["GET"]),
                Rule("/cgi-bin/stable_token", endpoint="stable_token", methods=["POST"]),
                Rule("/sns/jscode2session", endpoint="code2session", methods=["GET"]),
                Rule("/wxa/business/getuserphonenumber", endpoint="phone", methods=["POST"]),
                Rule("/cgi-bin/message/subscribe/send", endpoint="subscribe_send", methods=["POST"]),
                Rule("/_sandbox/apps", endpoint="register_app", methods=["POST"]),
                Rule("/_sandbox/messages", endpoint="list_messages", methods=["GET"]),
                Rule("/_sandbox/faults", endpoint="faults", methods=["GET", "POST"]),
                Rule("/_sandbox/cards/events", endpoint="card_events", methods=["POST"]),
                Rule("/_sandbox/cards/<card_id>/members", endpoint="card_member", methods=["POST"]),
                Rule("/_sandbox/cards/<code>", endpoint="card_display", methods=["GET"]),
                *[Rule(path, endpoint="card_api", methods=["POST", "GET"]) for path in CARD_PATHS],
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path.startswith(("/v3/", "/_sandbox/pay", "/_sandbox/refunds")):
            return self.pay.handle(request)(environ, start_response)
        adapter = self._routes.bind_to_environ(environ)
        try:
            endpoint, values = adapter.match()
        except Exception:  # noqa: BLE001 - unknown path or method, as WeChat: a JSON error
            return _json({"errcode": 404, "errmsg": "not found"}, 404)(environ, start_response)
        fault = None if request.path.startswith("/_sandbox/") else self.faults.choose(request.path)
        if fault == "fail":
            return _json({"errcode": -1, "errmsg": "system error"})(environ, start_response)
        if fault == "late":
            time.sleep(self.faults.late_seconds)
        with self._lock:
            if endpoint == "card_api":
                body, lost = self._card_api(request)
                if lost:  # applied, but the caller never hears of it (a timeout, for the caller)
                    return Response(b"", status=504)(environ, start_response)
            else:
                body = getattr(self, f"_{endpoint}")(request, **values)
        if fault == "lost":
            return Response(b"", status=504)(environ, start_response)
        return _json(body)(environ, start_response)

    def _card_api(self, request: Request) -> tuple[dict[str, Any], bool]:
        appid = self._appid_for_token(request)
        if appid is None:
            return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}, False
        return self.card.handle(request.path, appid, _body(request), dict(request.args))

    def _card_member(self, request: Request, card_id: str) -> dict[str, Any]:
        payload = _body(request)
        return self.card.add_member(
            card_id, str(payload.get("openid", "o-oa-user")), payload.get("phone"), payload.get("name")
        )

    def _card_events(self, request: Request) -> dict[str, Any]:
        """Where an official account's event pushes go (公众平台's server URL, token, EncodingAESKey)."""
        payload = _body(request)
        self.card.register_events(
            str(payload["appid"]), str(payload["url"]), str(payload["token"]), payload.get("aes_key")
        )
        return {"errcode": 0, "errmsg": "ok"}

    def _card_display(self, request: Request, code: str) -> dict[str, Any]:
        return self.card.display(code) or {"errcode": 40056, "errmsg": "invalid code"}

    # --- WeChat API ---------------------------------------------------------------

    def _refuse_app(self, appid: str, secret: str) -> dict[str, Any] | None:
        if appid not in self.apps:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if self.apps[appid] != secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        return None

    def _token(self, request: Request) -> dict[str, Any]:
        appid, secret = request.args.get("appid", ""), request.args.get("secret", "")
        refused = self._refuse_app(appid, secret)
        if refused:
            return refused
        self.token_fetches[appid] = self.token_fetches.get(appid, 0) + 1
        return self._issue_token(appid)

    def _stable_token(self, request: Request) -> dict[str, Any]:
        """As WeChat's stable_token: the current token again while it is valid (unless force_refresh)."""
        body = _body(request)
        appid, secret = str(body.get("appid", "")), str(body.get("secret", ""))
        if body.get("grant_type") != "client_credential":
            return {"errcode": 40002, "errmsg": "invalid grant_type"}
        refused = self._refuse_app(appid, secret)
        if refused:
            return refused
        self.token_fetches[appid] = self.token_fetches.get(appid, 0) + 1
        now = time.time()
        current = [(t, until) for t, (a, until) in self.tokens.items() if a == appid and until > now]
        if current and not body.get("force_refresh"):
            token, until = max(current, key=lambda c: c[1])
            return {"access_token": token, "expires_in": int(until - now)}
        return self._issue_token(appid)

    def _issue_token(self, appid: str) -> dict[str, Any]:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = (appid, time.time() + TOKEN_TTL)
        return {"access_token": token, "expires_in": TOKEN_TTL}

    def _code2session(self, request: Request) -> dict[str, Any]:
        appid, secret, code = (request.args.get(k, "") for k in ("appid", "secret", "js_code"))
        refused = self._refuse_app(appid, secret)
        if refused:
            return refused
        match = _OPENID.match(code)
        if not match:
            return {"errcode": 40029, "errmsg": "invalid code"}
        if not self._use_code(appid, code):
            return {"errcode": 40163, "errmsg": "code been used"}
        return {"openid": match.group(1), "session_key": base64.b64encode(secrets.token_bytes(16)).decode()}

    def _phone(self, request: Request) -> dict[str, Any]:
        appid = self._appid_for_token(request)
        if appid is None:
            return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        code = str(_body(request).get("code", ""))
        match = _PHONE.match(code)
        if not match:
            return {"errcode": 40029, "errmsg": "invalid code"}
        if not self._use_code(appid, code):
            return {"errcode": 40163, "errmsg": "code been used"}
        number = match.group(1)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "phone_info": {
                "phoneNumber": number,
                "purePhoneNumber": number,
                "countryCode": "86",
                "watermark": {"timestamp": int(time.time()), "appid": appid},
            },
        }

    def _subscribe_send(self, request: Request) -> dict[str, Any]:
        appid = self._appid_for_token(request)
        if appid is None:
            return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        payload = _body(request)
        if not payload.get("touser") or not payload.get("template_id"):
            return {"errcode": 47003, "errmsg": "argument invalid"}
        if self.failing_sends > 0:
            self.failing_sends -= 1
            return {"errcode": -1, "errmsg": "system error"}
        self.messages.append({"appid": appid, **payload, "sent_at": time.time()})
        return {"errcode": 0, "errmsg": "ok", "msgid": len(self.messages)}

    # --- sandbox controls -----------------------------------------------------------

    def _register_app(self, request: Request) -> dict[str, Any]:
        payload = _body(request)
        self.apps[str(payload["appid"])] = str(payload["secret"])
        return {"errcode": 0, "errmsg": "ok"}

    def _faults(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            payload = _body(request)
            self.faults.set(
                float(payload.get("rate", 0)), float(payload.get("late_seconds", 1)), int(payload.get("seed", 0))
            )
        return self.faults.report()

    def _list_messages(self, request: Request) -> dict[str, Any]:
        appid = request.args.get("appid")
        return {"messages": [m for m in self.messages if appid in (None, m["appid"])]}

    # --- helpers --------------------------------------------------------------------

    def _use_code(self, appid: str, code: str) -> bool:
        key = f"{appid}|{code}"
        if key in self.used_codes:
            return False
        self.used_codes.add(key)
        return True

    def _appid_for_token(self, request: Request) -> str | None:
        entry = self.tokens.get(request.args.get("access_token", ""))
        if entry is None or entry[1] < time.time():
            return None
        return entry[0]


def _body(request: Request) -> dict[str, Any]:
    # wechatpy posts JSON without a Content-Type, and WeChat accepts that.
    try:
        data = json.loads(request.get_data() or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _json(body: dict[str, Any], status: int = 200) -> Response:
    # WeChat answers errors with HTTP 200 and an errcode, as here.
    return Response(json.dumps(body, ensure_ascii=False), status=status, content_type="application/json")


def main() -> None:
    host, port = cli_port(__doc__.splitlines()[0], 8002)
    LoopbackServer(WeChatSandbox(), host, port).serve_forever("WeChat sandbox")


if __name__ == "__main__":
    main()
