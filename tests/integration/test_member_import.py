"""Issue 25 §1: member import over HTTP on the local stack: the upload, the check (dry run) with every bad-input
code, the run as a job on the scheduled runner (resumable, idempotent per (import, phone), two workers at once),
the prepaid cap, both merge rules, opening balances as IMPORT ledger entries, and another merchant's ids."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from mini_program_api.db.ledger import LedgerEntry
from mini_program_api.db.member_imports import MemberImport, member_import_pk
from mini_program_api.db.models import LOOKUP, PROFILE, Lookup, Member, lookup_pk, member_pk
from mini_program_api.member_care import tags
from mini_program_api.member_import import jobs
from mini_program_api.money import ledger
from mini_program_api.platform import clock, pii
from tests import timeline

HEADER = "手机号,姓名,生日,外部会员号,卡号,等级,成长值,积分,积分有效期,本金,赠送金,标签,入会日期"


def _phone() -> str:
    return f"137{uuid.uuid4().int % 10**8:08d}"


def _csv(*lines: str, header: str = HEADER, encoding: str = "utf-8") -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode(encoding)


def upload(api: Any, merchant: Any, body: bytes, token: str | None = None) -> str:
    token = token or api.admin_token(merchant)
    slot = api.ok("POST", "/v1/admin/member-imports/uploads", {"file_name": "members.csv"}, token=token)
    assert slot["method"] == "PUT" and slot["authorized"] is True, slot
    status, answer = api.call(
        "PUT", slot["url"], token=token, raw=body, headers={"content-type": "application/octet-stream"}
    )
    assert status == 200 and answer["size"] == len(body), answer
    return str(slot["upload_id"])


def start_import(api: Any, merchant: Any, body: bytes, rule: str = "refuse") -> dict[str, Any]:
    upload_id = upload(api, merchant, body)
    status, job = api.post(
        "/v1/admin/member-imports",
        {"upload_id": upload_id, "file_name": "members.csv", "merge_rule": rule},
        token=api.admin_token(merchant),
    )
    assert status == 201, job
    return job


def drain(**kw: Any) -> None:
    for _ in range(100):
        if not jobs.run(**kw).imports:
            return
    raise AssertionError("the imports never finished")


def get(api: Any, merchant: Any, import_id: str) -> dict[str, Any]:
    return api.ok("GET", f"/v1/admin/member-imports/{import_id}", token=api.admin_token(merchant))


def all_rows(api: Any, merchant: Any, import_id: str, limit: int = 3, problems_only: bool = False) -> list[Any]:
    found: list[Any] = []
    cursor = None
    while True:
        query = (
            f"limit={limit}"
            + (f"&cursor={cursor}" if cursor else "")
            + ("&problems_only=true" if problems_only else "")
        )
        page = api.ok("GET", f"/v1/admin/member-imports/{import_id}/rows?{query}", token=api.admin_token(merchant))
        found += page["rows"]
        cursor = page["cursor"]
        if cursor is None:
            return found


def member_of(merchant: Any, phone: str) -> Member | None:
    try:
        target = Lookup.get(
            lookup_pk(merchant.merchant_id, "PHONE", pii.phone_hash(merchant.merchant_id, phone)),
            LOOKUP,
            consistent_read=True,
        ).target
    except Lookup.DoesNotExist:
        return None
    return Member.get(member_pk(merchant.merchant_id, target), PROFILE, consistent_read=True)


def test_smoke(api: Any, merchant: Any) -> None:
    a, b = _phone(), _phone()
    job = start_import(
        api, merchant, _csv(f"{a},张三,1990-05-01,X1,,,10,100,,300.50,50,vip,2020-01-01", f"{b},李四,,,,,,,,,,,")
    )
    assert job["status"] == "CHECKED", job
    assert (job["rows_read"], job["to_create"], job["errors"]) == (2, 2, 0), job
    assert member_of(merchant, a) is None
    job = api.ok("POST", f"/v1/admin/member-imports/{job['import_id']}/start", token=api.admin_token(merchant))
    drain()
    job = get(api, merchant, job["import_id"])
    assert (job["status"], job["imported"]) == ("DONE", 2), job
    m = member_of(merchant, a)
    assert m is not None and (int(m.principal), int(m.bonus), int(m.points), int(m.growth)) == (30050, 5000, 100, 10)
    assert m.phone_masked == pii.mask_phone(a) and pii.decrypt_phone(str(m.phone_enc)) == a  # one write, both
    assert ledger.balances_from_entries(merchant.merchant_id, m.member_id) == {
        "points": 100,
        "principal": 30050,
        "bonus": 5000,
        "growth": 10,
    }


def _codes(rows: list[Any]) -> dict[int, set[tuple[str, str]]]:
    return {r["row"]: {(e["column"], e["code"]) for e in r["errors"]} for r in rows if r["errors"]}


def test_the_dry_run_names_every_bad_row_by_column_and_code_and_writes_nothing(api: Any, merchant: Any) -> None:
    good, dup = _phone(), _phone()
    today = timeline.today()
    future = timeline.months_later(today, 12).isoformat()  # not today.replace(year=+1): no 29 February then
    lines = [
        f"{good},王五,1990/5/1,,,,,1,,100,,,20200101",  # 1: dates in accepted forms
        f"{dup},,1990年5月1日,,,,,,,,,,",  # 2: accepted
        "1234,,,,,,,,,,,,",  # 3: bad phone
        f"{dup},,,,,,,,,,,,",  # 4: duplicate of row 2
        f"{_phone()},,,,,,,,,-5,,,",  # 5: negative money
        f"{_phone()},,,,,,,1.5,,1.005,,,",  # 6: fractional points and fen
        f"{_phone()},,,,,,,,,5000.01,,,",  # 7: principal above the 5000 yuan cap
        f"{_phone()},,,,,黑金,,,,,,,",  # 8: unknown tier
        f"{_phone()},,01/03/1990,,,,,,,,,,{future}",  # 9: day-first date, a joined date to come
        f"{_phone()},=cmd|' /C calc'!A0,,,,,,,,,,,",  # 10: a formula
        f"{_phone()},,,,,,,,,,,,,extra",  # 11: a cell beyond the header
        f"{_phone()},,,,,,",  # 12: a truncated line (valid: missing cells empty)
        f"{_phone()},,,,,,,,,99999999999999999999999999999999999999999,,,",  # 13: 41 digits
    ]
    before = api.ok("GET", f"/v1/admin/reports/stored-value?from={today}&to={today}", token=api.admin_token(merchant))
    job = start_import(api, merchant, _csv(*lines))
    assert job["status"] == "CHECKED", job
    rows = all_rows(api, merchant, job["import_id"], limit=4)
    assert [r["row"] for r in rows] == list(range(1, 14))
    codes = _codes(rows)
    assert 1 not in codes and 2 not in codes and 12 not in codes, codes
    assert codes[3] == {("phone", "BAD_PHONE")}
    assert codes[4] == {("phone", "DUPLICATE_PHONE")} and "row 2" in rows[3]["errors"][0]["message"]
    assert codes[5] == {("principal", "NEGATIVE_AMOUNT")}
    assert codes[6] == {("points", "FRACTIONAL_AMOUNT"), ("principal", "FRACTIONAL_AMOUNT")}
    assert codes[7] == {("principal", "OVER_PREPAID_CAP")}
    assert codes[8] == {("tier", "UNKNOWN_TIER")}
    assert codes[9] == {("birthday", "BAD_DATE"), ("joined_on", "BAD_DATE")}
    assert codes[10] == {("name", "FORMULA_NOT_ALLOWED")}
    assert codes[11] == {("row", "EXTRA_CELLS")}
    assert codes[13] == {("principal", "AMOUNT_TOO_LARGE")}
    assert rows[0]["action"] == "CREATE" and rows[0]["phone"] == good[:3] + "****" + good[-4:]
    assert (job["rows_read"], job["valid"], job["errors"], job["to_create"]) == (13, 3, 10, 3), job
    problems = all_rows(api, merchant, job["import_id"], limit=2, problems_only=True)
    assert [r["row"] for r in problems] == [3, 4, 5, 6, 7, 8, 9, 10, 11, 13]
    # Nothing outside the import was written: no member, no liability.
    assert member_of(merchant, good) is None
    after = api.ok("GET", f"/v1/admin/reports/stored-value?from={today}&to={today}", token=api.admin_token(merchant))
    assert after == before


def _failed_with(api: Any, merchant: Any, body: bytes, code: str) -> dict[str, Any]:
    job = start_import(api, merchant, body)
    assert (job["status"], job["file_error"]) == ("FAILED", code), job
    header_row = all_rows(api, merchant, job["import_id"])
    assert [(r["row"], r["errors"][0]["code"]) for r in header_row] == [(0, code)]
    status, body = api.post(f"/v1/admin/member-imports/{job['import_id']}/start", token=api.admin_token(merchant))
    assert (status, body["error"]["code"]) == (409, "IMPORT_NOT_READY")
    return job


def test_a_file_it_cannot_read_fails_whole_with_its_reason(api: Any, merchant: Any) -> None:
    _failed_with(api, merchant, _csv(f"{_phone()},x", header="姓名,生日"), "MISSING_COLUMN")
    job = _failed_with(api, merchant, _csv(f"{_phone()},x,y", header="手机号,姓名,会员卡余额"), "UNKNOWN_COLUMN")
    assert "会员卡余额" in all_rows(api, merchant, job["import_id"])[0]["errors"][0]["message"]
    _failed_with(api, merchant, _csv(f"{_phone()},张三", header="手机号,姓名", encoding="utf-16"), "WRONG_ENCODING")
    _failed_with(api, merchant, b"\xff\xfe\xfa" * 100, "WRONG_ENCODING")
    _failed_with(api, merchant, b"\n\n", "EMPTY_FILE")


def test_encodings_utf8_with_bom_and_gb18030_and_a_10mb_line(api: Any, merchant: Any) -> None:
    a, b, c = _phone(), _phone(), _phone()
    for encoding in ("utf-8-sig", "gb18030"):
        job = start_import(
            api, merchant, _csv(f"{a},张三,,,,,,,,,,会员", f"{b},李四", header=HEADER, encoding=encoding)
        )
        assert (job["status"], job["encoding"], job["valid"]) == ("CHECKED", encoding, 2), job
    # The encoding is read from the first 64 KiB: a later row in another one is that row's error, the rest read.
    d = _phone()
    body = (
        _csv(f"{a},{'张' * 21830}", f"{d},{'Li Si ' * 10}Li", header="手机号,姓名")
        + f"{b},李四\n".encode("gb18030")
        + f"{c},王五\n".encode()
    )
    job = start_import(api, merchant, body)
    assert job["encoding"] == "utf-8", job
    rows = all_rows(api, merchant, job["import_id"], limit=10)
    assert [(r["row"], [e["code"] for e in r["errors"]]) for r in rows] == [
        (1, ["TEXT_TOO_LONG"]),
        (2, []),
        (3, ["BAD_ENCODING"]),
        (4, []),
    ]
    # A 10 MB line is that row's error, never held whole; the rows after it are read.
    huge = _csv(f"{a},张三", header="手机号,姓名") + b"1" * (10 * 1024 * 1024) + f"\n{b},李四\n".encode()
    job = start_import(api, merchant, huge)
    rows = all_rows(api, merchant, job["import_id"], limit=10)
    assert [(r["row"], [e["code"] for e in r["errors"]]) for r in rows] == [(1, []), (2, ["LINE_TOO_LONG"]), (3, [])]


def _run(api: Any, merchant: Any, job: dict[str, Any]) -> dict[str, Any]:
    api.ok("POST", f"/v1/admin/member-imports/{job['import_id']}/start", token=api.admin_token(merchant))
    drain()
    return get(api, merchant, job["import_id"])


def _balances(member: Member) -> tuple[int, int, int, int]:
    return int(member.points), int(member.principal), int(member.bonus), int(member.growth)


def _held_by_ledger(merchant: Any, member: Member) -> None:
    sums = ledger.balances_from_entries(merchant.merchant_id, member.member_id)
    assert (sums["points"], sums["principal"], sums["bonus"], sums["growth"]) == _balances(member)


def _import_entries(merchant: Any, member: Member) -> list[LedgerEntry]:
    return [
        e
        for e in LedgerEntry.query(
            member_pk(merchant.merchant_id, member.member_id), LedgerEntry.sk.startswith("TXN#"), consistent_read=True
        )
        if e.kind == ledger.IMPORT
    ]


def test_the_run_creates_members_once_however_often_the_file_comes(api: Any, merchant: Any) -> None:
    phones = [_phone() for _ in range(5)]
    lines = [
        f"{p},会员{i},1990-01-0{i + 1},EXT{i},,,{i * 10},{i * 100},,{i}.50,{i},vip,2019-06-01"
        for i, p in enumerate(phones)
    ]
    body = _csv(*lines, "1234,bad,,,,,,,,,,,")
    job = start_import(api, merchant, body)
    done = _run(api, merchant, job)
    assert (done["status"], done["imported"], done["skipped"], done["failed"]) == ("DONE", 5, 1, 0), done
    created = {p: member_of(merchant, p) for p in phones}
    for i, p in enumerate(phones):
        m = created[p]
        assert m is not None and _balances(m) == (i * 100, i * 100 + 50, i * 100, i * 10)
        assert (
            m.name,
            m.external_id,
            m.joined_on,
            [t["name"] for t in tags.names(merchant.merchant_id, m.tag_ids)],
        ) == (
            f"会员{i}",
            f"EXT{i}",
            "2019-06-01",
            ["vip"],
        )
        assert m.card_number and m.openid is None and m.imported_by == job["import_id"]
        _held_by_ledger(merchant, m)
        assert {e.account for e in _import_entries(merchant, m)} == {
            a for a, v in zip(("points", "principal", "bonus", "growth"), _balances(m), strict=True) if v
        }
    rows = all_rows(api, merchant, job["import_id"], limit=10)
    assert [r["outcome"] for r in rows] == ["IMPORTED"] * 5 + ["SKIPPED"]
    assert rows[1]["member_id"] == created[phones[1]].member_id  # type: ignore[union-attr]
    # The same file again (another upload of the same bytes): the same import, nothing created twice.
    again = start_import(api, merchant, body)
    assert again["import_id"] == job["import_id"] and again["status"] == "DONE"
    assert _run(api, merchant, again) == get(api, merchant, job["import_id"])
    # With the other merge rule it is refused: the file was imported already.
    upload_id = upload(api, merchant, body)
    status, answer = api.post(
        "/v1/admin/member-imports",
        {"upload_id": upload_id, "file_name": "x.csv", "merge_rule": "add"},
        token=api.admin_token(merchant),
    )
    assert (status, answer["error"]["code"]) == (409, "IMPORT_EXISTS")
    for p in phones:
        again_member = member_of(merchant, p)
        assert again_member is not None and _balances(again_member) == _balances(created[p])  # type: ignore[arg-type]
    assert MemberImport.count(member_import_pk(merchant.merchant_id)) == 1


def test_a_run_that_crashed_mid_page_resumes_and_creates_nothing_twice(api: Any, merchant: Any) -> None:
    phones = [_phone() for _ in range(7)]
    job = start_import(api, merchant, _csv(*[f"{p},,,,,,5,10,,1,1,," for p in phones]), rule="add")
    api.ok("POST", f"/v1/admin/member-imports/{job['import_id']}/start", token=api.admin_token(merchant))
    # The POST ran some rows inline; roll the import back as a crash would have left it: rows applied, the
    # cursor not saved (back to the start), and a runner with a page of 3 goes on from there.
    stored = MemberImport.get(member_import_pk(merchant.merchant_id), job["import_id"])
    stored.update(
        actions=[
            MemberImport.row.set(0),
            MemberImport.offset.set(0),
            MemberImport.columns.remove(),
            MemberImport.status.set("RUNNING"),
        ]
    )
    jobs.work(merchant.merchant_id, job["import_id"], None, page_size=3)
    done = get(api, merchant, job["import_id"])
    assert (done["status"], done["imported"], done["merged"], done["rows_read"]) == ("DONE", 7, 0, 7), done
    assert {r["outcome"] for r in all_rows(api, merchant, job["import_id"], limit=10)} == {"IMPORTED"}
    for p in phones:
        m = member_of(merchant, p)
        assert m is not None and _balances(m) == (10, 100, 100, 5)
        assert len(_import_entries(merchant, m)) == 4
        _held_by_ledger(merchant, m)


def test_a_deadline_stops_between_pages_and_the_next_run_goes_on(api: Any, merchant: Any) -> None:
    phones = [_phone() for _ in range(6)]
    job = start_import(api, merchant, _csv(*[f"{p},,,,,,,1,,,,," for p in phones]))
    stored = MemberImport.get(member_import_pk(merchant.merchant_id), job["import_id"])
    stored.update(actions=[MemberImport.status.set("RUNNING"), MemberImport.row.set(0), MemberImport.columns.remove()])
    import time

    handled = jobs.work(merchant.merchant_id, job["import_id"], time.monotonic() - 1, page_size=2)
    assert handled == 1  # the deadline had come: one row taken, its place saved, nothing more
    partial = get(api, merchant, job["import_id"])
    assert (partial["status"], partial["imported"]) == ("RUNNING", 1), partial
    jobs.work(merchant.merchant_id, job["import_id"], None, page_size=2)
    assert get(api, merchant, job["import_id"])["imported"] == 6


def test_two_workers_on_one_import_create_and_count_nothing_twice(api: Any, merchant: Any) -> None:
    phones = [_phone() for _ in range(12)]
    job = start_import(api, merchant, _csv(*[f"{p},,,,,,3,7,,2,1,," for p in phones]), rule="add")
    stored = MemberImport.get(member_import_pk(merchant.merchant_id), job["import_id"])
    stored.update(actions=[MemberImport.status.set("RUNNING"), MemberImport.row.set(0), MemberImport.columns.remove()])
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(10):
                jobs.work(merchant.merchant_id, job["import_id"], None, page_size=2)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    done = get(api, merchant, job["import_id"])
    assert (done["status"], done["imported"], done["merged"], done["failed"]) == ("DONE", 12, 0, 0), done
    assert {r["outcome"] for r in all_rows(api, merchant, job["import_id"], limit=20)} == {"IMPORTED"}
    for p in phones:
        m = member_of(merchant, p)
        assert m is not None and _balances(m) == (7, 200, 100, 3)
        _held_by_ledger(merchant, m)


def test_principal_above_the_cap_is_refused_never_truncated(api: Any, make_merchant: Any) -> None:
    merchant = make_merchant(prepaid_cap=100000)
    over, fits = _phone(), _phone()
    job = start_import(api, merchant, _csv(f"{over},,,,,,,,,1000.01,,,", f"{fits},,,,,,,,,1000,500,,"))
    codes = _codes(all_rows(api, merchant, job["import_id"]))
    assert codes == {1: {("principal", "OVER_PREPAID_CAP")}}
    done = _run(api, merchant, job)
    assert (done["imported"], done["skipped"]) == (1, 1), done
    assert member_of(merchant, over) is None
    m = member_of(merchant, fits)
    assert m is not None and (int(m.principal), int(m.bonus)) == (100000, 50000)  # bonus does not count


def test_a_phone_already_a_member_is_refused_or_added_to_as_the_merchant_chose(api: Any, make_merchant: Any) -> None:
    merchant = make_merchant(prepaid_cap=100000)
    phone, full = _phone(), _phone()
    member_id = api.member_with_card(merchant, phone=phone)["member"]["member_id"]
    full_id = api.member_with_card(merchant, phone=full)["member"]["member_id"]
    Member(member_pk(merchant.merchant_id, full_id), PROFILE).update(actions=[Member.pending_topup.set(99000)])
    body = _csv(f"{phone},新名字,,EXT9,,,20,30,,10,5,老客", f"{full},,,,,,,,,10.01,,,")
    refused = start_import(api, merchant, body, rule="refuse")
    rows = all_rows(api, merchant, refused["import_id"])
    assert [(r["action"], r["errors"][0]["code"]) for r in rows] == [
        ("REFUSE", "ALREADY_MEMBER"),
        ("REFUSE", "ALREADY_MEMBER"),
    ]
    done = _run(api, merchant, refused)
    assert (done["refused"], done["imported"], done["merged"]) == (2, 0, 0), done
    assert [r["outcome_code"] for r in all_rows(api, merchant, refused["import_id"])] == ["ALREADY_MEMBER"] * 2
    m = member_of(merchant, phone)
    assert m is not None and m.member_id == member_id and _balances(m) == (0, 0, 0, 0)
    # The other rule: the balances added to the member (never a second member), what it lacks filled in; a row
    # that would take principal and pending top-ups over the cap refused.
    added = start_import(api, merchant, body + b"\n", rule="add")
    rows = all_rows(api, merchant, added["import_id"])
    assert [r["action"] for r in rows] == ["MERGE", "REFUSE"] and rows[1]["errors"][0]["code"] == "OVER_PREPAID_CAP"
    done = _run(api, merchant, added)
    assert (done["merged"], done["refused"], done["imported"]) == (1, 1, 0), done
    m = member_of(merchant, phone)
    assert m is not None and m.member_id == member_id and _balances(m) == (30, 1000, 500, 20)
    assert (m.name, m.external_id, [t["name"] for t in tags.names(merchant.merchant_id, m.tag_ids)]) == (
        "新名字",
        "EXT9",
        ["老客"],
    )  # what it lacked, filled in
    _held_by_ledger(merchant, m)
    full_member = member_of(merchant, full)
    assert full_member is not None and int(full_member.principal) == 0


def test_a_merge_gives_a_member_bound_before_the_masked_copy_the_copy_of_their_number(api: Any, merchant: Any) -> None:
    """The row was found by the member's own number (its keyed hash), so that number is the one masked: a member
    bound before the copy existed gets it in the merge's write, with or without balances in the row."""
    old, current = _phone(), _phone()
    old_id = api.member_with_card(merchant, phone=old)["member"]["member_id"]
    current_id = api.member_with_card(merchant, phone=current)["member"]["member_id"]
    Member(member_pk(merchant.merchant_id, old_id), PROFILE).update(actions=[Member.phone_masked.remove()])
    done = _run(
        api, merchant, start_import(api, merchant, _csv(f"{old},,,EXT1,,,,,,,,,", f"{current},,,,,,,5,,,,,"), "add")
    )
    assert (done["merged"], done["imported"], done["failed"]) == (2, 0, 0), done
    for phone, member_id in ((old, old_id), (current, current_id)):
        m = member_of(merchant, phone)
        assert m is not None and m.member_id == member_id and m.phone_masked == pii.mask_phone(phone)
    assert api.ok("GET", f"/v1/admin/members/{old_id}", token=api.admin_token(merchant))["phone"] == pii.mask_phone(old)


