"""Issue 23 item 2: one merchant's admin could name another merchant's secrets (`ssm:/kabao/{stage}/...`) in its
wallet set-up, and the Lambda, which may read every merchant's parameters, would resolve them. Refused where a
reference is set (the admin API; onboarding: tests/infra/test_onboard.py) and where it is read, whatever is stored."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from mini_program_api.db.models import Merchant, PaySettings, merchant_pk
from mini_program_api.merchants import merchants
from mini_program_api.platform import clock as product_clock
from mini_program_api.platform import secrets
from mini_program_api.platform.config import settings
from mini_program_api.platform.errors import KabaoError
from mini_program_api.topup import orders
from mini_program_api.wallet import events, setup
from mini_program_api.wallet.models import WalletCard, card_key
from tests.wallet_helpers import card_body


@pytest.fixture
def aws_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wallet set-up as in AWS, where it takes `ssm:` references (local stages take `dev:` only)."""
    prod = settings()._replace(stage="prod")
    monkeypatch.setattr(setup, "settings", lambda: prod)


def test_the_admin_api_refuses_references_outside_the_merchants_own_path(
    api: Any, sandbox: Any, make_merchant: Any, aws_stage: None
) -> None:
    merchant, other = make_merchant(), make_merchant()
    admin, mine, theirs = api.admin_token(merchant), merchant.merchant_id, other.merchant_id
    base = f"/kabao/{settings().stage}/merchants"
    refused = [
        f"ssm:{base}/{theirs}/oa-secret",
        f"ssm:{base}/{mine}/../{theirs}/oa-secret",
        f"ssm:{base}/{mine}/oa-secret/",
        f"ssm:{base}/{mine.upper()}/oa-secret",
        f"ssm:/KABAO/{settings().stage}/merchants/{mine}/oa-secret",
        f"ssm:/kabao/{settings().stage}/jwt-secret",
        f"vault:{base}/{mine}/oa-secret",
        f"dev:oa-secret-{uuid.uuid4().hex[:6]}",  # a dev: value, outside local stages
    ]
    calls = len(sandbox.card.calls)
    for field in ("oa_secret_ref", "event_token_ref", "aes_key_ref"):
        for ref in refused:
            own = {"oa_secret_ref": f"ssm:{base}/{mine}/oa-secret", "event_token_ref": f"ssm:{base}/{mine}/event-token"}
            body = card_body(f"wxoa{uuid.uuid4().hex[:10]}", "s", "t", **{**own, field: ref})
            status, answer = api.put("/v1/admin/wallet/card", body, token=admin)
            assert (status, answer["error"]["code"]) == (400, "INVALID_SECRET_REF"), (field, ref, answer)
            assert field in answer["error"]["message"]
    assert api.get("/v1/admin/wallet/card", token=admin)[1]["error"]["code"] == "WALLET_NOT_CONFIGURED"
    assert len(sandbox.card.calls) == calls  # nothing pushed, nothing resolved


def test_a_stored_reference_to_another_merchants_secret_is_never_resolved(make_merchant: Any, stack: Any) -> None:
    """Rows written before the rule (or past it) name another merchant's parameters: every read refuses them. The
    extension's stand-in holds every merchant's parameters, as the Lambda's role may read them all."""
    merchant, other = make_merchant(), make_merchant()
    theirs = f"ssm:{secrets.merchant_prefix(other.merchant_id)}"
    pay = PaySettings(
        mchid="1900000001",
        cert_serial_no="ABC",
        private_key_ref=f"{theirs}private-key",
        apiv3_key_ref=f"{theirs}apiv3-key",
    )
    Merchant(merchant_pk(merchant.merchant_id), "PROFILE").update(
        actions=[Merchant.app_secret_ref.set(f"{theirs}app-secret"), Merchant.pay.set(pay)]
    )
    WalletCard(
        *card_key(merchant.merchant_id),
        merchant_id=merchant.merchant_id,
        **card_body(
            "wxoa0123456789", "s", "t", oa_secret_ref=f"{theirs}oa-secret", event_token_ref=f"{theirs}event-token"
        ),
        updated_at=product_clock.now(),
    ).save()
    for name in ("app-secret", "private-key", "apiv3-key", "oa-secret", "event-token"):
        for owner in (merchant, other):
            stack.parameters.put(f"{secrets.merchant_prefix(owner.merchant_id)}{name}", f"{owner.merchant_id}-{name}")
    reads = len(stack.parameters.reads)
    stored = merchants.read(merchant.merchant_id)
    card = setup.get(merchant.merchant_id)
    with pytest.raises(KabaoError, match="cannot be called"):  # WECHAT_UNAVAILABLE, not a 500
        merchants.mini_program(stored)
    with pytest.raises(KabaoError, match="not usable"):  # PAYMENT_NOT_CONFIGURED, not a 500
        orders.pay_api(stored)
    with pytest.raises(secrets.SecretError):
        setup.client(card)
    with pytest.raises(KabaoError, match="not usable"):  # WALLET_NOT_CONFIGURED, not a 500
        events.verify_url(merchant.merchant_id, events.Push("sig", "1", "nonce"), "echo")
    assert stack.parameters.reads[reads:] == []
    # The merchant's own parameters still resolve.
    mine = f"ssm:{secrets.merchant_prefix(merchant.merchant_id)}oa-secret"
    assert secrets.resolve_merchant(merchant.merchant_id, mine) == f"{merchant.merchant_id}-oa-secret"
    assert stack.parameters.reads[reads:] == [mine.removeprefix("ssm:")]


