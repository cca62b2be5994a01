"""The merchant's member card: its official account and look, kept at WeChat (card/create, card/update).

A PUT replaces the whole set-up. The row is written first (audited, pinned to the version read),
then pushed to WeChat; `pushed_version` says which change WeChat has. A push WeChat refuses or
does not answer leaves the row ahead of WeChat with `push_error` set, readable back, and the next
PUT retries it (the same body again is enough). A PUT that changes nothing writes nothing and calls
WeChat only when an earlier push is still owed: never a WeChat call with nothing in it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mini_program_api.db.transact import Transaction, at_version, commit_pinned, update_if
from mini_program_api.platform import clock
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.config import settings
from mini_program_api.platform.errors import KabaoError
from mini_program_api.platform.secrets import SecretError, check_merchant_ref, resolve_merchant
from mini_program_api.staff import audit
from mini_program_api.wallet.models import CARD_SK, WalletCard, card_key
from mini_program_api.wechat.card import OfficialAccountCards, for_account


@dataclass(frozen=True)
class CardSpec:
    oa_appid: str
    oa_secret_ref: str
    event_token_ref: str
    brand_name: str
    title: str
    logo_url: str
    color: str
    prerogative: str
    notice: str
    description: str
    aes_key_ref: str | None = None
    background_pic_url: str | None = None
    service_phone: str | None = None
    show_points: bool = True
    show_balance: bool = True
    show_tier: bool = True


_FIELDS = tuple(CardSpec.__dataclass_fields__)
OUTER_STR = "kabao"  # the channel WeChat reports activations under
TIER_FIELD = "FIELD_NAME_TYPE_LEVEL"  # WeChat's name for custom_field1: 等级


def find(merchant_id: str) -> WalletCard | None:
    try:
        return WalletCard.get(*card_key(merchant_id), consistent_read=True)
    except WalletCard.DoesNotExist:
        return None


def get(merchant_id: str) -> WalletCard:
    card = find(merchant_id)
    if card is None:
        raise KabaoError("WALLET_NOT_CONFIGURED", "this merchant has no WeChat member card")
    return card


def client(card: WalletCard) -> OfficialAccountCards:
    return for_account(card.oa_appid, resolve_merchant(card.merchant_id, card.oa_secret_ref))


def require_card_id(card: WalletCard) -> str:
    if not card.card_id:
        raise KabaoError("WALLET_CARD_NOT_READY", "the member card has not been created at WeChat yet")
    return str(card.card_id)


def _check_refs(merchant_id: str, spec: CardSpec) -> None:
    """A reference that cannot resolve here is refused now, not discovered by a member's activation; one
    naming another merchant's secret is refused too (platform/secrets.py: every merchant's parameters are
    readable by the one Lambda role, so the path is what keeps them apart)."""
    # Local stages (make dev, tests) take dev: only, so a stray ssm: reference never reaches for AWS from them.
    scheme = "dev" if settings().is_local else "ssm"
    for name in ("oa_secret_ref", "event_token_ref", "aes_key_ref"):
        ref = getattr(spec, name)
        if ref is None:
            continue
        if ref.partition(":")[0] != scheme or not ref.partition(":")[2].strip():
            raise KabaoError("INVALID_SECRET_REF", f"{name}: a secret reference, {scheme}:...")
        try:
            check_merchant_ref(merchant_id, ref)
        except SecretError as exc:
            raise KabaoError("INVALID_SECRET_REF", f"{name}: {exc}") from None
    if spec.aes_key_ref is not None and spec.aes_key_ref.startswith("dev:") and len(spec.aes_key_ref) != 47:
        raise KabaoError("VALIDATION_ERROR", "aes_key_ref: an EncodingAESKey has 43 characters")


def put(actor: Principal, spec: CardSpec) -> WalletCard:
    _check_refs(actor.merchant_id, spec)
    old = find(actor.merchant_id)
    if old is not None and old.card_id and old.oa_appid != spec.oa_appid:
        # The card and every member's code belong to that account: another one cannot update them.
        raise KabaoError("VALIDATION_ERROR", "oa_appid: the card belongs to its official account, which cannot change")
    if old is not None and all(getattr(old, f) == getattr(spec, f) for f in _FIELDS):
        return _push(old) if int(old.pushed_version) < int(old.version) else old
    now = clock.now()
    new = WalletCard(*card_key(actor.merchant_id), merchant_id=actor.merchant_id, **asdict(spec), updated_at=now)
    tx = Transaction()
    audit.record(
        tx,
        actor,
        "WALLET_CARD_SET",
        CARD_SK,
        audit.changes({f: getattr(old, f) for f in _FIELDS} if old is not None else None, asdict(spec)),
        at=now,
    )
    if old is None:
        new.version = 1
        tx.put("card", new, condition=WalletCard.sk.does_not_exist())
    else:
        tx.update(
            "card",
            new,
            actions=[getattr(WalletCard, f).set(getattr(spec, f)) for f in _FIELDS]
            + [WalletCard.updated_at.set(now), WalletCard.version.add(1)],
            condition=at_version(WalletCard, int(old.version)),
        )
    commit_pinned(tx, "card", "wallet card")
    return _push(get(actor.merchant_id))


def _push(card: WalletCard) -> WalletCard:
    """Bring WeChat to `card.version`: create the card (and its activation form) once, update it after.

    WeChat may push the review result (events.py) while card/update or card/create is still answering:
    the PENDING this push writes afterwards must not overwrite it, so it is written only while no result
    arrived since `card` was read (`reviews` unchanged)."""
    version = int(card.version)
    seen = int(card.reviews or 0)
    try:
        cards = client(card)
        card_id = card.card_id
        if card_id:
            cards.update_member_card(str(card_id), _member_card(card, for_update=True))
        else:
            card_id = cards.create_member_card({"card_type": "MEMBER_CARD", "member_card": _member_card(card)})
            # Kept at once: a failure after this point must never make the retry create a second card.
            update_if(card, [WalletCard.card_id.set(card_id)], WalletCard.card_id.does_not_exist())
        cards.set_activate_form(str(card_id), activate_form(card))  # idempotent at WeChat: sent with every push
        extra = activation_params(cards.activate_url(str(card_id), outer_str=OUTER_STR))
    except Exception as exc:  # noqa: BLE001 - WeChat or a secret that does not resolve: kept for the admin to see
        code = (
            exc.code
            if isinstance(exc, KabaoError)
            else "SECRET_UNRESOLVED"
            if isinstance(exc, SecretError)
            else type(exc).__name__
        )
        update_if(card, [WalletCard.push_error.set(code)], WalletCard.version == version)
        return get(card.merchant_id)
    # A new or changed card is reviewed by WeChat; a result that came during the push wins.
    unchanged = WalletCard.reviews == seen
    if not seen:
        unchanged |= WalletCard.reviews.does_not_exist()
    update_if(card, [WalletCard.review.set("PENDING")], (WalletCard.pushed_version < version) & unchanged)
    # Never lower: a slower push of an older version does not mark a newer one as done.
    update_if(
        card,
        [
            WalletCard.activation_extra.set(json.dumps(extra)),
            WalletCard.pushed_version.set(version),
            WalletCard.push_error.remove(),
        ],
        WalletCard.pushed_version < version,
    )
    return get(card.merchant_id)


def _member_card(card: WalletCard, for_update: bool = False) -> dict[str, Any]:
    """WeChat's MEMBER_CARD: points as `bonus`, stored value as `balance`, the tier as custom field 1."""
    base: dict[str, Any] = {
        "logo_url": card.logo_url,
        "color": card.color,
        "notice": card.notice,
        "description": card.description,
        "title": card.title,
    }
    if card.service_phone:
        base["service_phone"] = card.service_phone
    if not for_update:
        base.update(
            brand_name=card.brand_name,
            code_type="CODE_TYPE_QRCODE",
            date_info={"type": "DATE_TYPE_PERMANENT"},
            sku={"quantity": 100000000},
            get_limit=1,
            can_give_friend=False,
            use_custom_code=False,
        )
    member_card: dict[str, Any] = {
        "base_info": base,
        "prerogative": card.prerogative,
        "supply_bonus": bool(card.show_points),
        "supply_balance": bool(card.show_balance),
    }
    if card.background_pic_url:
        member_card["background_pic_url"] = card.background_pic_url
    if card.show_tier:
        member_card["custom_field1"] = {"name_type": TIER_FIELD}
    if not for_update:
        member_card.update(wx_activate=True, wx_activate_after_submit=True)
    return member_card