def test_another_merchants_import_is_not_found(api: Any, merchant: Any, make_merchant: Any) -> None:
    job = start_import(api, merchant, _csv(f"{_phone()},,,,,,,,,,,,"))
    other = api.admin_token(make_merchant())
    for method, path in (("GET", ""), ("GET", "/rows"), ("POST", "/start")):
        status, body = api.call(method, f"/v1/admin/member-imports/{job['import_id']}{path}", token=other)
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND"), (method, path)
    # Another merchant's upload id is not theirs either.
    upload_id = upload(api, merchant, _csv(f"{_phone()},,,,,,,,,,,,"))
    status, body = api.post(
        "/v1/admin/member-imports", {"upload_id": upload_id, "file_name": "x.csv", "merge_rule": "add"}, token=other
    )
    assert (status, body["error"]["code"]) == (404, "UPLOAD_NOT_FOUND")
    assert api.ok("GET", "/v1/admin/member-imports", token=other)["imports"] == []
    listed = api.ok("GET", "/v1/admin/member-imports?limit=1", token=api.admin_token(merchant))
    assert [j["import_id"] for j in listed["imports"]] == [job["import_id"]]


def test_reports_show_imported_liability_apart_and_the_liability_check_agrees(api: Any, merchant: Any) -> None:
    from mini_program_api.reports import liability

    existing = _phone()
    api.member_with_card(merchant, phone=existing)
    job = start_import(
        api,
        merchant,
        _csv(f"{_phone()},,,,,,,120,,300,30,,", f"{_phone()},,,,,,,80,,200.5,,,", f"{existing},,,,,,,5,,1,1,,"),
        rule="add",
    )
    _run(api, merchant, job)
    day = clock.local_date(merchant.timezone).isoformat()
    admin = api.admin_token(merchant)
    stored = api.ok("GET", f"/v1/admin/reports/stored-value?from={day}&to={day}", token=admin)["rows"][0]
    assert (stored["imported_principal"], stored["imported_bonus"], stored["topup_principal"]) == (50150, 3100, 0)
    assert (stored["outstanding_principal"], stored["outstanding_bonus"]) == (50150, 3100)
    points = api.ok("GET", f"/v1/admin/reports/points?from={day}&to={day}", token=admin)["rows"][0]
    assert (points["imported"], points["issued"], points["outstanding"]) == (205, 205, 205), points
    assert points["by_kind"]["+IMPORT"] == 205
    members = api.ok("GET", f"/v1/admin/reports/members?from={day}&to={day}", token=admin)["rows"]
    assert {r["scene"]: r["new_members"] for r in members if r["scene"] != "*"}.get("import") == 2, members
    check = liability.run(merchant.merchant_id, page=2)
    assert check.status == liability.MATCH, check.sums.as_dict()
    assert {k: int(v) for k, v in check.expected.as_dict().items()} == {
        "principal": 50150,
        "bonus": 3100,
        "points": 205,
    }


