"""Issue 25, where its parts meet: an imported row's tags are the merchant's tags (counted, by id) and its name is
searchable; a re-import counts nothing twice; the erasure takes the person off the name search and their tags
(counts kept right) and out of the table; the data export shows tags, freeze and origin; a first login claiming an
imported card is one new member in the members report; imports, freezes and erasures are webhook events. Over
HTTP on the local stack."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from mini_program_api.db.tags import TagDef, tags_pk
from mini_program_api.member_care import tags
from mini_program_api.platform import clock
from mini_program_api.webhooks.models import WebhookEvent, events_pk
from tests.integration.test_data_rights import _table_text
from tests.integration.test_member_import import _csv, _phone, drain, member_of, start_import


def _line(phone: str, name: str = "", tags_: str = "", points: str = "", external_id: str = "") -> str:
    # 手机号,姓名,生日,外部会员号,卡号,等级,成长值,积分,积分有效期,本金,赠送金,标签,入会日期
    return ",".join([phone, name, "", external_id, "", "", "", points, "", "", "", tags_, "2019-06-01"])


def _run(api: Any, merchant: Any, body: bytes, rule: str = "add") -> dict[str, Any]:
    job = start_import(api, merchant, body, rule)
    api.ok("POST", f"/v1/admin/member-imports/{job['import_id']}/start", token=api.admin_token(merchant))
    drain()
    done = api.ok("GET", f"/v1/admin/member-imports/{job['import_id']}", token=api.admin_token(merchant))
    assert done["status"] == "DONE" and done["failed"] == 0, done
    return dict(done)


def _tags(api: Any, admin: str) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in api.ok("GET", "/v1/admin/tags?limit=100", token=admin)["tags"]}


def _tag_members(api: Any, admin: str, tag_id: str) -> list[str]:
    page = api.ok("GET", f"/v1/admin/members?tag_id={tag_id}&limit=50", token=admin)
    return sorted(m["member_id"] for m in page["members"])


def _by_name(api: Any, admin: str, name: str) -> list[str]:
    return [m["member_id"] for m in api.ok("GET", f"/v1/admin/members?name={name}&limit=50", token=admin)["members"]]


def _name() -> str:
    return "导入" + uuid.uuid4().hex[:8]


def test_imported_tags_are_the_merchants_tags_counted_once_and_names_are_searchable(
    api: Any, make_merchant: Any
) -> None:
    merchant = make_merchant()
    admin = api.admin_token(merchant)
    vip = api.ok("POST", "/v1/admin/tags", {"name": "VIP"}, token=admin)
    existing_phone, p1, p2 = _phone(), _phone(), _phone()
    existing = api.member_with_card(merchant, phone=existing_phone)["member"]["member_id"]
    n1, n2, n3 = _name(), _name(), _name()
    _run(
        api,
        merchant,
        _csv(_line(p1, n1, "vip|常客"), _line(p2, n2, "常客"), _line(existing_phone, n3, "ｖｉｐ")),
    )
    m1, m2 = member_of(merchant, p1), member_of(merchant, p2)
    assert m1 is not None and m2 is not None
    found = _tags(api, admin)
    assert set(found) == {"VIP", "常客"}, found  # "vip", "ｖｉｐ" are the merchant's VIP; 常客 was made once
    assert found["VIP"]["tag_id"] == vip["tag_id"]
    assert found["VIP"]["members"] == 2 and found["常客"]["members"] == 2, found
    assert _tag_members(api, admin, vip["tag_id"]) == sorted([m1.member_id, existing])
    assert _tag_members(api, admin, found["常客"]["tag_id"]) == sorted([m1.member_id, m2.member_id])
    view = api.ok("GET", f"/v1/admin/members/{m1.member_id}", token=admin)
    assert [t["name"] for t in view["tags"]] == ["VIP", "常客"]
    # Names: the new members' and the merged member's (it had none) are found by the name search.
    assert _by_name(api, admin, n1) == [m1.member_id]
    assert _by_name(api, admin, n2) == [m2.member_id]
    assert _by_name(api, admin, n3) == [existing]

    # Another file with the same people and tags (merged: rule add): no tag counted twice, no second name entry.
    _run(api, merchant, _csv(_line(p1, n1, "VIP|常客"), _line(p2, n2, "常客|VIP"), _line(existing_phone, "", "vip")))
    again = _tags(api, admin)
    assert again["VIP"]["members"] == 3 and again["常客"]["members"] == 2, again  # p2 gained VIP, once
    assert _tag_members(api, admin, vip["tag_id"]) == sorted([m1.member_id, m2.member_id, existing])
    assert _by_name(api, admin, n1) == [m1.member_id]


def test_rows_racing_to_make_one_tag_name_meet_on_one_tag(make_merchant: Any) -> None:
    merchant = make_merchant()
    got: list[str] = []
    start = threading.Barrier(6)

    def make() -> None:
        start.wait()
        got.append(tags.ensure(merchant.merchant_id, "新客"))

    threads = [threading.Thread(target=make) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 1 and len(got) == 6
    assert [t.sk for t in TagDef.query(tags_pk(merchant.merchant_id))] == got[:1]


def test_the_erasure_takes_name_tags_and_import_origin_away_and_the_export_showed_them(
    api: Any, make_merchant: Any
) -> None:
    merchant = make_merchant()
    admin = api.admin_token(merchant)
    phone, name, ext = _phone(), _name(), "EXT" + uuid.uuid4().hex[:10]
    _run(api, merchant, _csv(_line(phone, name, "VIP|挂失", external_id=ext), _line(_phone(), _name(), "VIP")))
    member = member_of(merchant, phone)
    assert member is not None
    mid = member.member_id
    api.ok("POST", f"/v1/admin/members/{mid}/freeze", {"reason": "顾客来电挂失"}, token=admin)
    # The member's own data export: their tags by name, the freeze, the import they came from.
    status, export = api.get("/v1/me/data-export?limit=5", token=api.token(merchant, mid))
    assert status == 200, export
    profile = export["profile"]
    assert profile["tags"] == ["VIP", "挂失"] and "tag_ids" not in profile
    assert profile["frozen"] is True and profile["frozen_reason"] == "顾客来电挂失" and "frozen_by" not in profile
    assert profile["imported"] is True and profile["external_id"] == ext and profile["joined_on"] == "2019-06-01"
    text = _table_text()
    assert name in text and ext in text and "顾客来电挂失" in text  # what the scan below looks for

    status, erased = api.post(f"/v1/admin/members/{mid}/delete-account", {"reason": "会员要求注销"}, token=admin)
    assert (status, erased["error"]["code"]) == (409, "MEMBER_FROZEN"), erased  # settled first: unfrozen
    api.ok("POST", f"/v1/admin/members/{mid}/unfreeze", {"reason": "本人到店"}, token=admin)
    status, erased = api.post(f"/v1/admin/members/{mid}/delete-account", {"reason": "会员要求注销"}, token=admin)
    assert status == 200, erased
    assert _by_name(api, admin, name) == []
    found = _tags(api, admin)
    assert found["VIP"]["members"] == 1 and found["挂失"]["members"] == 0, found
    assert mid not in _tag_members(api, admin, found["VIP"]["tag_id"])
    assert api.call("DELETE", f"/v1/admin/tags/{found['挂失']['tag_id']}", token=admin)[0] == 204  # not in use
    text = _table_text()
    assert name not in text and ext not in text
    assert member_of(merchant, phone) is None  # the phone's lookup is gone
    view = api.ok("GET", f"/v1/admin/members/{mid}", token=admin)
    assert view["tags"] == []


def test_a_first_login_claiming_an_imported_card_is_one_new_member(api: Any, make_merchant: Any) -> None:
    merchant = make_merchant()
    admin = api.admin_token(merchant)
    phone = _phone()
    _run(api, merchant, _csv(_line(phone, _name(), points="10")))
    day = clock.local_date(merchant.timezone).isoformat()

    def new_members() -> dict[str, int]:
        rows = api.ok("GET", f"/v1/admin/reports/members?from={day}&to={day}", token=admin)["rows"]
        return {r["scene"]: r["new_members"] for r in rows if r["new_members"]}

    before = new_members()
    login = api.login(merchant)
    assert new_members() != before  # the login's member counts as new until it claims the card
    status, bound = api.post("/v1/me/phone", {"code": f"phone:{phone}:1"}, token=login["token"])
    assert status == 200 and bound["member_id"] != login["member"]["member_id"], bound
    after = new_members()
    assert after == before, (before, after)  # one person: the imported member, counted by the import
    assert after.get("import") == 1
    # A second claim by the same empty member (another imported phone) changes nothing more.
    other = _phone()
    _run(api, merchant, _csv(_line(other, _name())))
    counted = new_members()
    status, _ = api.post("/v1/me/phone", {"code": f"phone:{other}:2"}, token=login["token"])
    assert status == 409
    assert new_members() == counted


def test_imports_freezes_and_erasures_are_webhook_events_without_personal_data(api: Any, make_merchant: Any) -> None:
    merchant = make_merchant()
    admin = api.admin_token(merchant)
    status, hook = api.post(
        "/v1/admin/webhooks/endpoints",
        {
            "url": "http://127.0.0.1:9/hooks",
            "events": ["member.created", "points.changed", "member.frozen", "member.unfrozen", "member.erased"],
        },
        token=admin,
    )
    assert status == 201, hook
    phone, name = _phone(), _name()
    _run(api, merchant, _csv(_line(phone, name, "VIP", points="30")))
    member = member_of(merchant, phone)
    assert member is not None
    mid = member.member_id
    api.ok("POST", f"/v1/admin/members/{mid}/freeze", {"reason": "挂失"}, token=admin)
    api.ok("POST", f"/v1/admin/members/{mid}/unfreeze", {"reason": "找回"}, token=admin)
    status, erased = api.post(f"/v1/admin/members/{mid}/delete-account", {"reason": "会员要求注销"}, token=admin)
    assert status == 200, erased
    queued = list(WebhookEvent.query(events_pk(merchant.merchant_id, mid), consistent_read=True))
    types = [str(e.type) for e in queued]
    assert types == [
        "member.created",
        "card.opened",
        "points.changed",
        "member.frozen",
        "member.unfrozen",
        "member.erased",
        "points.changed",
    ], types
    bodies = [json.loads(str(e.payload)) for e in queued]
    assert bodies[0]["data"]["scene"] == "import"
    assert bodies[2]["data"]["kind"] == "IMPORT", bodies[2]
    assert bodies[5]["data"] == {"member_id": mid}
    assert all(name not in str(e.payload) and phone not in str(e.payload) for e in queued)