def activation_params(url: str) -> dict[str, str]:
    """The `extraData` WeChat's activation component takes, from the URL card/membercard/activate/geturl gives."""
    query = parse_qs(urlsplit(url).query)
    return {k: query[k][0] for k in ("encrypt_card_id", "outer_str", "biz") if k in query}


def activate_form(card: WalletCard) -> dict[str, Any]:
    """One-click activation: WeChat's own form, the phone required (the kabao card needs it)."""
    return {
        "required_form": {"can_modify": False, "common_field_id_list": ["USER_FORM_INFO_FLAG_MOBILE"]},
        "optional_form": {
            "can_modify": False,
            "common_field_id_list": ["USER_FORM_INFO_FLAG_NAME", "USER_FORM_INFO_FLAG_BIRTHDAY"],
        },
    }


def review_result(merchant_id: str, card_id: str, approved: bool, reason: str | None) -> bool:
    """WeChat's card_pass_check / card_not_pass_check for this merchant's card; False: not its card."""
    card = find(merchant_id)
    if card is None or card.card_id != card_id:
        return False
    actions = [WalletCard.review.set("APPROVED" if approved else "REJECTED"), WalletCard.reviews.add(1)]
    actions.append(WalletCard.review_reason.remove() if approved else WalletCard.review_reason.set(reason or ""))
    return update_if(card, actions, WalletCard.card_id == card_id)


def view(card: WalletCard) -> dict[str, Any]:
    return {
        **{f: getattr(card, f) for f in _FIELDS},
        "card_id": card.card_id,
        "review": card.review,
        "review_reason": card.review_reason,
        "version": int(card.version),
        "pushed": int(card.pushed_version) >= int(card.version),
        "push_error": card.push_error,
    }
