"""One row of a member import: its columns, read and checked; every problem named by column and code.

Pure rules (no database): the dry run and the run read every row through `parse`, so what the dry run says
is what the run does. Money in the file is in yuan (元, what the merchant's old system exports) with at most
two decimals, turned into integer fen here; points and growth are whole numbers. Dates are read in the forms
Chinese spreadsheets hold (2024-03-01, 2024/3/1, 2024.3.1, 20240301, 2024年3月1日, a spreadsheet date);
day-first and month-first forms (01/03/2024) are ambiguous and refused.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from mini_program_api.member_care import tags as tag_rules

# Our column -> the headers it is known by (lower case; Chinese first as merchants write them).
COLUMNS: dict[str, tuple[str, ...]] = {
    "phone": ("手机号", "手机", "手机号码", "phone", "mobile"),
    "name": ("姓名", "会员姓名", "name"),
    "birthday": ("生日", "出生日期", "birthday"),
    "external_id": ("外部会员号", "会员编号", "原会员号", "external_id", "external member id"),
    "card_number": ("卡号", "会员卡号", "card_number", "card number"),
    "tier": ("等级", "会员等级", "tier"),
    "growth": ("成长值", "growth"),
    "points": ("积分", "points"),
    "points_expire_on": ("积分有效期", "积分过期日", "points_expire_on", "points expiry"),
    "principal": ("本金", "储值本金", "principal"),
    "bonus": ("赠送金", "赠送余额", "bonus"),
    "tags": ("标签", "tags"),
    "joined_on": ("入会日期", "开卡日期", "joined_on", "joined"),
}
_HEADER = {alias: column for column, aliases in COLUMNS.items() for alias in aliases}
MAX_YUAN = Decimal(1_000_000)  # as the API's _Fen: DynamoDB holds 38 digits, a member nowhere near this
MAX_POINTS = 10**9
MAX_TEXT = 64
MAX_TAGS = 20
MAX_TAG = tag_rules.MAX_NAME
# ASCII digits: `\d` takes any script's, and a phone or card number in them is a key no login or scan matches.
_PHONE = re.compile(r"^1[3-9][0-9]{9}$")
_CARD = re.compile(r"^[0-9]{6,20}$")
_DATE_FORMS = (
    re.compile(r"^([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})$"),
    re.compile(r"^([0-9]{4})([0-9]{2})([0-9]{2})$"),
    re.compile(r"^([0-9]{4})年([0-9]{1,2})月([0-9]{1,2})日?$"),
)
_FORMULA_START = ("=", "+", "@")  # "-" too, but only where a number is not expected: see _text
_TAG_SPLIT = re.compile(r"[,，;；|、]")


@dataclass(frozen=True)
class Problem:
    column: str  # our column name, or "row" / "header"
    code: str
    message: str

    def stored(self) -> dict[str, str]:
        return {"column": self.column, "code": self.code, "message": self.message}


@dataclass
class Row:
    """A row that passed: what the import would write."""

    number: int
    phone: str
    name: str | None = None
    birthday: str | None = None
    external_id: str | None = None
    card_number: str | None = None
    tier_id: str | None = None
    growth: int = 0
    points: int = 0
    points_expire_on: str | None = None
    principal: int = 0  # fen
    bonus: int = 0  # fen
    tags: list[str] = field(default_factory=list)
    joined_on: str | None = None


def header(cells: list[str]) -> tuple[list[str], list[Problem]]:
    """Map the file's header to our columns: every column known and once, `phone` present."""
    mapped: list[str] = []
    problems: list[Problem] = []
    for cell in cells:
        name = re.sub(r"[（(].*[)）]$", "", str(cell).strip().lstrip("\ufeff")).strip().lower()  # 本金(元) is 本金
        column = _HEADER.get(name)
        if column is None:
            problems.append(Problem(str(cell)[:MAX_TEXT], "UNKNOWN_COLUMN", f"unknown column {str(cell)[:MAX_TEXT]!r}"))
            mapped.append("")
        elif column in mapped:
            problems.append(Problem(column, "DUPLICATE_COLUMN", f"column {column} appears twice"))
            mapped.append("")
        else:
            mapped.append(column)
    if "phone" not in mapped:
        problems.append(Problem("phone", "MISSING_COLUMN", "the phone column (手机号) is required"))
    return mapped, problems