def _xlsx(rows: list[list[Any]]) -> bytes:
    import io

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_an_xlsx_file_with_spreadsheet_numbers_dates_and_a_formula_cell(api: Any, merchant: Any) -> None:
    from datetime import datetime

    a, b, c = _phone(), _phone(), _phone()
    body = _xlsx(
        [
            ["手机号", "姓名", "生日", "积分", "本金(元)", "赠送金(元)", "入会日期"],
            [int(a), "钱七", datetime(1988, 2, 29), 150, 99.9, 0.1, "2021/7/1"],  # numbers as a spreadsheet keeps them
            [b, '=HYPERLINK("http://x","y")', None, "=1+1", 10, None, None],  # formulas
            [c, "孙八", "29/02/1988", None, None, None, None],  # a day-first date
        ]
    )
    job = start_import(api, merchant, body)
    assert (job["file_format"], job["status"], job["valid"], job["errors"]) == ("xlsx", "CHECKED", 1, 2), job
    codes = _codes(all_rows(api, merchant, job["import_id"]))
    assert codes == {
        2: {("name", "FORMULA_NOT_ALLOWED"), ("points", "FORMULA_NOT_ALLOWED")},
        3: {("birthday", "BAD_DATE")},
    }, codes
    done = _run(api, merchant, job)
    assert (done["imported"], done["skipped"]) == (1, 2), done
    m = member_of(merchant, a)
    assert m is not None and (m.name, m.birthday, m.joined_on) == ("钱七", "1988-02-29", "2021-07-01")
    assert (int(m.points), int(m.principal), int(m.bonus)) == (150, 9990, 10)
    _held_by_ledger(merchant, m)


