"""WeChat Pay notifies checked by wechat/pay_notify.py (cryptography alone, no WeChat Pay client) on the local stack.

The sandbox pays an order and hands back the notify it would send, signed with its platform certificate (the
default merchant) or the WeChat Pay public key; the test posts it to the app, as sent or with a header changed.
Certificates are fetched from the sandbox's `GET /v3/certificates`, signed with the merchant's API key.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from mini_program_api.db.topups import TopupOrder, topup_pk
from mini_program_api.platform.config import settings
from mini_program_api.wechat import pay_notify


@pytest.fixture
def member(api: Any, merchant: Any) -> dict[str, Any]:
    return api.member_with_card(merchant)


def _notify(api: Any, member: dict[str, Any], sandbox: Any) -> tuple[str, str, str, dict[str, str]]:
    status, order = api.post(
        "/v1/topup/orders", {"plan_id": "p300"}, token=member["token"], headers={"idempotency-key": uuid.uuid4().hex}
    )
    assert status == 200, order
    url, body, headers = sandbox.pay.signed_notify(order["order_id"])
    return order["order_id"], url.removeprefix(settings().public_url), body, headers


def _status(merchant: Any, order_id: str) -> str:
    return TopupOrder.get(topup_pk(merchant.merchant_id, order_id), "ORDER", consistent_read=True).status


def test_a_platform_certificate_notify_is_credited_once_its_serial_in_any_case(
    api: Any, member: dict[str, Any], merchant: Any, sandbox: Any
) -> None:
    order_id, path, body, headers = _notify(api, member, sandbox)
    assert headers["Wechatpay-Serial"] == sandbox.pay.keys.platform.serial  # signed with the platform certificate
    lowered = {**headers, "Wechatpay-Serial": headers["Wechatpay-Serial"].lower()}
    status, answer = api.call("POST", path, headers=lowered, raw=body.encode())
    assert status == 204, answer
    assert _status(merchant, order_id) == "PAID"


@pytest.mark.parametrize(
    "change",
    [
        {"Wechatpay-Serial": "7A3C0000000000000000000000000000000000"},  # a serial WeChat Pay never issued
        {"Wechatpay-Serial": "not-a-serial"},
        {"Wechatpay-Serial": ""},
        {"Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA4096"},
        {"Wechatpay-Nonce": "another-nonce"},  # part of what was signed
    ],
)
def test_a_notify_not_as_signed_is_refused_and_changes_nothing(
    api: Any, member: dict[str, Any], merchant: Any, sandbox: Any, change: dict[str, str]
) -> None:
    order_id, path, body, headers = _notify(api, member, sandbox)
    status, answer = api.call("POST", path, headers={**headers, **change}, raw=body.encode())
    assert (status, answer["error"]["code"]) == (401, "INVALID_NOTIFY")
    assert _status(merchant, order_id) == "PENDING"
    status, _ = api.call("POST", path, headers=headers, raw=body.encode())  # the real one still goes through
    assert status == 204 and _status(merchant, order_id) == "PAID"


def test_a_public_key_merchants_notify_signed_with_the_platform_certificate_is_refused(
    api: Any, make_merchant: Any, sandbox: Any
) -> None:
    """A merchant moved to the WeChat Pay public key: a notify under its key id verifies with that key only."""
    merchant = make_merchant("public_key")
    member = api.member_with_card(merchant)
    order_id, path, body, headers = _notify(api, member, sandbox)
    assert headers["Wechatpay-Serial"] == sandbox.pay.keys.public_key_id
    signed = sandbox.pay._headers(merchant.pay.mchid, body)  # noqa: SLF001 - the sandbox's own signer
    sandbox_merchant = sandbox.pay.merchants[merchant.pay.mchid]
    sandbox_merchant["sign_with"] = "platform"
    try:
        forged = sandbox.pay._headers(merchant.pay.mchid, body)  # noqa: SLF001
    finally:
        sandbox_merchant["sign_with"] = "public_key"
    status, answer = api.call(
        "POST", path, headers={**forged, "Wechatpay-Serial": headers["Wechatpay-Serial"]}, raw=body.encode()
    )
    assert (status, answer["error"]["code"]) == (401, "INVALID_NOTIFY")
    assert _status(merchant, order_id) == "PENDING"
    status, _ = api.call("POST", path, headers=signed, raw=body.encode())
    assert status == 204 and _status(merchant, order_id) == "PAID"


def test_unknown_serials_fetch_the_certificates_at_most_once_a_minute(
    api: Any, member: dict[str, Any], merchant: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forger sending made-up serials cannot turn every notify into a call to WeChat Pay."""
    fetched: list[str] = []
    fetch = pay_notify._fetch_certificates  # noqa: SLF001

    def counted(config: Any) -> Any:
        fetched.append(config.mchid)
        return fetch(config)

    monkeypatch.setattr(pay_notify, "_fetch_certificates", counted)
    order_id, path, body, headers = _notify(api, member, sandbox)
    for serial in ("7A3C01", "7A3C02", "7A3C03"):
        status, _ = api.call("POST", path, headers={**headers, "Wechatpay-Serial": serial}, raw=body.encode())
        assert status == 401
    assert fetched == [merchant.pay.mchid]  # the first unknown serial fetched them, the next two did not
    status, _ = api.call("POST", path, headers=headers, raw=body.encode())
    assert status == 204 and fetched == [merchant.pay.mchid]  # the real serial was among those fetched


@pytest.mark.parametrize("kind", ["public_key", "certificate"])
def test_the_api_private_key_is_read_only_to_fetch_certificates(
    api: Any, make_merchant: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A notify verifies and decrypts; its merchant's API private key (an SSM read in AWS) signs only the request
    that fetches platform certificates. A public key merchant's notify never reads it; a certificate merchant's
    first notify in a container reads it once, for the fetch, and the next notify (certificates known) does not."""
    from mini_program_api.topup import orders

    monkeypatch.setattr(pay_notify, "_certificates", {})  # a fresh container: no certificate known yet
    monkeypatch.setattr(pay_notify, "_fetched_at", {})
    merchant = make_merchant("public_key") if kind == "public_key" else make_merchant()
    member = api.member_with_card(merchant)
    read: list[str] = []
    resolve = orders.resolve_merchant

    def counted(merchant_id: str, ref: str) -> str:
        read.append(ref)
        return resolve(merchant_id, ref)

    monkeypatch.setattr(orders, "resolve_merchant", counted)
    private_key = merchant.pay.private_key_ref
    for round_ in range(2):
        read.clear()
        order_id, path, body, headers = _notify(api, member, sandbox)
        read.clear()  # ordering the top-up signs its prepay with the key: only the notify's reads count
        status, answer = api.call("POST", path, headers=headers, raw=body.encode())
        assert status == 204, answer
        assert _status(merchant, order_id) == "PAID"
        assert merchant.pay.apiv3_key_ref in read  # the resource was opened with the APIv3 key
        assert read.count(private_key) == (1 if kind == "certificate" and round_ == 0 else 0)