def parse(
    number: int, columns: list[str], cells: list[Any], formulas: frozenset[int], tiers: dict[str, str], today: date
) -> tuple[Row | None, list[Problem]]:
    """A data row: (the row, []) or (None, every problem in it). `tiers`: tier id or name (lower) -> tier id."""
    problems: list[Problem] = []
    if len(cells) > len(columns) and any(_blank(c) is not None for c in cells[len(columns) :]):
        problems.append(Problem("row", "EXTRA_CELLS", f"{len(cells)} cells for {len(columns)} columns"))
    values: dict[str, Any] = {}
    for index, column in enumerate(columns):
        if not column:
            continue
        value = cells[index] if index < len(cells) else None
        if index in formulas:
            problems.append(Problem(column, "FORMULA_NOT_ALLOWED", "a formula: put the value in the cell"))
            continue
        values[column] = _blank(value)
    if problems and any(p.code == "FORMULA_NOT_ALLOWED" for p in problems):
        return None, problems
    row = Row(number, phone="")
    phone = _phone(values.get("phone"))
    if phone is None:
        code = "MISSING_PHONE" if values.get("phone") is None else "BAD_PHONE"
        problems.append(Problem("phone", code, "a mainland mobile number of 11 digits"))
    else:
        row.phone = phone
    for column in ("name", "external_id"):
        text = _text(column, values.get(column), problems)
        setattr(row, column, text)
    card = _text("card_number", values.get("card_number"), problems)
    card = unicodedata.normalize("NFKC", card) if card is not None else None
    if card is not None and not _CARD.match(card):
        problems.append(Problem("card_number", "BAD_CARD_NUMBER", "6 to 20 digits"))
    else:
        row.card_number = card
    tier = _text("tier", values.get("tier"), problems)
    if tier is not None:
        row.tier_id = tiers.get(tier) or tiers.get(tier.lower())
        if row.tier_id is None:
            problems.append(Problem("tier", "UNKNOWN_TIER", f"no tier {tier!r}: use a tier's id or name"))
    row.growth = _whole("growth", values.get("growth"), problems)
    row.points = _whole("points", values.get("points"), problems)
    row.principal = _fen("principal", values.get("principal"), problems)
    row.bonus = _fen("bonus", values.get("bonus"), problems)
    row.birthday = _date("birthday", values.get("birthday"), problems, latest=today)
    row.joined_on = _date("joined_on", values.get("joined_on"), problems, latest=today)
    row.points_expire_on = _date("points_expire_on", values.get("points_expire_on"), problems, earliest=today)
    if row.points_expire_on and not row.points:
        problems.append(Problem("points_expire_on", "EXPIRY_WITHOUT_POINTS", "an expiry date for no points"))
    tags = _text("tags", values.get("tags"), problems, limit=MAX_TAGS * (MAX_TAG + 1))
    if tags:
        # Each as the merchant's tag will keep it (member_care/tags.py `clean_name`): the run makes them tags.
        cleaned = [tag_rules.clean_name(t) for t in _TAG_SPLIT.split(tags) if t.strip()]
        row.tags = list(dict.fromkeys(t for t in cleaned if t))
        if len(row.tags) > MAX_TAGS or None in cleaned:
            problems.append(Problem("tags", "BAD_TAGS", f"at most {MAX_TAGS} tags of {MAX_TAG} characters"))
    return (None, problems) if problems else (row, [])


