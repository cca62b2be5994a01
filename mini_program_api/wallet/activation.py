"""One-step activation: the WeChat card the member just filled WeChat's form for becomes their kabao card.

The mini program opens WeChat's one-click activation component (`offer` gives its parameters) or
`wx.addCard` (a cardExt signed with the card ticket). After the form, WeChat hands the mini program an
`activate_ticket` and an `encrypt_code`; it passes them here with the member's token, so the member is
who the token says, never who the client says. Then, in this order, each step safe to repeat:
decrypt the code, fetch the form (phone required), bind the phone as POST /v1/me/phone does, open the
kabao card as POST /v1/me/card does (same terms rule), link code -> member (a code links one member),
activate the WeChat card with the kabao card number and the current values. A retry after any step
picks up where it stopped; an activated link answers at once. One form for the member, never two.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from mini_program_api.db.models import LOOKUP, PROFILE, Lookup, Member, member_pk
from mini_program_api.db.transact import Cancelled, Transaction, update_if
from mini_program_api.jobs import due
from mini_program_api.members import cards, enrolment, members, tiers
from mini_program_api.merchants import merchants
from mini_program_api.platform import clock, pii
from mini_program_api.platform.errors import KabaoError
from mini_program_api.wallet import setup
from mini_program_api.wallet.models import MEMBER_SK, SYNC_JOB, MemberWallet, code_pk

ACTIVATION_COMPONENT_APPID = "wxeb490c6f9b154ef9"  # WeChat's own 开卡组件 mini program


@dataclass(frozen=True)
class Activation:
    card_id: str
    encrypt_code: str
    activate_ticket: str
    agreed_terms_version: str


def state(merchant_id: str, member_id: str) -> MemberWallet | None:
    try:
        return MemberWallet.get(member_pk(merchant_id, member_id), MEMBER_SK, consistent_read=True)
    except MemberWallet.DoesNotExist:
        return None


def offer(merchant_id: str, member_id: str) -> dict[str, Any]:
    """What the mini program needs to put the card in the member's wallet (or that it is there)."""
    card = setup.get(merchant_id)
    card_id = setup.require_card_id(card)
    members.get(merchant_id, member_id)
    account_cards = setup.client(card)
    if card.activation_extra:
        extra = json.loads(card.activation_extra)
    else:  # a card pushed before the parameters were kept
        extra = setup.activation_params(account_cards.activate_url(card_id, outer_str=setup.OUTER_STR))
    return {
        **view(card_id, card.review, state(merchant_id, member_id)),
        "activation": {"app_id": ACTIVATION_COMPONENT_APPID, "extra_data": extra},
        "add_card": {
            "card_id": card_id,
            "card_ext": json.dumps(account_cards.card_ext(card_id), separators=(",", ":")),
        },
    }


def view(card_id: str, review: str, wallet: MemberWallet | None) -> dict[str, Any]:
    active = wallet is not None and wallet.status == "ACTIVE" and wallet.card_id == card_id
    return {
        "card_id": card_id,
        "review": review,
        "in_wallet": active,
        "code": wallet.code if active and wallet is not None else None,
    }


