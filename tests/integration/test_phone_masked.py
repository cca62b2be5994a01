"""The masked copy of a member's number (`Member.phone_masked`): written with the cipher by every bind, shown by
every view without decrypting (a cold container's first request loads no Fernet, no key: test_cold_start.py), and
for a row bound before the copy existed, shown by decrypting as before."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from mini_program_api.db.models import PROFILE, Member, member_pk
from mini_program_api.platform import pii


def _number() -> str:
    return f"139{uuid.uuid4().int % 10**8:08d}"


def _masked(number: str) -> str:
    return number[:3] + "****" + number[-4:]


def _bind(api: Any, token: str, number: str) -> tuple[int, Any]:
    return api.post("/v1/me/phone", {"code": f"phone:{number}:{uuid.uuid4().hex[:6]}"}, token=token)


def _row(merchant: Any, member_id: str) -> Member:
    return Member.get(member_pk(merchant.merchant_id, member_id), PROFILE, consistent_read=True)


def _shown(api: Any, merchant: Any, member: dict[str, Any], number: str) -> dict[str, Any]:
    """The number as each view shows it: the member's own, the admin's view, search and list, the till's scan."""
    member_id, admin = member["member"]["member_id"], api.admin_token(merchant)
    staff = api.staff_token(merchant)
    return {
        "me": api.ok("GET", "/v1/me", token=member["token"])["phone"],
        "admin": api.ok("GET", f"/v1/admin/members/{member_id}", token=admin)["phone"],
        "search": api.ok("GET", f"/v1/admin/members?phone={number}", token=admin)["members"][0]["phone"],
        "till": api.ok("GET", f"/v1/staff/member?member_code={api.member_code(member['token'])}", token=staff)["phone"],
    }


def _no_decryption(monkeypatch: Any) -> None:
    def refused(token: str) -> str:
        raise AssertionError("a view decrypted the phone")

    monkeypatch.setattr(pii, "decrypt_phone", refused)


def test_every_view_shows_the_stored_copy_without_decrypting(api: Any, merchant: Any, monkeypatch: Any) -> None:
    number = _number()
    member = api.member_with_card(merchant, phone=number)
    row = _row(merchant, member["member"]["member_id"])
    assert row.phone_masked == _masked(number) and row.phone_enc and number not in row.phone_enc
    _no_decryption(monkeypatch)
    shown = _shown(api, merchant, member, number)
    assert shown == dict.fromkeys(shown, _masked(number)), shown


def test_a_row_bound_before_the_copy_still_shows_its_masked_number_and_a_bind_writes_it(
    api: Any, merchant: Any, monkeypatch: Any
) -> None:
    number = _number()
    member = api.member_with_card(merchant, phone=number)
    member_id = member["member"]["member_id"]
    Member(member_pk(merchant.merchant_id, member_id), PROFILE).update(actions=[Member.phone_masked.remove()])
    shown = _shown(api, merchant, member, number)  # decrypted, as before the copy existed
    assert shown == dict.fromkeys(shown, _masked(number)), shown
    # The same number bound again (the member confirms it): the copy is written, and views stop decrypting.
    status, me = _bind(api, member["token"], number)
    assert status == 200 and me["phone"] == _masked(number)
    assert _row(merchant, member_id).phone_masked == _masked(number)
    _no_decryption(monkeypatch)
    assert api.ok("GET", "/v1/me", token=member["token"])["phone"] == _masked(number)


def test_changing_the_number_changes_the_copy(api: Any, merchant: Any, monkeypatch: Any) -> None:
    first, second = _number(), _number()
    member = api.member_with_card(merchant, phone=first)
    status, me = _bind(api, member["token"], second)
    assert status == 200 and me["phone"] == _masked(second)
    row = _row(merchant, member["member"]["member_id"])
    assert row.phone_masked == _masked(second) and pii.decrypt_phone(str(row.phone_enc)) == second
    _no_decryption(monkeypatch)
    assert api.ok("GET", "/v1/me", token=member["token"])["phone"] == _masked(second)


@pytest.mark.parametrize("number", ["12345", "123456"])
def test_a_number_shorter_than_seven_is_stored_and_shown_as_four_stars(api: Any, merchant: Any, number: str) -> None:
    session = api.login(merchant)
    status, me = _bind(api, session["token"], number)
    assert status == 200 and me["phone"] == "****", me
    assert _row(merchant, session["member"]["member_id"]).phone_masked == "****"
