"""Merchants: who deploys kabao for which mini program, read by nearly every request (cached per container).

What changes a merchant (creating it, its WeChat Pay keys, tiers, settings) is merchants/configuration.py: only
onboarding and the admin's writes load it, not a member's or a till's cold start.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from mini_program_api.db.models import LOOKUP, PROFILE, Lookup, Merchant, merchant_pk
from mini_program_api.platform.errors import KabaoError
from mini_program_api.platform.secrets import SecretRefused, resolve_merchant

if TYPE_CHECKING:
    from mini_program_api.wechat.miniprogram import MiniProgram


MERCHANTS = "MERCHANTS"  # the roster index partition listing every merchant (reports/roster.py)


def appid_pk(appid: str) -> str:
    return f"APPID#{appid}"


def read(merchant_id: str) -> Merchant:
    """The merchant row as stored now (consistent), refreshing this container's cache."""
    try:
        merchant = Merchant.get(merchant_pk(merchant_id), PROFILE, consistent_read=True)
    except Merchant.DoesNotExist:
        raise KabaoError("NOT_FOUND", "merchant not found") from None
    _cache[merchant_id] = (time.monotonic(), merchant)
    return merchant


# Merchant settings are read on nearly every request and change rarely: a warm container
# reuses them for this long (writes through configuration.py refresh the entry at once).
CACHE_SECONDS = 30.0
_cache: dict[str, tuple[float, Merchant]] = {}


def get(merchant_id: str) -> Merchant:
    cached = fresh(merchant_id)
    if cached is not None:
        return cached
    try:
        merchant = Merchant.get(merchant_pk(merchant_id), PROFILE)
    except Merchant.DoesNotExist:
        raise KabaoError("NOT_FOUND", "merchant not found") from None
    remember(merchant)
    return merchant


def fresh(merchant_id: str) -> Merchant | None:
    """This container's copy while it is within CACHE_SECONDS: what `get` answers without a read."""
    hit = _cache.get(merchant_id)
    return hit[1] if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS else None


def remember(merchant: Merchant) -> None:
    """Cache a merchant row read with other items in one round trip (member_codes.resolve), as `get` would."""
    _cache[str(merchant.merchant_id)] = (time.monotonic(), merchant)


_appids: dict[str, str] = {}  # appid -> merchant id: never changes once claimed


def by_appid(appid: str) -> Merchant:
    if appid not in _appids:
        try:
            _appids[appid] = Lookup.get(appid_pk(appid), LOOKUP).target
        except Lookup.DoesNotExist:
            raise KabaoError("UNKNOWN_APPID", "this appid is not served here") from None
    return get(_appids[appid])


def mini_program(merchant: Merchant) -> MiniProgram:
    # Imported here, not at the top: wechatpy and requests cost every cold start, and most handlers never call WeChat.
    from mini_program_api.wechat.miniprogram import for_app

    try:
        secret = resolve_merchant(merchant.merchant_id, merchant.app_secret_ref)
    except SecretRefused:
        # A stored reference refused (another merchant's, platform/secrets.py): WeChat cannot be called for this
        # merchant until it is fixed. Answered as WeChat not answering (a notice then stays FAILED and is retried),
        # never a 500 on login, the phone or the spending password.
        raise KabaoError("WECHAT_UNAVAILABLE", "this merchant's WeChat mini program cannot be called") from None
    return for_app(merchant.appid, secret)
