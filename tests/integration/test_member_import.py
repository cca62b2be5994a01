"""Issue 25 §1: member import over HTTP on the local stack: the upload, the check (dry run) with every bad-input
code, the run as a job on the scheduled runner (resumable, idempotent per (import, phone), two workers at once),
the prepaid cap, both merge rules, opening balances as IMPORT ledger entries, and another merchant's ids."""
from __future__ import annotations

import codecs
import threading
import uuid
from typing import Any

from mini_program_api.db.models import (
    LOOKUP,
    PROFILE,
    LedgerEntry,
    Lookup,
    Member,
    MemberImport,
    lookup_pk,
    member_import_pk,
    member_pk,
)
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
    status, answer = api.call("PUT", slot["url"], token=token, raw=body,
                              headers={"content-type": "application/octet-stream"})
    assert status == 200 and answer["size"] == len(body), answer
    return str(slot["upload_id"])


def start_import(api: Any, merchant: Any, body: bytes, rule: str = "refuse") -> dict[str, Any]:
    upload_id = upload(api, merchant, body)
    status, job = api.post("/v1/admin/member-imports", {"upload_id": upload_id, "file_name": "members.csv",
                                                        "merge_rule": rule}, token=api.admin_token(merchant))
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
        query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "") + ("&problems_only=true" if problems_only else "")
        page = api.ok("GET", f"/v1/admin/member-imports/{import_id}/rows?{query}", token=api.admin_token(merchant))
        found += page["rows"]
        cursor = page["cursor"]
        if cursor is None:
            return found


def member_of(merchant: Any, phone: str) -> Member | None:
    try:
        target = Lookup.get(lookup_pk(merchant.merchant_id, "PHONE", pii.phone_hash(merchant.merchant_id, phone)),
                            LOOKUP, consistent_read=True).target
    except Lookup.DoesNotExist:
        return None
    return Member.get(member_pk(merchant.merchant_id, target), PROFILE, consistent_read=True)


def test_smoke(api: Any, merchant: Any) -> None:
    a, b = _phone(), _phone()
    job = start_import(api, merchant, _csv(f"{a},张三,1990-05-01,X1,,,10,100,,300.50,50,vip,2020-01-01",
                                           f"{b},李四,,,,,,,,,,,"))
    assert job["status"] == "CHECKED", job
    assert (job["rows_read"], job["to_create"], job["errors"]) == (2, 2, 0), job
    assert member_of(merchant, a) is None
    job = api.ok("POST", f"/v1/admin/member-imports/{job['import_id']}/start", token=api.admin_token(merchant))
    drain()
    job = get(api, merchant, job["import_id"])
    assert (job["status"], job["imported"]) == ("DONE", 2), job
    m = member_of(merchant, a)
    assert m is not None and (int(m.principal), int(m.bonus), int(m.points), int(m.growth)) == (30050, 5000, 100, 10)
    assert ledger.balances_from_entries(merchant.merchant_id, m.member_id) == {
        "points": 100, "principal": 30050, "bonus": 5000, "growth": 10}


def _codes(rows: list[Any]) -> dict[int, set[tuple[str, str]]]:
    return {r["row"]: {(e["column"], e["code"]) for e in r["errors"]} for r in rows if r["errors"]}


def test_the_dry_run_names_every_bad_row_by_column_and_code_and_writes_nothing(api: Any, merchant: Any) -> None:
    good, dup = _phone(), _phone()
    today = timeline.today()
    future = (today.replace(year=today.year + 1)).isoformat()
    lines = [
        f"{good},王五,1990/5/1,,,,,1,,100,,,20200101",            # 1: dates in accepted forms
        f"{dup},,1990年5月1日,,,,,,,,,,",                        # 2: accepted
        "1234,,,,,,,,,,,,",                                      # 3: bad phone
        f"{dup},,,,,,,,,,,,",                                    # 4: duplicate of row 2
        f"{_phone()},,,,,,,,,-5,,,",                             # 5: negative money
        f"{_phone()},,,,,,,1.5,,1.005,,,",                      # 6: fractional points and fen
        f"{_phone()},,,,,,,,,5000.01,,,",                       # 7: principal above the 5000 yuan cap
        f"{_phone()},,,,,黑金,,,,,,,",                            # 8: unknown tier
        f"{_phone()},,01/03/1990,,,,,,,,,,{future}",             # 9: day-first date, a joined date to come
        f"{_phone()},=cmd|' /C calc'!A0,,,,,,,,,,,",             # 10: a formula
        f"{_phone()},,,,,,,,,,,,,extra",                         # 11: a cell beyond the header
        f"{_phone()},,,,,,",                                     # 12: a truncated line (valid: missing cells empty)
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
    assert codes[7] == {("principal", "PREPAID_CAP_EXCEEDED")}
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
        job = start_import(api, merchant, _csv(f"{a},张三,,,,,,,,,,会员", f"{b},李四", header=HEADER, encoding=encoding))
        assert (job["status"], job["encoding"], job["valid"]) == ("CHECKED", encoding, 2), job
    # The encoding is read from the first 64 KiB: a later row in another one is that row's error, the rest read.
    d = _phone()
    body = _csv(f"{a},{'张' * 21830}", f"{d},{'Li Si ' * 10}Li", header="手机号,姓名") + \
        f"{b},李四\n".encode("gb18030") + f"{c},王五\n".encode()
    job = start_import(api, merchant, body)
    assert job["encoding"] == "utf-8", job
    rows = all_rows(api, merchant, job["import_id"], limit=10)
    assert [(r["row"], [e["code"] for e in r["errors"]]) for r in rows] == [
        (1, ["TEXT_TOO_LONG"]), (2, []), (3, ["BAD_ENCODING"]), (4, [])]
    # A 10 MB line is that row's error, never held whole; the rows after it are read.
    huge = _csv(f"{a},张三", header="手机号,姓名") + b"1" * (10 * 1024 * 1024) + f"\n{b},李四\n".encode()
    job = start_import(api, merchant, huge)
    rows = all_rows(api, merchant, job["import_id"], limit=10)
    assert [(r["row"], [e["code"] for e in r["errors"]]) for r in rows] == [(1, []), (2, ["LINE_TOO_LONG"]), (3, [])]
