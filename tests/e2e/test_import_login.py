"""Issue 25 §1: an imported member who later logs in from the mini program with that phone (getPhoneNumber)
finds their card, balances and tier. Over real HTTP on loopback: the API, the WeChat sandbox behind
code2session and getPhoneNumber, and the scheduled runner's job function."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

from mini_program_api.member_import import jobs


def _call(
    api_url: str,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    raw: bytes | None = None,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(api_url + path, data=data, method=method, headers={"Content-Type": content_type})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_an_imported_member_logs_in_with_their_phone_and_finds_card_balances_and_tier(
    api_url: str, api: Any, make_merchant: Any
) -> None:
    merchant = make_merchant()  # tiers 普通 0, 银卡 1000, 金卡 5000 (growth): the file's tier is kept
    admin = api.admin_token(merchant)
    phone, other = f"136{uuid.uuid4().int % 10**8:08d}", f"136{uuid.uuid4().int % 10**8:08d}"
    csv = (
        f"手机号,姓名,卡号,等级,成长值,积分,本金,赠送金\n{phone},赵六,880012345678,金卡,1500,320,88.80,11.20\n"
    ).encode()
    status, slot = _call(api_url, "POST", "/v1/admin/member-imports/uploads", {"file_name": "m.csv"}, admin)
    assert status == 201, slot
    status, _ = _call(api_url, "PUT", slot["url"], token=admin, raw=csv, content_type="text/csv")
    assert status == 200
    status, job = _call(
        api_url,
        "POST",
        "/v1/admin/member-imports",
        {"upload_id": slot["upload_id"], "file_name": "m.csv", "merge_rule": "refuse"},
        admin,
    )
    assert status == 201 and job["status"] == "CHECKED", job
    status, job = _call(api_url, "POST", f"/v1/admin/member-imports/{job['import_id']}/start", token=admin)
    assert status == 200, job
    jobs.run()  # what the scheduled member_imports_run does
    status, job = _call(api_url, "GET", f"/v1/admin/member-imports/{job['import_id']}", token=admin)
    assert (job["status"], job["imported"]) == ("DONE", 1), job

    # The mini program: wx.login, then getPhoneNumber with the imported number.
    openid = f"o-{uuid.uuid4().hex[:12]}"
    status, login = _call(api_url, "POST", "/v1/auth/login", {"appid": merchant.appid, "code": f"test:{openid}:1"})
    assert status == 200 and login["member"]["card"] is None, login
    status, bound = _call(api_url, "POST", "/v1/me/phone", {"code": f"phone:{phone}:1"}, login["token"])
    assert status == 200 and bound["token"], bound
    assert bound["member_id"] != login["member"]["member_id"]
    status, me = _call(api_url, "GET", "/v1/me", token=bound["token"])
    assert status == 200, me
    assert me["card"]["number"] == "880012345678"
    assert (me["points"], me["principal"], me["bonus"], me["growth"]) == (320, 8880, 1120, 1500)
    assert me["tier"]["id"] == "gold" and me["phone"] == phone[:3] + "****" + phone[-4:]
    status, entries = _call(api_url, "GET", "/v1/me/ledger?account=balance", token=bound["token"])
    assert {(e["kind"], e["amount"]) for e in entries["entries"]} == {("IMPORT", 8880), ("IMPORT", 1120)}, entries
    # The next login with that WeChat account lands on the imported member directly.
    status, again = _call(api_url, "POST", "/v1/auth/login", {"appid": merchant.appid, "code": f"test:{openid}:2"})
    assert status == 200 and again["member"]["member_id"] == bound["member_id"], again
    # Another WeChat account with that number cannot take the card now: it is someone's.
    status, stranger = _call(api_url, "POST", "/v1/auth/login", {"appid": merchant.appid, "code": "test:o-x:3"})
    status, refused = _call(api_url, "POST", "/v1/me/phone", {"code": f"phone:{phone}:2"}, stranger["token"])
    assert (status, refused["error"]["code"]) == (409, "PHONE_IN_USE")
    # A number no import brought binds as before, no new session.
    status, plain = _call(api_url, "POST", "/v1/me/phone", {"code": f"phone:{other}:1"}, stranger["token"])
    assert status == 200 and plain["token"] is None and plain["member_id"] == stranger["member"]["member_id"]