def test_an_empty_upload_or_an_upload_id_not_made_here_is_refused(api: Any, merchant: Any) -> None:
    token = api.admin_token(merchant)
    slot = api.ok("POST", "/v1/admin/member-imports/uploads", {"file_name": "m.csv"}, token=token)
    status, body = api.call("PUT", slot["url"], token=token, raw=b"", headers={"content-type": "text/csv"})
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")
    status, body = api.post(
        "/v1/admin/member-imports",
        {"upload_id": slot["upload_id"], "file_name": "m.csv", "merge_rule": "add"},
        token=token,
    )
    assert (status, body["error"]["code"]) == (404, "UPLOAD_NOT_FOUND")  # nothing was kept
    status, body = api.call(
        "PUT",
        "/v1/admin/member-imports/uploads/..%2F..%2Fetc",
        token=token,
        raw=b"x",
        headers={"content-type": "text/csv"},
    )
    assert status == 404 and body["error"]["code"] in ("UPLOAD_NOT_FOUND", "NOT_FOUND"), body
    assert api.ok("GET", "/v1/admin/member-imports", token=token)["imports"] == []


def test_an_upload_is_written_once_so_the_run_applies_the_file_the_check_read(api: Any, merchant: Any) -> None:
    """The admin checks a file, then another file is PUT to the same upload (or its presigned URL, valid an hour,
    is used again): the run must not apply rows nobody checked (a million points here)."""
    token, phone = api.admin_token(merchant), _phone()
    slot = api.ok("POST", "/v1/admin/member-imports/uploads", {"file_name": "members.csv"}, token=token)
    checked = _csv(f"{phone},张三,,,,,,10,,,,,")
    assert api.call("PUT", slot["url"], token=token, raw=checked, headers={"content-type": "text/csv"})[0] == 200
    status, job = api.post(
        "/v1/admin/member-imports",
        {"upload_id": slot["upload_id"], "file_name": "members.csv", "merge_rule": "add"},
        token=token,
    )
    assert status == 201 and job["status"] == "CHECKED", job
    status, body = api.call(
        "PUT",
        slot["url"],
        token=token,
        raw=_csv(f"{phone},张三,,,,,,1000000,,,,,"),
        headers={"content-type": "text/csv"},
    )
    assert (status, body["error"]["code"]) == (409, "UPLOAD_EXISTS"), body
    api.ok("POST", f"/v1/admin/member-imports/{job['import_id']}/start", token=token)
    drain()
    m = member_of(merchant, phone)
    assert m is not None and int(m.points) == 10


