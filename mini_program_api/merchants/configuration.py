"""A merchant's configuration and its changes: creating a merchant and claiming its appid, its WeChat Pay keys
(references), its tiers and settings. Each write refreshes this container's cached copy (merchants.py `read`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pynamodb.expressions.update import Action

from mini_program_api.db.models import LOOKUP, PROFILE, Lookup, Merchant, PaySettings, Tier, TopupPlan, merchant_pk
from mini_program_api.db.transact import Cancelled, Transaction, at_version, commit_pinned
from mini_program_api.merchants.merchants import MERCHANTS, appid_pk, get, read
from mini_program_api.platform import clock
from mini_program_api.platform.errors import KabaoError
from mini_program_api.platform.secrets import SecretError, check_merchant_refs


@dataclass(frozen=True)
class MerchantSpec:
    merchant_id: str
    name: str
    appid: str
    app_secret_ref: str
    tiers: list[tuple[str, str, int]]  # (tier_id, name, growth threshold); the first has threshold 0
    topup_plans: list[tuple[str, int, int]] = field(default_factory=list)  # (plan_id, amount fen, bonus fen)
    terms_version: str = "1"
    sign_in_points: int = 10
    sign_in_growth: int = 5
    prepaid_cap: int = 500000
    topup_min: int = 100
    topup_max: int = 500000
    timezone: str = "Asia/Shanghai"


def _own_refs(merchant_id: str, **refs: str | None) -> None:
    """Every secret reference set on a merchant names its own parameters (platform/secrets.py), or ValueError."""
    try:
        check_merchant_refs(merchant_id, refs)
    except SecretError as exc:
        raise ValueError(str(exc)) from None


def create(spec: MerchantSpec) -> Merchant:
    """Create a merchant and claim its appid; creating the same merchant again is a no-op."""
    if not spec.tiers or spec.tiers[0][2] != 0:
        raise ValueError("the first tier is the entry tier, with threshold 0")
    _own_refs(spec.merchant_id, app_secret_ref=spec.app_secret_ref)
    merchant = Merchant(
        merchant_pk(spec.merchant_id),
        PROFILE,
        merchant_id=spec.merchant_id,
        name=spec.name,
        appid=spec.appid,
        app_secret_ref=spec.app_secret_ref,
        timezone=spec.timezone,
        terms_version=spec.terms_version,
        sign_in_points=spec.sign_in_points,
        sign_in_growth=spec.sign_in_growth,
        prepaid_cap=spec.prepaid_cap,
        topup_min=spec.topup_min,
        topup_max=spec.topup_max,
        tiers=[Tier(tier_id=t, name=n, threshold=g) for t, n, g in spec.tiers],
        topup_plans=[TopupPlan(plan_id=p, amount=a, bonus=b) for p, a, b in spec.topup_plans],
        created_at=clock.now(),
        roster_pk=MERCHANTS,
        roster_sk=spec.merchant_id,
    )
    tx = Transaction()
    tx.put("merchant", merchant, condition=Merchant.pk.does_not_exist())
    tx.put("appid", Lookup(appid_pk(spec.appid), LOOKUP, target=spec.merchant_id), condition=Lookup.pk.does_not_exist())
    try:
        tx.commit()
    except Cancelled as exc:
        existing = get(spec.merchant_id) if "merchant" in exc.failed else None
        if existing is not None and existing.appid == spec.appid:
            return existing
        raise ValueError(f"merchant or appid already taken: {exc}") from exc
    return merchant


def configure_pay(
    merchant_id: str,
    mchid: str,
    cert_serial_no: str,
    private_key_ref: str,
    apiv3_key_ref: str,
    public_key_ref: str | None = None,
    public_key_id: str | None = None,
) -> Merchant:
    """Set the merchant's WeChat Pay APIv3 keys (references). A public key needs its id, and vice versa."""
    if (public_key_ref is None) != (public_key_id is None):
        raise ValueError("the WeChat Pay public key and its id go together")
    _own_refs(merchant_id, private_key_ref=private_key_ref, apiv3_key_ref=apiv3_key_ref, public_key_ref=public_key_ref)
    return update(
        merchant_id,
        [
            Merchant.pay.set(
                PaySettings(
                    mchid=mchid,
                    cert_serial_no=cert_serial_no,
                    private_key_ref=private_key_ref,
                    apiv3_key_ref=apiv3_key_ref,
                    public_key_ref=public_key_ref,
                    public_key_id=public_key_id,
                )
            )
        ],
    )


