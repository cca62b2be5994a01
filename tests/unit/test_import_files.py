"""Member import files (member_import/files.py, rows.py) without the stack: the S3 store against moto (in
process: nothing leaves the machine), the CSV reader's resume from a byte offset, and a row's rules."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from mini_program_api.member_import import files, rows

TODAY = date.today()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Any:
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "cn-north-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        import boto3

        boto3.client("s3", region_name="cn-north-1").create_bucket(
            Bucket="imports-test", CreateBucketConfiguration={"LocationConstraint": "cn-north-1"}
        )
        monkeypatch.setattr(files, "_STORE", [files.S3Store("imports-test")])
        yield files.store()


def test_the_s3_store_presigns_a_put_and_streams_a_csv_from_where_a_page_stopped(s3: Any) -> None:
    upload = files.new_upload("m1")
    assert upload.url.startswith("https://") and "X-Amz-Signature=" in upload.url and not upload.authorized
    key = files.object_key("m1", upload.upload_id)
    assert key == f"imports/m1/{upload.upload_id}" and not s3.exists(key)
    body = "手机号,姓名\n13800138000,张三\n13800138001,李四\n13800138002,王五\n".encode()
    s3.client.put_object(Bucket="imports-test", Key=key, Body=body)  # what the console's PUT does
    assert s3.exists(key)
    columns, encoding, offset = files.csv_header(key)
    assert (columns, encoding) == (["手机号", "姓名"], "utf-8")
    first = next(files.csv_rows(key, encoding, 1, offset))
    # A later run starts from the saved offset with a ranged GET: the rows after it, numbered on.
    rest = list(files.csv_rows(key, encoding, 2, first.next_offset))
    assert [(r.number, r.cells) for r in rest] == [(2, ["13800138001", "李四"]), (3, ["13800138002", "王五"])]
    assert files.fingerprint(key)[1] == "csv"


def test_the_presigned_put_writes_an_upload_once(s3: Any) -> None:
    """The run reads the file again: a second PUT to the URL (valid an hour) must not replace the checked file.
    S3 requires a signed header as signed (moto does not check signatures, so the URL is read for it)."""
    import requests

    upload = files.new_upload("m1")
    assert "if-none-match" in upload.url.split("X-Amz-SignedHeaders=")[1].split("&")[0].split("%3B")
    first = requests.put(upload.url, data=b"a,b\n", headers=upload.headers, timeout=5)
    again = requests.put(upload.url, data=b"c,d\n", headers=upload.headers, timeout=5)
    assert (first.status_code, again.status_code) == (200, 412)
    assert s3.client.get_object(Bucket="imports-test", Key=files.stored_key("m1", upload.upload_id))["Body"].read() == (
        b"a,b\n"
    )


def test_an_upload_id_that_is_not_ours_never_reaches_a_path() -> None:
    from mini_program_api.platform.errors import KabaoError

    for bad in ("../../etc/passwd", "U" + "0" * 31, "u" + "0" * 32, ""):
        with pytest.raises(KabaoError):
            files.object_key("m1", bad)


def test_a_quoted_field_may_hold_a_line_break(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "_STORE", [files.LocalStore(tmp_path)])
    files.store().save("imports/m/x", '手机号,姓名\n13800138000,"张\n三"\n13800138001,李四\n'.encode())
    _, encoding, offset = files.csv_header("imports/m/x")
    assert [r.cells for r in files.csv_rows("imports/m/x", encoding, 1, offset)] == [
        ["13800138000", "张\n三"],
        ["13800138001", "李四"],
    ]


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2024-03-01", "2024-03-01"),
        ("2024/3/1", "2024-03-01"),
        ("2024.03.01", "2024-03-01"),
        ("20240301", "2024-03-01"),
        ("2024年3月1日", "2024-03-01"),
        (date(2024, 3, 1), "2024-03-01"),
    ],
)
def test_dates_in_the_forms_spreadsheets_hold(text: Any, day: str) -> None:
    row, problems = rows.parse(1, ["phone", "birthday"], ["13800138000", text], frozenset(), {}, TODAY)
    assert problems == [] and row is not None and row.birthday == day


@pytest.mark.parametrize("text", ["01/03/2024", "3/1/2024", "2024-02-30", "1899-12-31", "yesterday"])
def test_ambiguous_or_impossible_dates_are_refused(text: str) -> None:
    row, problems = rows.parse(1, ["phone", "birthday"], ["13800138000", text], frozenset(), {}, TODAY)
    assert row is None and [(p.column, p.code) for p in problems] == [("birthday", "BAD_DATE")]


@pytest.mark.parametrize(
    ("cell", "fen", "code"),
    [
        ("12.34", 1234, None),
        (12.3, 1230, None),
        ("1,000", 100000, None),
        ("0.001", 0, "FRACTIONAL_AMOUNT"),
        ("-1", 0, "NEGATIVE_AMOUNT"),
        ("1e40", 0, "AMOUNT_TOO_LARGE"),
        ("NaN", 0, "BAD_NUMBER"),
        ("abc", 0, "BAD_NUMBER"),
        ("=A1*2", 0, "FORMULA_NOT_ALLOWED"),
    ],
)
def test_money_is_yuan_with_at_most_two_decimals(cell: Any, fen: int, code: str | None) -> None:
    row, problems = rows.parse(1, ["phone", "principal"], ["13800138000", cell], frozenset(), {}, TODAY)
    assert [p.code for p in problems] == ([code] if code else [])
    assert (row.principal if row else 0) == fen


@pytest.mark.parametrize(
    ("cell", "ok"),
    [
        ("13800138000", True),
        (13800138000.0, True),
        ("+86 138-0013-8000", True),
        ("8613800138000", True),
        ("12800138000", False),
        ("1380013800", False),
        ("phone", False),
        # Full-width digits (an IME's full-width mode) are the same phone, ASCII once read; other scripts' digits
        # are no mainland number (`\d` took both, and the member was created under a phone no login matches).
        ("１３８００１３８０００", True),
        ("13８００１３８０００", True),
        ("13٨٠٠١٣٨٠٠٠", False),
    ],
)
def test_phones(cell: Any, ok: bool) -> None:
    row, problems = rows.parse(1, ["phone"], [cell], frozenset(), {}, TODAY)
    if ok:
        assert row is not None and row.phone == "13800138000"
    else:
        assert row is None and [p.code for p in problems] == ["BAD_PHONE"]


@pytest.mark.parametrize(("cell", "number"), [("１２３４５６７８", "12345678"), ("123٤٥٦٧٨", None)])
def test_card_numbers_are_ascii_digits(cell: str, number: str | None) -> None:
    row, problems = rows.parse(1, ["phone", "card_number"], ["13800138000", cell], frozenset(), {}, TODAY)
    if number:
        assert row is not None and row.card_number == number
    else:
        assert row is None and [p.code for p in problems] == ["BAD_CARD_NUMBER"]