def test_a_merge_racing_the_members_erasure_writes_nothing_back_on_the_erased_row(
    api: Any, merchant: Any, monkeypatch: Any
) -> None:
    """A row with no balances (an external id, tags) merges with a plain update of the member row: when the member
    is erased between the row's read and its write, that update must not put the file's data back on them."""
    from mini_program_api.data_rights import erasure
    from mini_program_api.db import transact
    from mini_program_api.platform.auth import Principal

    phone = _phone()
    member_id = api.member_with_card(merchant, phone=phone)["member"]["member_id"]
    job = start_import(api, merchant, _csv(f"{phone},,,EXT-42,,,,,,,,老客,"), rule="add")
    assert job["to_merge"] == 1, job
    real_commit, erased, admin = transact.Transaction.commit, [], Principal(merchant.merchant_id, "a1", "admin")

    def erase_first(tx: transact.Transaction) -> None:
        labels = [label for ops in tx._ops.values() for label, _ in ops]
        if "row" in labels and "balance" in labels and not erased:  # the merge's own write, after its reads
            erased.append(erasure.erase(merchant.merchant_id, member_id, admin))
        real_commit(tx)

    monkeypatch.setattr(transact.Transaction, "commit", erase_first)
    api.ok("POST", f"/v1/admin/member-imports/{job['import_id']}/start", token=api.admin_token(merchant))
    drain()
    assert erased
    row = Member.get(member_pk(merchant.merchant_id, member_id), PROFILE, consistent_read=True)
    assert row.erased_at is not None and row.external_id is None and not row.tag_ids, (row.external_id, row.tag_ids)