@dataclass(frozen=True)
class TierSpec:
    tier_id: str
    name: str
    threshold: int
    discount_rate: int = 100
    points_multiplier: int = 100
    birthday_template_id: str | None = None
    monthly_template_ids: tuple[str, ...] = ()


def set_tiers(
    merchant_id: str, specs: list[TierSpec], tx: Transaction | None = None, expected: Merchant | None = None
) -> Merchant:
    """Replace the ordered tiers. Members keep their tier id; a tier that disappears places them
    at the entry tier until their next growth or review. `tx` and `expected`: see `update`."""
    thresholds = [t.threshold for t in specs]
    if not specs or thresholds[0] != 0 or thresholds != sorted(set(thresholds)):
        raise KabaoError("VALIDATION_ERROR", "tiers are ordered by strictly rising growth thresholds from 0")
    if len({t.tier_id for t in specs}) != len(specs):
        raise KabaoError("VALIDATION_ERROR", "tier ids are unique")
    for t in specs:
        if not 50 <= t.discount_rate <= 100 or not 100 <= t.points_multiplier <= 1000:
            raise KabaoError("VALIDATION_ERROR", "discount_rate is 50..100 (percent paid), points_multiplier 100..1000")
    return update(
        merchant_id,
        [
            Merchant.tiers.set(
                [
                    Tier(
                        tier_id=t.tier_id,
                        name=t.name,
                        threshold=t.threshold,
                        discount_rate=t.discount_rate,
                        points_multiplier=t.points_multiplier,
                        birthday_template_id=t.birthday_template_id,
                        monthly_template_ids=list(t.monthly_template_ids),
                    )
                    for t in specs
                ]
            )
        ],
        tx,
        expected,
    )


SETTINGS = (
    "points_per_yuan",
    "earn_points_per_yuan",
    "growth_per_yuan",
    "points_expiry",
    "points_expiry_days",
    "tier_review",
    "referral_points",
    "referral_monthly_cap",
    "birthday_on",
    "dormant_days",
    "wakeup_cooldown_days",
    "wakeup_template_id",
    "message_templates",
    "sign_in_points",
    "sign_in_growth",
    # A lower cap only refuses new top-ups: principal already on a card above it stays (it is the
    # member's money); a new terms version makes members agree again at their next POST /v1/me/card.
    "prepaid_cap",
    "terms_version",
    "spending_password_required",
    "password_free_max",
    "till_password",
    # The welcome gift when a card opens (members/welcome_gift.py): templates must exist and be givable.
    "welcome_points",
    "welcome_template_ids",
    # Whether staff may freeze a member's balances at the till (member_care/freeze.py); admins always may.
    "staff_may_freeze",
)


def update_settings(
    merchant_id: str, tx: Transaction | None = None, expected: Merchant | None = None, **values: Any
) -> Merchant:
    """Change some of `SETTINGS`; `tx` and `expected`: see `update`."""
    unknown = set(values) - set(SETTINGS)
    if unknown:
        raise ValueError(f"not merchant settings: {sorted(unknown)}")
    if not values:
        raise KabaoError("VALIDATION_ERROR", "give at least one setting to change")
    return update(merchant_id, [getattr(Merchant, k).set(v) for k, v in values.items()], tx, expected)


def update(
    merchant_id: str, actions: list[Action], tx: Transaction | None = None, expected: Merchant | None = None
) -> Merchant:
    """Apply `actions` to the merchant row, committing `tx` (which may hold the change's audit record).

    With `expected` (a `read` of the row), the write is pinned to that read through `version`: a
    change made since cancels it with CONCURRENT_UPDATE, so what the caller recorded as the old
    values is what was replaced."""
    condition = Merchant.pk.exists()
    if expected is not None:
        condition &= at_version(Merchant, int(expected.version))
        actions = [*actions, Merchant.version.add(1)]
    tx = tx or Transaction()
    tx.update("merchant", Merchant(merchant_pk(merchant_id), PROFILE), actions=actions, condition=condition)
    commit_pinned(tx, "merchant", "merchant")
    return read(merchant_id)
