"""WeChat's card event pushes: verified (plain and encrypted), fresh, deduplicated, and acted on."""

from __future__ import annotations

import time
from typing import Any

import requests

from mini_program_api.wallet import sync
from mini_program_api.wallet.models import WalletCard, card_key
from tests.wallet_helpers import activate, setup_wallet


def _review(merchant: Any) -> WalletCard:
    return WalletCard.get(*card_key(merchant.merchant_id), consistent_read=True)


def test_url_check_echoes_only_for_our_token(api: Any, sandbox: Any, stack: Any, merchant: Any) -> None:
    wallet = setup_wallet(api, sandbox, stack, merchant)
    from wechatpy.utils import WeChatSigner

    ts, nonce = str(int(time.time())), "n1"
    signer = WeChatSigner()
    signer.add_data(wallet["token"], ts, nonce)
    url = f"{stack.api_url}/v1/wechat/card-events/{merchant.merchant_id}"
    ok = requests.get(
        url, params={"signature": signer.signature, "timestamp": ts, "nonce": nonce, "echostr": "e42"}, timeout=10
    )
    assert ok.status_code == 200 and ok.text == "e42"
    bad = requests.get(
        url, params={"signature": "0" * 40, "timestamp": ts, "nonce": nonce, "echostr": "e42"}, timeout=10
    )
    assert bad.status_code == 401 and "e42" not in bad.text


def test_review_results_forged_stale_and_duplicate_pushes(api: Any, sandbox: Any, stack: Any, merchant: Any) -> None:
    wallet = setup_wallet(api, sandbox, stack, merchant)
    forged = sandbox.card.push_event(wallet["oa_appid"], "card_pass_check", forge=True, CardId=wallet["card_id"])
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "INVALID_EVENT"
    stale = sandbox.card.push_event(
        wallet["oa_appid"], "card_pass_check", timestamp=int(time.time()) - 3600, CardId=wallet["card_id"]
    )
    assert stale.status_code == 401
    assert _review(merchant).review == "PENDING"

    rejected = sandbox.card.push_event(
        wallet["oa_appid"],
        "card_not_pass_check",
        create_time=1000,
        CardId=wallet["card_id"],
        RefuseReason="logo unclear",
    )
    assert rejected.status_code == 200 and rejected.text == "success"
    assert (_review(merchant).review, _review(merchant).review_reason) == ("REJECTED", "logo unclear")
    passed = sandbox.card.push_event(wallet["oa_appid"], "card_pass_check", create_time=2000, CardId=wallet["card_id"])
    assert passed.text == "success" and _review(merchant).review == "APPROVED"
    # WeChat redelivers the rejection (same sender, time, event): answered, not applied again.
    again = sandbox.card.push_event(
        wallet["oa_appid"],
        "card_not_pass_check",
        create_time=1000,
        CardId=wallet["card_id"],
        RefuseReason="logo unclear",
    )
    assert again.text == "success" and _review(merchant).review == "APPROVED"
    # Another card's result changes nothing; nor does a push addressed to another merchant's URL.
    sandbox.card.push_event(wallet["oa_appid"], "card_not_pass_check", create_time=3000, CardId="p-other")
    assert _review(merchant).review == "APPROVED"
    status, read = api.get("/v1/admin/wallet/card", token=api.admin_token(merchant))
    assert status == 200 and read["review"] == "APPROVED"


def test_a_push_signed_for_one_merchant_is_refused_at_anothers_url(
    api: Any, sandbox: Any, stack: Any, make_merchant: Any
) -> None:
    first, second = make_merchant(), make_merchant()
    ours = setup_wallet(api, sandbox, stack, first)
    theirs = setup_wallet(api, sandbox, stack, second)
    sandbox.card.events[ours["oa_appid"]]["url"] = f"{stack.api_url}/v1/wechat/card-events/{second.merchant_id}"
    refused = sandbox.card.push_event(
        ours["oa_appid"], "card_not_pass_check", CardId=theirs["card_id"], RefuseReason="forged"
    )
    assert refused.status_code == 401 and _review(second).review == "PENDING"


def test_encrypted_pushes_and_update_member_card_restores_kabao_values(
    api: Any, sandbox: Any, stack: Any, make_merchant: Any
) -> None:
    merchant = make_merchant()
    wallet = setup_wallet(api, sandbox, stack, merchant, aes=True)
    member = activate(api, sandbox, merchant, wallet)
    sync.sweep()
    sandbox.card.codes[member["code"]]["bonus"] = 999  # changed at WeChat, not by kabao
    pushed = sandbox.card.push_event(
        wallet["oa_appid"],
        "update_member_card",
        CardId=wallet["card_id"],
        UserCardCode=member["code"],
        ModifyBonus=999,
        ModifyBalance=0,
    )
    assert pushed.status_code == 200 and pushed.text == "success"
    assert sync.sweep().pushed == 1
    assert sandbox.card.display(member["code"])["bonus"] == 0
    # Plain pushes to a merchant whose pushes are encrypted are refused.
    target = sandbox.card.events[wallet["oa_appid"]]
    aes, target["aes_key"] = target["aes_key"], None
    try:
        plain = sandbox.card.push_event(
            wallet["oa_appid"], "user_view_card", CardId=wallet["card_id"], UserCardCode=member["code"]
        )
    finally:
        target["aes_key"] = aes
    assert plain.status_code == 401
    # Another merchant's URL with this push: that merchant has no card, nothing happens there.
    other = make_merchant()
    url = f"{stack.api_url}/v1/wechat/card-events/{other.merchant_id}"
    assert requests.post(url, data=b"<xml/>", headers={"Content-Type": "text/xml"}, timeout=10).status_code == 409


def test_a_review_result_pushed_while_kabaos_card_update_is_answering_is_kept(
    api: Any, sandbox: Any, stack: Any, merchant: Any, monkeypatch: Any
) -> None:
    from mini_program_api.wechat.card import OfficialAccountCards
    from tests.wallet_helpers import card_body

    wallet = setup_wallet(api, sandbox, stack, merchant)
    admin = api.admin_token(merchant)
    body = card_body(wallet["oa_appid"], sandbox.apps[wallet["oa_appid"]], wallet["token"])
    real = OfficialAccountCards.update_member_card
    results: list[Any] = []

    def reviewed_before_the_answer(self: OfficialAccountCards, card_id: str, member_card: dict[str, Any]) -> None:
        real(self, card_id, member_card)  # WeChat took the change and reviewed it before its answer reached us
        results.append(
            sandbox.card.push_event(wallet["oa_appid"], "card_pass_check", create_time=4000, CardId=wallet["card_id"])
        )

    monkeypatch.setattr(OfficialAccountCards, "update_member_card", reviewed_before_the_answer)
    status, card = api.put("/v1/admin/wallet/card", {**body, "title": "新会员卡"}, token=admin)
    assert status == 200 and [r.text for r in results] == ["success"], card
    assert (card["review"], card["pushed"]) == ("APPROVED", True)
    assert _review(merchant).review == "APPROVED"

    # The next change, with no result yet, waits for its review again.
    monkeypatch.setattr(OfficialAccountCards, "update_member_card", real)
    status, card = api.put("/v1/admin/wallet/card", {**body, "title": "会员卡二"}, token=admin)
    assert status == 200 and (card["review"], card["pushed"]) == ("PENDING", True), card
