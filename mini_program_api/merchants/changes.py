"""The back office's changes to a merchant, tiers and settings, each with its audit record.

Audit's rule: the record is written in the action's own transaction. For these
changes it holds the values before and after, both from one consistent read of
the merchant that the write is pinned to (`configuration.update(expected=...)`): a
change made meanwhile cancels this one (409 CONCURRENT_UPDATE) rather than
recording old values that are not the ones replaced. (The writes themselves are
merchants/configuration.py's, which onboarding and the seeds also call, with no actor to audit.)
"""

from __future__ import annotations

import json
from typing import Any

from mini_program_api.db.models import Merchant
from mini_program_api.db.transact import Transaction
from mini_program_api.members import welcome_gift
from mini_program_api.merchants import configuration, member_days, merchants
from mini_program_api.platform import clock
from mini_program_api.platform.auth import Principal
from mini_program_api.staff import audit


def set_tiers(actor: Principal, specs: list[configuration.TierSpec]) -> Merchant:
    """Replace the tiers, audited. A gift template a tier newly names (birthday, monthly pack) must be givable
    (welcome_gift.require_givable); one already configured is not checked again, so a template paused or ended
    since never blocks editing the tiers (its job reports it)."""
    old = merchants.read(actor.merchant_id)
    configured = {t.birthday_template_id for t in old.tiers} | {m for t in old.tiers for m in t.monthly_template_ids}
    named = [tid for t in specs for tid in (t.birthday_template_id, *t.monthly_template_ids) if tid]
    welcome_gift.require_givable(
        actor.merchant_id, [t for t in dict.fromkeys(named) if t not in configured], clock.now()
    )
    tx = Transaction()
    audit.record(
        tx,
        actor,
        "TIERS_SET",
        actor.merchant_id,
        {"old": _json([t.tier_id for t in old.tiers]), "new": _json([t.tier_id for t in specs])},
    )
    return configuration.set_tiers(actor.merchant_id, specs, tx, old)


def set_member_days(actor: Principal, specs: list[member_days.DaySpec]) -> Merchant:
    """Replace the member days (a full list; [] ends them all), audited with the old and new lists.
    The same list again changes and records nothing."""
    old = merchants.read(actor.merchant_id)
    member_days.validate(old, specs)
    new = [s.stored() for s in specs]
    if [member_days.view(d) for d in new] == [member_days.view(d) for d in old.member_days or []]:
        return old  # the same list again (a retry): nothing to change, nothing to record
    tx = Transaction()
    audit.record(
        tx,
        actor,
        "MEMBER_DAYS_SET",
        actor.merchant_id,
        {
            "old": _json([member_days.view(d) for d in old.member_days or []]),
            "new": _json([member_days.view(d) for d in new]),
        },
    )
    return configuration.update(actor.merchant_id, [Merchant.member_days.set(new)], tx, old)


def update_settings(actor: Principal, values: dict[str, Any]) -> Merchant:
    if values.get("welcome_template_ids") is not None:
        welcome_gift.validate(actor.merchant_id, values["welcome_template_ids"], clock.now())
    if values.get("wakeup_template_id") is not None:
        welcome_gift.require_givable(actor.merchant_id, [values["wakeup_template_id"]], clock.now())
    old = merchants.read(actor.merchant_id)
    before = {k: _plain(getattr(old, k)) for k in values}
    tx = Transaction()
    audit.record(tx, actor, "SETTINGS_CHANGED", actor.merchant_id, {"old": _json(before), "new": _json(values)})
    return configuration.update_settings(actor.merchant_id, tx, old, **values)


def _plain(value: Any) -> Any:
    return value.as_dict() if hasattr(value, "as_dict") else value


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
