"""Issue 23 item 7: digits are ASCII 0-9. `\\d` (Python's re and pydantic's patterns alike) takes any script's digits,
so `٠١٢٣٤٥` or `０１２３４５` passed as a spending password, and skipped the "not a run like 123456" rule."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from mini_program_api.platform.errors import KabaoError
from mini_program_api.till import spending_password

ROOT = Path(__file__).resolve().parents[2]
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
TWINS = (ARABIC_INDIC, FULLWIDTH)
PIN = "482916"


def _member(api: Any, merchant: Any) -> tuple[dict[str, Any], str]:
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    return api.member_with_card(merchant, phone), phone


def _phone_code(phone: str) -> str:
    return f"phone:{phone}:{uuid.uuid4().hex[:6]}"


def test_a_spending_password_is_six_ascii_digits(api: Any, make_merchant: Any) -> None:
    merchant = make_merchant()
    m, phone = _member(api, merchant)
    url = "/v1/me/spending-password"
    for pin in (
        "012345".translate(ARABIC_INDIC),
        "012345".translate(FULLWIDTH),
        PIN.translate(ARABIC_INDIC),
        PIN[:5] + "６",
    ):
        status, body = api.post(url, {"phone_code": _phone_code(phone), "password": pin}, token=m["token"])
        assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), (pin, body)
        assert pin not in str(body)  # never echoed
        with pytest.raises(KabaoError):
            spending_password.check_new(pin)
    assert api.get(url, token=m["token"])[1]["is_set"] is False
    assert api.post(url, {"phone_code": _phone_code(phone), "password": PIN}, token=m["token"])[0] == 200
    # The right password in another script is not the password: refused as input, not counted as a guess.
    for twin in TWINS:
        body = {"old_password": PIN.translate(twin), "password": "730158"}
        assert api.post(f"{url}/change", body, token=m["token"])[0] == 400
        body = {"free_limit": 1000, "password": PIN.translate(twin)}
        assert api.put(f"{url}/free-limit", body, token=m["token"])[0] == 400
    item = spending_password._item(merchant.merchant_id, m["member"]["member_id"])
    assert int(item.failed_attempts) == 0


def test_a_member_code_and_the_digits_staff_type_are_ascii(api: Any, make_merchant: Any) -> None:
    merchant = make_merchant()
    m, phone = _member(api, merchant)
    cashier, admin = api.staff_token(merchant), api.admin_token(merchant)
    code, card_number = api.member_code(m["token"]), m["member"]["card"]["number"]
    for twin in TWINS:
        status, body = api.post(
            "/v1/staff/checkout",
            {"member_code": code.translate(twin), "amount": 100},
            token=cashier,
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), body
        status, body = api.get(f"/v1/staff/member?member_code={quote(code.translate(twin))}", token=cashier)
        assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), body
        for key, value in (("member_code", code), ("phone", phone), ("card_number", card_number)):
            status, body = api.get(f"/v1/admin/members?{key}={quote(value.translate(twin))}", token=admin)
            assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), (key, body)
    assert api.get(f"/v1/staff/member?member_code={code}", token=cashier)[0] == 200  # the code itself still works


def test_dates_and_times_of_day_are_ascii_digits(api: Any, make_merchant: Any) -> None:
    merchant = make_merchant()
    session = api.login(merchant)
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    assert api.post("/v1/me/phone", {"code": _phone_code(phone)}, token=session["token"])[0] == 200
    admin = api.admin_token(merchant)
    for twin in TWINS:
        status, body = api.post(
            "/v1/me/card",
            {"agreed_terms_version": merchant.terms_version, "birthday": "1990-05-17".translate(twin)},
            token=session["token"],
        )
        assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), body
        status, body = api.get(f"/v1/admin/audit?day={quote('2026-01-01'.translate(twin))}", token=admin)
        assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), body


def test_no_digit_rule_in_the_product_takes_other_scripts() -> None:
    """`\\d`, isdigit(), isdecimal() and isnumeric() all take other scripts' digits: the product spells 0-9."""
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "mini_program_api").rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\\d|\.is(digit|decimal|numeric)\(", line.split("#")[0])
    ]
    assert found == []