def activate(merchant_id: str, member_id: str, req: Activation) -> dict[str, Any]:
    card = setup.get(merchant_id)
    card_id = setup.require_card_id(card)
    if req.card_id != card_id:
        raise KabaoError("NOT_FOUND", "not this merchant's member card")
    account_cards = setup.client(card)
    code = account_cards.decrypt_code(req.encrypt_code)
    _check_link(merchant_id, member_id, code)
    current = state(merchant_id, member_id)
    if current is not None and current.code == code and current.status == "ACTIVE":
        return view(card_id, card.review, current)  # a retry of a finished activation
    # Everything that can refuse the request is checked before anything is written.
    members.require_current_terms(merchants.get(merchant_id), req.agreed_terms_version)
    form = _form(account_cards.activate_info(req.activate_ticket))
    _bind_phone(merchant_id, member_id, form)
    cards.open_card(
        merchant_id,
        member_id,
        req.agreed_terms_version,
        form.get("USER_FORM_INFO_FLAG_NAME") or None,
        _birthday(form.get("USER_FORM_INFO_FLAG_BIRTHDAY")),
    )
    _link(merchant_id, member_id, card_id, code)
    linked = state(merchant_id, member_id)
    assert linked is not None
    since = int(linked.version)  # read before the values: any later change has a higher version and is pushed
    member = members.get(merchant_id, member_id)
    merchant = merchants.get(merchant_id)
    account_cards.activate(
        card_id,
        code,
        str(member.card_number),
        init_bonus=int(member.points),
        init_balance=int(member.principal) + int(member.bonus),
        init_custom_field_value1=tiers.current(merchant, member.tier_id).name,
    )
    update_if(
        linked,
        [MemberWallet.status.set("ACTIVE"), MemberWallet.activated_at.set(clock.now())],
        MemberWallet.code == code,
    )
    update_if(
        linked, [MemberWallet.pushed.set(since)], MemberWallet.pushed.does_not_exist() | (MemberWallet.pushed < since)
    )
    # Changes made while activating were settled unpushed (sync.py): owe them again.
    due_pk, due_sk = due.slot(SYNC_JOB, linked.pk, clock.now())
    update_if(linked, [MemberWallet.due_pk.set(due_pk), MemberWallet.due_sk.set(due_sk)], MemberWallet.version > since)
    return view(card_id, card.review, state(merchant_id, member_id))


def _check_link(merchant_id: str, member_id: str, code: str) -> None:
    try:
        owner = Lookup.get(code_pk(merchant_id, code), LOOKUP, consistent_read=True).target
    except Lookup.DoesNotExist:
        return
    if owner != member_id:
        raise KabaoError("WALLET_CARD_TAKEN", "this WeChat card belongs to another member")


def _form(info: dict[str, Any]) -> dict[str, str]:
    fields = {str(f.get("name")): str(f.get("value", "")) for f in info.get("common_field_list", [])}
    if not fields.get("USER_FORM_INFO_FLAG_MOBILE"):
        raise KabaoError("PHONE_REQUIRED", "the activation form has no phone number")
    return fields


def _bind_phone(merchant_id: str, member_id: str, form: dict[str, str]) -> None:
    """A member without a phone gets the form's; one with a phone must have filled in that one: a wallet
    activation never changes which number identifies a member (that is POST /v1/me/phone's job)."""
    phone = form["USER_FORM_INFO_FLAG_MOBILE"]
    member = members.get(merchant_id, member_id)
    if member.phone_hash is None:
        enrolment.bind_number(merchant_id, member_id, phone)
    elif member.phone_hash != pii.phone_hash(merchant_id, phone):
        raise KabaoError("PHONE_MISMATCH", "the activation form's phone is not the member's bound phone")


def _birthday(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _link(merchant_id: str, member_id: str, card_id: str, code: str) -> None:
    pk = member_pk(merchant_id, member_id)
    tx = Transaction()
    tx.put(
        "code",
        Lookup(code_pk(merchant_id, code), LOOKUP, target=member_id),
        condition=Lookup.pk.does_not_exist() | (Lookup.target == member_id),
    )
    tx.update(
        "wallet",
        MemberWallet(pk, MEMBER_SK),
        actions=[
            MemberWallet.code.set(code),
            MemberWallet.card_id.set(card_id),
            MemberWallet.merchant_id.set(merchant_id),
            MemberWallet.member_id.set(member_id),
            MemberWallet.status.set("ACTIVATING"),
            MemberWallet.deleted_at.remove(),
        ],
        condition=MemberWallet.code.does_not_exist() | (MemberWallet.code != code) | (MemberWallet.status != "ACTIVE"),
    )
    # An erased member gets no card link back (data_rights/erasure.py: one that committed after the reads above).
    tx.check("member", Member, pk, PROFILE, Member.erased_at.does_not_exist())
    try:
        tx.commit()
    except Cancelled as exc:
        if "member" in exc.failed:
            members.require_not_erased(merchant_id, member_id)
        if "code" in exc.failed:
            raise KabaoError("WALLET_CARD_TAKEN", "this WeChat card belongs to another member") from exc
        # "wallet": a concurrent request activated this very code; carry on, activation is idempotent
