"""Password hashing: scrypt at N=2^17 in production, older hashes upgraded at the next right password.

The suite runs at N=2^14 for speed (tests/conftest.py); `factor` moves this process to another
setting, so the first test here pays for real 2^17 hashes, as production does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mini_program_api.db.staff import StaffAccount, staff_pk
from mini_program_api.platform import passwords
from mini_program_api.platform.config import settings

PASSWORD = "correct horse battery"


@pytest.fixture
def factor(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], None]]:
    """Set KABAO_SCRYPT_LOG2N for the rest of the test, as a new container would read it."""

    def use(log2n: int) -> None:
        monkeypatch.setenv("KABAO_SCRYPT_LOG2N", str(log2n))
        settings.cache_clear()

    yield use
    monkeypatch.undo()
    settings.cache_clear()


def _account(api: Any, merchant: Any) -> str:
    admin = api.admin_token(merchant)
    assert api.post("/v1/admin/stores", {"store_id": "s1", "name": "s1"}, token=admin)[0] in (201, 409)
    username = f"amy-{uuid.uuid4().hex[:6]}"
    status, body = api.post(
        "/v1/admin/staff", {"username": username, "password": PASSWORD, "role": "staff", "store_id": "s1"}, token=admin
    )
    assert status == 201, body
    return username


def _login(api: Any, merchant: Any, username: str, password: str = PASSWORD) -> tuple[int, Any]:
    return api.post(
        "/v1/staff/login", {"merchant_id": merchant.merchant_id, "username": username, "password": password}
    )


def _hash(merchant: Any, username: str) -> str:
    return str(StaffAccount.get(staff_pk(merchant.merchant_id), username, consistent_read=True).password_hash)


def test_a_2_14_hash_is_upgraded_to_2_17_at_the_next_right_login(
    api: Any, merchant: Any, factor: Callable[[int], None]
) -> None:
    username = _account(api, merchant)
    old = _hash(merchant, username)
    assert old.startswith("scrypt$16384$8$1$")
    factor(17)
    status, body = _login(api, merchant, username, "wrong password!")
    assert (status, body["error"]["code"]) == (401, "INVALID_CREDENTIALS")
    assert _hash(merchant, username) == old  # a wrong password upgrades nothing
    assert _login(api, merchant, username)[0] == 200
    upgraded = _hash(merchant, username)
    assert upgraded.startswith("scrypt$131072$8$1$") and PASSWORD not in upgraded
    assert _login(api, merchant, username)[0] == 200  # verifies at 2^17 (128 MiB: within maxmem)
    assert _hash(merchant, username) == upgraded  # upgraded once, not at every login
    account = StaffAccount.get(staff_pk(merchant.merchant_id), username, consistent_read=True)
    assert not account.failed_logins and account.locked_until is None  # the failure before was reset


def test_concurrent_logins_upgrade_once_and_all_get_in(api: Any, merchant: Any) -> None:
    username = _account(api, merchant)
    legacy = passwords.hash_password(PASSWORD, log2n=10)
    StaffAccount(staff_pk(merchant.merchant_id), username).update(actions=[StaffAccount.password_hash.set(legacy)])
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: _login(api, merchant, username)[0], range(4)))
    assert statuses == [200] * 4
    stored = _hash(merchant, username)
    assert stored.startswith("scrypt$16384$") and passwords.check_password(PASSWORD, stored)


def test_a_password_changed_meanwhile_is_not_overwritten_by_the_upgrade(api: Any, merchant: Any) -> None:
    username = _account(api, merchant)
    legacy = passwords.hash_password(PASSWORD, log2n=10)
    account = StaffAccount.get(staff_pk(merchant.merchant_id), username)
    account.update(actions=[StaffAccount.password_hash.set(legacy)])
    changed = passwords.hash_password("a new password, set by the admin")
    StaffAccount(staff_pk(merchant.merchant_id), username).update(actions=[StaffAccount.password_hash.set(changed)])
    passwords.accept(account, "password_hash", PASSWORD, legacy, [StaffAccount.failed_logins.set(0)])
    assert _hash(merchant, username) == changed


def test_production_never_goes_below_2_17(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings().scrypt_log2n == 14 and passwords.work_factor() == 14  # the suite's own, lowered setting
    prod = settings()._replace(stage="prod", scrypt_log2n=10)
    monkeypatch.setattr(passwords, "settings", lambda: prod)
    assert passwords.work_factor() == 17
    assert passwords.needs_rehash(passwords.hash_password("x", log2n=14))
    assert not passwords.needs_rehash(passwords.hash_password("x", log2n=17))


def test_a_stored_hash_asking_for_absurd_memory_is_refused_not_attempted() -> None:
    _, _, r, p, salt, digest = passwords.hash_password("x", log2n=4).split("$")
    with pytest.raises(ValueError):
        passwords.check_password("x", "$".join(["scrypt", str(2**24), r, p, salt, digest]))


def test_a_spending_password_change_upgrades_the_old_hash_and_still_applies(api: Any, merchant: Any) -> None:
    """The change checks the old password (which upgrades its hash) and then writes on the condition of
    the hash it read: the upgrade must not make the change look like a concurrent one."""
    from mini_program_api.db.models import member_pk
    from mini_program_api.db.spending import SpendingPassword

    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    member = api.member_with_card(merchant, phone)
    status, body = api.post(
        "/v1/me/spending-password", {"phone_code": f"phone:{phone}:p1", "password": "482916"}, token=member["token"]
    )
    assert status == 200, body
    key = (member_pk(merchant.merchant_id, member["member"]["member_id"]), "SPENDPWD")
    SpendingPassword(*key).update(
        actions=[SpendingPassword.password_hash.set(passwords.hash_password("482916", log2n=10))]
    )
    status, body = api.post(
        "/v1/me/spending-password/change", {"old_password": "482916", "password": "730158"}, token=member["token"]
    )
    assert status == 200, body
    stored = str(SpendingPassword.get(*key, consistent_read=True).password_hash)
    assert stored.startswith("scrypt$16384$") and passwords.check_password("730158", stored)


def test_an_unknown_username_costs_the_same_hash_as_a_known_one(
    api: Any, merchant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timing-equal refusal: the dummy check runs scrypt with the parameters real hashes have."""
    username = _account(api, merchant)
    real_scrypt, seen = passwords.hashlib.scrypt, []

    def spy(*args: Any, **kwargs: Any) -> bytes:
        seen.append((kwargs["n"], kwargs["r"], kwargs["p"]))
        return real_scrypt(*args, **kwargs)

    monkeypatch.setattr(passwords.hashlib, "scrypt", spy)
    assert _login(api, merchant, f"nobody-{uuid.uuid4().hex[:6]}")[1]["error"]["code"] == "INVALID_CREDENTIALS"
    unknown, seen[:] = set(seen), []
    assert _login(api, merchant, username, "wrong password!")[1]["error"]["code"] == "INVALID_CREDENTIALS"
    assert unknown == set(seen) == {(2 ** passwords.work_factor(), 8, 1)}
