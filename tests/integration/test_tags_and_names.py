"""Issue 25 §2: the merchant's own tags (create, rename, delete, on one member or in bulk, counts exact under
concurrent edits, a filter for search and issue jobs) and members found by name without a scan. Over HTTP on the
local stack."""

from __future__ import annotations

import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mini_program_api.coupons import issue_jobs
from mini_program_api.db.models import Member
from mini_program_api.db.tags import Tagged, tagged_pk
from mini_program_api.member_care import tags
from mini_program_api.platform.auth import Principal


def _code(result: tuple[int, Any]) -> tuple[int, str]:
    return result[0], result[1]["error"]["code"]


def _member(api: Any, merchant: Any, name: str | None = None) -> str:
    session = api.login(merchant)
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    api.ok("POST", "/v1/me/phone", {"code": f"phone:{phone}:{uuid.uuid4().hex[:6]}"}, token=session["token"])
    body = {"agreed_terms_version": merchant.terms_version, **({"name": name} if name else {})}
    return str(api.ok("POST", "/v1/me/card", body, token=session["token"])["member_id"])


def _tag(api: Any, admin: str, name: str) -> dict[str, Any]:
    status, body = api.post("/v1/admin/tags", {"name": name}, token=admin)
    assert status == 201, body
    return dict(body)


def _listed(api: Any, admin: str, query: str) -> list[str]:
    """Every member id of a paged search, following its cursors (pages of 2)."""
    found, cursor = [], ""
    while True:
        page = api.ok("GET", f"/v1/admin/members?{query}&limit=2{cursor}", token=admin)
        found += [m["member_id"] for m in page["members"]]
        if not page["cursor"]:
            return found
        cursor = f"&cursor={page['cursor']}"


def test_tags_created_renamed_set_shown_filtered_and_deleted_only_when_unused(
    api: Any, merchant: Any, make_merchant: Any
) -> None:
    admin = api.admin_token(merchant)
    vip, allergy = _tag(api, admin, "VIP"), _tag(api, admin, "坚果过敏")
    assert _code(api.post("/v1/admin/tags", {"name": " ｖｉｐ "}, token=admin)) == (409, "TAG_NAME_TAKEN")
    for bad in ("", "x" * 21):
        assert api.post("/v1/admin/tags", {"name": bad}, token=admin)[0] == 400
    alice, bob, carol = (_member(api, merchant) for _ in range(3))

    view = api.ok("PUT", f"/v1/admin/members/{alice}/tags/{vip['tag_id']}", token=admin)
    assert view["tags"] == [{"tag_id": vip["tag_id"], "name": "VIP"}]
    api.ok("PUT", f"/v1/admin/members/{alice}/tags/{vip['tag_id']}", token=admin)  # again: no change
    bulk = api.ok(
        "POST",
        f"/v1/admin/tags/{vip['tag_id']}/members",
        {"action": "add", "member_ids": [alice, bob, "nobody"]},
        token=admin,
    )
    assert bulk == {"changed": [bob], "unchanged": [alice], "not_found": ["nobody"]}
    api.ok("PUT", f"/v1/admin/members/{carol}/tags/{allergy['tag_id']}", token=admin)
    counts = {t["name"]: t["members"] for t in api.ok("GET", "/v1/admin/tags", token=admin)["tags"]}
    assert counts == {"VIP": 2, "坚果过敏": 1}
    assert sorted(_listed(api, admin, f"tag_id={vip['tag_id']}")) == sorted([alice, bob])

    renamed = api.ok("PATCH", f"/v1/admin/tags/{vip['tag_id']}", {"name": "金卡VIP"}, token=admin)
    assert (renamed["name"], renamed["members"]) == ("金卡VIP", 2)
    assert api.ok("GET", f"/v1/admin/members/{bob}", token=admin)["tags"][0]["name"] == "金卡VIP"
    assert _code(api.patch(f"/v1/admin/tags/{vip['tag_id']}", {"name": "坚果过敏"}, token=admin)) == (
        409,
        "TAG_NAME_TAKEN",
    )
    _tag(api, admin, "VIP")  # the old name is free again

    status, refused = api.call("DELETE", f"/v1/admin/tags/{vip['tag_id']}", token=admin)
    assert (status, refused["error"]["code"], refused["error"]["details"]) == (409, "TAG_IN_USE", {"members": 2})
    api.ok(
        "POST", f"/v1/admin/tags/{vip['tag_id']}/members", {"action": "remove", "member_ids": [alice, bob]}, token=admin
    )
    assert api.call("DELETE", f"/v1/admin/tags/{vip['tag_id']}", token=admin)[0] == 204
    assert _code(api.get(f"/v1/admin/tags/{vip['tag_id']}", token=admin)) == (404, "TAG_NOT_FOUND")
    assert api.ok("GET", f"/v1/admin/members/{alice}", token=admin)["tags"] == []
    trail = [r["action"] for r in api.ok("GET", f"/v1/admin/members/{alice}/audit", token=admin)["records"]]
    assert trail == ["MEMBER_TAGGED"]  # single edits in the member's trail; bulk ones in the merchant's

    other = api.admin_token(make_merchant())
    assert _code(api.put(f"/v1/admin/members/{carol}/tags/{allergy['tag_id']}", token=other)) == (
        404,
        "MEMBER_NOT_FOUND",
    )
    assert _code(api.get(f"/v1/admin/members?tag_id={allergy['tag_id']}", token=other)) == (404, "TAG_NOT_FOUND")
    assert _code(api.patch(f"/v1/admin/tags/{allergy['tag_id']}", {"name": "x"}, token=other)) == (404, "TAG_NOT_FOUND")