def _blank(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    return value


def _phone(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():  # a spreadsheet number: 13800138000.0
        value = int(value)
    # NFKC: full-width digits (an IME's full-width mode) are the same number in ASCII.
    digits = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", str(value)))
    digits = re.sub(r"^(\+?86)(?=1[0-9]{10}$)", "", digits)
    return digits if _PHONE.match(digits) else None


def _text(column: str, value: Any, problems: list[Problem], limit: int = MAX_TEXT) -> str | None:
    """A text cell; one that a spreadsheet would run as a formula is refused (exports escape, imports refuse)."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if text.startswith(_FORMULA_START) or (text.startswith("-") and column in ("name", "tags", "external_id")):
        problems.append(Problem(column, "FORMULA_NOT_ALLOWED", "a cell starting with = + - @ would run as a formula"))
        return None
    if len(text) > limit:
        problems.append(Problem(column, "TEXT_TOO_LONG", f"at most {limit} characters"))
        return None
    return text


def _number(column: str, value: Any, problems: list[Problem]) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        problems.append(Problem(column, "BAD_NUMBER", "a number"))
        return None
    text = str(value).strip().replace(",", "")
    if text.startswith(_FORMULA_START):
        problems.append(Problem(column, "FORMULA_NOT_ALLOWED", "a formula: put the value in the cell"))
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        problems.append(Problem(column, "BAD_NUMBER", f"{text[:20]!r} is not a number"))
        return None
    if not number.is_finite() or not -20 <= number.adjusted() <= 40:
        # An exponent far out (9e999999999) overflows Decimal's context when made fen (decimal.Overflow, a 500
        # and a check stuck on the row), or underflows to 0 without a word (1e-999999999).
        problems.append(Problem(column, "BAD_NUMBER", "a number"))
        return None
    if number < 0:
        problems.append(Problem(column, "NEGATIVE_AMOUNT", "opening balances are never negative"))
        return None
    return number


def _whole(column: str, value: Any, problems: list[Problem]) -> int:
    number = _number(column, value, problems)
    if number is None:
        return 0
    if number != number.to_integral_value():
        problems.append(Problem(column, "FRACTIONAL_AMOUNT", "a whole number"))
        return 0
    if number > MAX_POINTS:
        problems.append(Problem(column, "AMOUNT_TOO_LARGE", f"at most {MAX_POINTS}"))
        return 0
    return int(number)


def _fen(column: str, value: Any, problems: list[Problem]) -> int:
    """Yuan with at most two decimals, as fen; a float from a spreadsheet is read by its shortest repr."""
    if isinstance(value, float):
        value = repr(value)
    number = _number(column, value, problems)
    if number is None:
        return 0
    fen = number * 100
    if fen != fen.to_integral_value():
        problems.append(Problem(column, "FRACTIONAL_AMOUNT", "yuan with at most two decimals (whole fen)"))
        return 0
    if number > MAX_YUAN:
        problems.append(Problem(column, "AMOUNT_TOO_LARGE", f"at most {MAX_YUAN} yuan"))
        return 0
    return int(fen)


def _date(
    column: str, value: Any, problems: list[Problem], latest: date | None = None, earliest: date | None = None
) -> str | None:
    if value is None:
        return None
    day: date | None = None
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    else:
        text = str(value).strip()
        for form in _DATE_FORMS:
            match = form.match(text)
            if match:
                try:
                    day = date(int(match[1]), int(match[2]), int(match[3]))
                except ValueError:
                    day = None
                break
        if day is None:
            problems.append(Problem(column, "BAD_DATE", f"{text[:20]!r}: write the year first, e.g. 2024-03-01"))
            return None
    if day.year < 1900 or (latest is not None and day > latest) or (earliest is not None and day <= earliest):
        bound = "in the future" if latest is not None and day > latest else "out of range"
        problems.append(Problem(column, "BAD_DATE", f"{day.isoformat()} is {bound}"))
        return None
    return day.isoformat()