def test_a_stored_foreign_reference_is_refused_as_not_configured_over_http(
    api: Any, stack: Any, make_merchant: Any, sandbox: Any
) -> None:
    """Refusing a stored foreign reference must not be a 500: the card-event URL is open to anyone, and a top-up
    is a member's everyday call. Each answers the code its route declares for a set-up the merchant must fix."""
    import requests

    merchant, other = make_merchant(), make_merchant()
    theirs = f"ssm:{secrets.merchant_prefix(other.merchant_id)}"
    pay = PaySettings(
        mchid="1900000001",
        cert_serial_no="ABC",
        private_key_ref=f"{theirs}private-key",
        apiv3_key_ref=f"{theirs}apiv3-key",
    )
    Merchant(merchant_pk(merchant.merchant_id), "PROFILE").update(actions=[Merchant.pay.set(pay)])
    merchants.read(merchant.merchant_id)  # the stack serves from this process: its cached row refreshed
    member = api.member_with_card(merchant)
    WalletCard(
        *card_key(merchant.merchant_id),
        merchant_id=merchant.merchant_id,
        **card_body(
            "wxoa0123456789", "s", "t", oa_secret_ref=f"{theirs}oa-secret", event_token_ref=f"{theirs}event-token"
        ),
        updated_at=product_clock.now(),
    ).save()
    url = f"{stack.api_url}/v1/wechat/card-events/{merchant.merchant_id}"
    query = {"signature": "0" * 40, "timestamp": "1", "nonce": "n", "echostr": "e"}
    for answer in (
        requests.get(url, params=query, timeout=10),
        requests.post(url, params=query, data=b"<xml></xml>", headers={"Content-Type": "text/xml"}, timeout=10),
    ):
        assert (answer.status_code, answer.json()["error"]["code"]) == (409, "WALLET_NOT_CONFIGURED"), answer.text
    status, body = api.post(
        "/v1/topup/orders", {"plan_id": "p300"}, token=member["token"], headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert status == 409 and body["error"]["code"] == "PAYMENT_NOT_CONFIGURED", (status, body)
    notify = requests.post(
        f"{stack.api_url}/v1/wechatpay/notify/{merchant.merchant_id}",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert (notify.status_code, notify.json()["error"]["code"]) == (409, "PAYMENT_NOT_CONFIGURED"), notify.text


def test_a_stored_foreign_app_secret_reference_is_no_500_at_login(api: Any, make_merchant: Any) -> None:
    """Login (and the phone, the spending password, notices) call WeChat with the merchant's app secret: a stored
    reference to another merchant's is refused there, as WeChat not answering for it, not as a 500."""
    merchant, other = make_merchant(), make_merchant()
    Merchant(merchant_pk(merchant.merchant_id), "PROFILE").update(
        actions=[Merchant.app_secret_ref.set(f"ssm:{secrets.merchant_prefix(other.merchant_id)}app-secret")]
    )
    merchants.read(merchant.merchant_id)  # the stack serves from this process: its cached row refreshed
    status, body = api.post("/v1/auth/login", {"appid": merchant.appid, "code": f"test:o-{uuid.uuid4().hex}:x"})
    assert (status, body["error"]["code"]) == (503, "WECHAT_UNAVAILABLE"), body