def test_tag_counts_equal_the_members_tagged_under_concurrent_bulk_edits(api: Any, merchant: Any) -> None:
    admin = api.admin_token(merchant)
    tag_id = _tag(api, admin, "活动")["tag_id"]
    ids = [_member(api, merchant) for _ in range(10)]
    actor = Principal(merchant.merchant_id, "admin-1", "admin")
    start = threading.Barrier(6)

    def editor(seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        for _ in range(8):
            chosen = rng.sample(ids, rng.randint(1, 5))
            if rng.random() < 0.3:
                tags.tag_member(actor, chosen[0], tag_id, rng.random() < 0.5)
            else:
                tags.bulk(actor, tag_id, chosen, rng.random() < 0.6)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(editor, range(6)))
    carrying = [
        m
        for m in ids
        if tag_id in (Member.get(f"MCH#{merchant.merchant_id}#MEM#{m}", "PROFILE", consistent_read=True).tag_ids or ())
    ]
    listed = {t.member_id for t in Tagged.query(tagged_pk(merchant.merchant_id, tag_id), consistent_read=True)}
    count = api.ok("GET", f"/v1/admin/tags/{tag_id}", token=admin)["members"]
    assert count == len(carrying) == len(listed) and set(carrying) == listed


def test_members_found_by_the_beginning_of_their_name_paged_and_after_a_rename(
    api: Any, merchant: Any, make_merchant: Any
) -> None:
    admin = api.admin_token(merchant)
    wei1, wei2, san, lilei = (_member(api, merchant, n) for n in ("张伟", "张伟", "张三", "Li Lei"))
    _member(api, merchant)  # no name: in no name's list
    assert sorted(_listed(api, admin, "name=张")) == sorted([wei1, wei2, san])
    assert sorted(_listed(api, admin, "name=张伟")) == sorted([wei1, wei2])
    assert _listed(api, admin, "name=ＬＩ%20lei") == [lilei]
    assert _listed(api, admin, "name=王") == []

    renamed = api.ok("PUT", f"/v1/admin/members/{san}/name", {"name": "王三", "reason": "登记错字"}, token=admin)
    assert renamed["card"]["name"] == "王三"
    assert sorted(_listed(api, admin, "name=张")) == sorted([wei1, wei2]) and _listed(api, admin, "name=王") == [san]
    trail = api.ok("GET", f"/v1/admin/members/{san}/audit", token=admin)["records"]
    assert trail[0]["action"] == "MEMBER_RENAMED" and trail[0]["detail"]["old"] == "张三"

    vip = _tag(api, admin, "VIP")["tag_id"]
    api.ok("PUT", f"/v1/admin/members/{wei2}/tags/{vip}", token=admin)
    assert _listed(api, admin, f"name=张&tag_id={vip}") == [wei2]
    hit = api.ok("GET", f"/v1/admin/members?name=张伟&tag_id={vip}", token=admin)["members"][0]
    assert hit["tags"] == [{"tag_id": vip, "name": "VIP"}] and hit["frozen"] is False

    assert api.ok("GET", "/v1/admin/members?name=张", token=api.admin_token(make_merchant()))["members"] == []
    for query in ("name=", "name=" + "x" * 33, f"name=张&member_id={wei1}", "name=%20", "cursor=abc&phone=139"):
        assert api.get(f"/v1/admin/members?{query}", token=admin)[0] == 400, query


def test_an_issue_job_filtered_by_tag_gives_only_the_tagged_members(api: Any, merchant: Any) -> None:
    admin = api.admin_token(merchant)
    tagged, untagged = _member(api, merchant), _member(api, merchant)
    vip = _tag(api, admin, "VIP")["tag_id"]
    api.ok("PUT", f"/v1/admin/members/{tagged}/tags/{vip}", token=admin)
    template = api.ok(
        "POST",
        "/v1/admin/coupon-templates",
        {
            "name": "VIP券",
            "kind": "CASH",
            "amount": 300,
            "per_member_limit": 1,
            "days_after_claim": 7,
            "listed": False,
            "total_stock": 10,
        },
        token=admin,
    )
    bad = api.post(
        "/v1/admin/issue-jobs",
        {"template_id": template["template_id"], "filter": {"tag_ids": ["nope"]}},
        token=admin,
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert _code(bad) == (400, "VALIDATION_ERROR")
    job = api.ok(
        "POST",
        "/v1/admin/issue-jobs",
        {"template_id": template["template_id"], "filter": {"tag_ids": [vip]}},
        token=admin,
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    for _ in range(10):
        if not issue_jobs.run().jobs:
            break
    done = api.ok("GET", f"/v1/admin/issue-jobs/{job['job_id']}", token=admin)
    assert (done["issued"], done["scanned"]) == (1, 2)
    held = {m: api.ok("GET", f"/v1/admin/members/{m}", token=admin)["coupon_count"] for m in (tagged, untagged)}
    assert held == {tagged: 1, untagged: 0}


def test_a_tag_name_with_invisible_or_control_characters_is_refused(api: Any, merchant: Any) -> None:
    """`VIP` with a zero-width space, a BOM or a BEL looks like `VIP` in every list but normalized differently: a
    second `VIP` tag the merchant cannot tell apart (or a name made of nothing visible)."""
    admin = api.admin_token(merchant)
    api.ok("POST", "/v1/admin/tags", {"name": "VIP"}, token=admin)
    for name in ("VIP\u200b", "\ufeffVIP", "V\u0007IP", "\u200b", "VIP\u202e"):
        assert _code(api.post("/v1/admin/tags", {"name": name}, token=admin)) == (400, "VALIDATION_ERROR"), name
    assert [t["name"] for t in api.ok("GET", "/v1/admin/tags", token=admin)["tags"]] == ["VIP"]
