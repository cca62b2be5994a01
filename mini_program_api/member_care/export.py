"""A member export's rows and files: CSV (UTF-8 with a BOM, which Excel needs to read Chinese) or XLSX (openpyxl).

- Stored value and points are the member row's balances, which equal the sums of the member's ledger entries in
  every transaction (money/ledger.py): the export's columns are those sums.
- Phone numbers are masked (138****0000) unless the admin asked for them when creating the export; that request
  is in the audit trail (member_care/member_jobs.py).
- Text that a spreadsheet would run as a formula (a cell beginning with = + - @, a tab or a carriage return:
  `=cmd|' /C calc'!A0` as a name) is prefixed with a `'`, OWASP's CSV-injection advice, in both formats; numbers
  are written as numbers.
- Control characters other than tab and line breaks (a BEL or vertical tab an imported file brought in a name) are
  left out of every cell: openpyxl refuses them (XLSX allows none), which failed the whole export on every run.

A job writes each page of rows as a CSV part (`part_name`), and the last step joins the parts into the file, so a
page done twice writes the same part again and a long export spans Lambda runs.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import datetime

from mini_program_api.db.models import Member, Merchant
from mini_program_api.members import tiers
from mini_program_api.platform import clock, pii

COLUMNS = (
    ("member_id", "会员ID"),
    ("card_number", "卡号"),
    ("name", "姓名"),
    ("phone", "手机号"),
    ("tier", "等级"),
    ("points", "积分"),
    ("principal", "本金(分)"),
    ("bonus", "赠送金(分)"),
    ("stored_value", "储值余额(分)"),
    ("growth", "成长值"),
    ("tags", "标签"),
    ("frozen", "冻结"),
    ("card_opened_at", "开卡时间"),
    ("last_spend_at", "最近消费"),
)
NUMERIC = frozenset({"points", "principal", "bonus", "stored_value", "growth"})
_RISKY = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")  # what XLSX cannot hold (openpyxl's ILLEGAL_CHARACTERS_RE)
FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
}


def safe_text(value: str) -> str:
    """The text as a cell no spreadsheet runs and XLSX can hold: control characters out, then a leading
    = + - @ tab or CR gets a `'` before it."""
    value = _CONTROL.sub("", value)
    return "'" + value if value.startswith(_RISKY) else value


def row(merchant: Merchant, member: Member, tag_names: dict[str, str], unmasked: bool) -> list[str]:
    """One member's cells, as text (numbers in decimal), in COLUMNS order."""
    if unmasked:  # the admin asked for numbers in clear: only the cipher holds them
        phone = pii.decrypt_phone(member.phone_enc) if member.phone_enc else ""
    else:
        phone = pii.shown_phone(member.phone_enc, member.phone_masked) or ""
    tz = merchant.timezone

    def when(at: datetime | None) -> str:
        return clock.iso(at, tz) if at else ""

    values = {
        "member_id": member.member_id,
        "card_number": member.card_number or "",
        "name": member.name or "",
        "phone": phone,
        "tier": tiers.current(merchant, member.tier_id).name,
        "points": str(int(member.points)),
        "principal": str(int(member.principal)),
        "bonus": str(int(member.bonus)),
        "stored_value": str(int(member.principal) + int(member.bonus)),
        "growth": str(int(member.growth)),
        "tags": "、".join(sorted(tag_names[t] for t in member.tag_ids or () if t in tag_names)),
        "frozen": "是" if member.frozen_at is not None else "",
        "card_opened_at": when(member.card_opened_at),
        "last_spend_at": when(member.last_spend_at),
    }
    return [values[name] if name in NUMERIC else safe_text(values[name]) for name, _ in COLUMNS]


def part(rows: Iterable[list[str]]) -> bytes:
    """One page's rows as a CSV part (no header, no BOM)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def part_name(page: int) -> str:
    return f"part-{page:06d}.csv"


def file_name(job_id: str, fmt: str) -> str:
    return f"members-{job_id}.{FORMATS[fmt][1]}"


def assemble(fmt: str, parts: Iterable[bytes]) -> bytes:
    """The export's file from its parts, in order, under a header row."""
    header = [label for _, label in COLUMNS]
    if fmt == "csv":
        out = io.BytesIO()
        out.write("\ufeff".encode())
        out.write(part([header]))
        for chunk in parts:
            out.write(chunk)
        return out.getvalue()
    from openpyxl import Workbook  # only an XLSX export pays for it

    book = Workbook(write_only=True)
    sheet = book.create_sheet("会员")
    sheet.append(header)
    numeric = [name in NUMERIC for name, _ in COLUMNS]
    for chunk in parts:
        for cells in csv.reader(io.StringIO(chunk.decode("utf-8"), newline="")):
            # Text was made safe in `row` (openpyxl too would take a string beginning with "=" for a formula).
            sheet.append([int(v) if is_num and v else v for v, is_num in zip(cells, numeric, strict=True)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