def test_a_money_cell_beyond_decimals_range_is_that_rows_error_not_a_stuck_import(api: Any, merchant: Any) -> None:
    """`9e999999999` yuan overflowed Decimal's context when made fen (decimal.Overflow, not InvalidOperation): the
    check's page raised on every run, so the import stayed CHECKING for ever. Tiny exponents became 0 silently."""
    good = _phone()
    job = start_import(
        api,
        merchant,
        _csv(f"{_phone()},,,,,,,,,9e999999999,,,", f"{_phone()},,,,,,,,,,1e-999999999,,", f"{good},,,,,,,,,,,,"),
    )
    assert job["status"] == "CHECKED", job
    assert (job["rows_read"], job["errors"], job["to_create"]) == (3, 2, 1), job
    rows = api.ok(
        "GET", f"/v1/admin/member-imports/{job['import_id']}/rows?problems_only=true", token=api.admin_token(merchant)
    )["rows"]
    assert {(r["row"], e["column"], e["code"]) for r in rows for e in r["errors"]} == {
        (1, "principal", "BAD_NUMBER"),
        (2, "bonus", "BAD_NUMBER"),
    }


def test_an_erased_members_phone_imported_again_is_a_new_member_under_a_new_random_id(api: Any, merchant: Any) -> None:
    """An imported member's id was a hash of their phone: once erased, the phone led back to the anonymous row
    kept for accounting (re-identification), and importing that phone again put a member on the erased row's
    key, which the condition refused on every run (the row stuck). Ids are random, like a login's."""
    from mini_program_api.data_rights import erasure
    from mini_program_api.platform.auth import Principal

    phone = _phone()
    first = _run(api, merchant, start_import(api, merchant, _csv(f"{phone},张三,,,,,,,,,,,")))
    assert first["imported"] == 1, first
    old = member_of(merchant, phone)
    assert old is not None and phone not in old.member_id and old.phone_hash not in old.member_id
    erasure.erase(merchant.merchant_id, old.member_id, Principal(merchant.merchant_id, "a1", "admin"))
    assert member_of(merchant, phone) is None
    again = _run(api, merchant, start_import(api, merchant, _csv(f"{phone},张三,,,,,,,,5,,,")))
    assert (again["status"], again["imported"], again["failed"]) == ("DONE", 1, 0), again
    new = member_of(merchant, phone)
    assert new is not None and new.member_id != old.member_id and int(new.principal) == 500
    kept = Member.get(member_pk(merchant.merchant_id, old.member_id), PROFILE, consistent_read=True)
    assert kept.erased_at is not None and kept.phone_hash is None


def test_two_imports_racing_on_one_phone_make_one_member(api: Any, merchant: Any) -> None:
    """Two files with the same phones run at once (add rule): each phone becomes one member, created by one import
    and added to by the other (the phone's lookup is put in the creating transaction, conditional), never two."""
    phones = [_phone() for _ in range(6)]
    started = []
    for extra in ("", "\n"):  # two files, two imports
        job = start_import(api, merchant, _csv(*[f"{p},,,,,,,1,,3,,," for p in phones]) + extra.encode(), rule="add")
        stored = MemberImport.get(member_import_pk(merchant.merchant_id), job["import_id"])
        stored.update(
            actions=[MemberImport.status.set("RUNNING"), MemberImport.row.set(0), MemberImport.columns.remove()]
        )
        started.append(job["import_id"])
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(import_id: str) -> None:
        try:
            barrier.wait()
            for _ in range(10):
                jobs.work(merchant.merchant_id, import_id, None, page_size=2)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in started]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    done = [get(api, merchant, i) for i in started]
    assert sum(d["imported"] for d in done) == 6 and sum(d["merged"] for d in done) == 6, done
    for p in phones:
        m = member_of(merchant, p)
        assert m is not None and _balances(m) == (2, 600, 0, 0)
        _held_by_ledger(merchant, m)
