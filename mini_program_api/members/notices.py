"""Subscribe messages: one-time grants, and each notice sent at most once.

WeChat's one-time subscriptions allow one message per acceptance, so every grant
the member gives (`POST /v1/me/subscriptions`) is a counter per template and each
send consumes one. A notice has a key (`coupon:{id}`, `points:{date}`, …) and an
item in the member's partition; claiming it (absent, or FAILED before) and
taking a grant are one transaction, so two jobs running at once send it once.

Outcomes: SENT; NO_GRANT (recorded, never retried: no error loop); FAILED (WeChat
refused or was unreachable: the grant is given back and the job's next run tries
again, up to MAX_ATTEMPTS, then GAVE_UP); ALREADY (another run has it). A run that
dies between WeChat's answer and recording it leaves the notice SENDING, and it
is never sent again: a duplicate message is worse than a missing reminder.
"""

from __future__ import annotations

import logging
from typing import Any

from mini_program_api.db.counters import Counter
from mini_program_api.db.models import Member, Merchant, member_pk
from mini_program_api.db.notices import Notice
from mini_program_api.db.transact import Cancelled, Transaction, update_if
from mini_program_api.members import consents
from mini_program_api.merchants import merchants
from mini_program_api.platform import clock
from mini_program_api.platform.errors import KabaoError

log = logging.getLogger(__name__)
KINDS = ("coupon_expiry", "points_expiry", "birthday", "wake_up", "spending_locked", "password_changed")
MAX_GRANTS = 50  # per template: more acceptances than this are not kept
MAX_ATTEMPTS = 3
SENT, NO_GRANT, FAILED, GAVE_UP, ALREADY, NO_TEMPLATE = (
    "SENT",
    "NO_GRANT",
    "FAILED",
    "GAVE_UP",
    "ALREADY",
    "NO_TEMPLATE",
)


def templates(merchant: Merchant) -> dict[str, str]:
    """Notice kind -> the merchant's subscribe-message template id."""
    return {k: str(v) for k, v in merchant.message_templates.as_dict().items()} if merchant.message_templates else {}


def grant(
    merchant_id: str, member_id: str, template_ids: list[str], refused: dict[str, str] | None = None
) -> dict[str, int]:
    """Record one grant per accepted template, and each answer (accepted, and `refused`: template id ->
    REJECT | BAN | FILTER) as a consent record in the same transaction; returns the grants now held."""
    refused = refused or {}
    known = set(templates(merchants.get(merchant_id)).values())
    unknown = sorted((set(template_ids) | set(refused)) - known)
    if unknown:
        raise KabaoError("VALIDATION_ERROR", f"not this merchant's subscribe templates: {', '.join(unknown)}")
    both = sorted(set(template_ids) & set(refused))
    if both:
        raise KabaoError("VALIDATION_ERROR", f"templates both accepted and refused: {', '.join(both)}")
    pk, at = member_pk(merchant_id, member_id), clock.now()
    held = {}
    for template_id in dict.fromkeys(template_ids):
        counter = Counter(pk, f"GRANT#{template_id}")
        tx = Transaction()
        tx.update("grant", counter, [Counter.n.add(1)], Counter.n.does_not_exist() | (Counter.n < MAX_GRANTS))
        consents.stage_subscribe(tx, merchant_id, member_id, template_id, "ACCEPT", at)
        try:
            tx.commit()
        except Cancelled:  # MAX_GRANTS held already: the answer is still the member's, and recorded
            tx = Transaction()
            consents.stage_subscribe(tx, merchant_id, member_id, template_id, "ACCEPT", at)
            tx.commit()
        counter.refresh(consistent_read=True)
        held[template_id] = int(counter.n)
    if refused:
        tx = Transaction()
        for template_id, decision in refused.items():
            consents.stage_subscribe(tx, merchant_id, member_id, template_id, decision, at)
        tx.commit()
    return held


def grants(merchant_id: str, member_id: str) -> dict[str, int]:
    pk = member_pk(merchant_id, member_id)
    return {
        c.sk.removeprefix("GRANT#"): int(c.n)
        for c in Counter.query(pk, Counter.sk.startswith("GRANT#"), consistent_read=True)
    }


def send(merchant: Merchant, member: Member, kind: str, key: str, data: dict[str, Any], page: str | None = None) -> str:
    """Send notice `key` once (see the module docstring for the outcomes)."""
    template_id = templates(merchant).get(kind)
    if not template_id:
        return NO_TEMPLATE
    pk, now = member_pk(member.merchant_id, member.member_id), clock.now()
    notice = Notice(pk, f"NOTICE#{key}")
    claimable = Notice.pk.does_not_exist() | (Notice.status == FAILED)
    tx = Transaction()
    tx.update(
        "notice",
        notice,
        condition=claimable,
        actions=[
            Notice.status.set("SENDING"),
            Notice.kind.set(kind),
            Notice.attempts.add(1),
            Notice.updated_at.set(now),
        ],
    )
    tx.update("grant", Counter(pk, f"GRANT#{template_id}"), actions=[Counter.n.add(-1)], condition=Counter.n >= 1)
    try:
        tx.commit()
    except Cancelled as exc:
        if "notice" in exc.failed:
            return ALREADY
        update_if(notice, [Notice.status.set(NO_GRANT), Notice.kind.set(kind), Notice.updated_at.set(now)], claimable)
        return NO_GRANT
    try:
        merchants.mini_program(merchant).send_subscribe_message(member.openid, template_id, data, page)
    except KabaoError as exc:
        notice.refresh(consistent_read=True)
        outcome = GAVE_UP if int(notice.attempts) >= MAX_ATTEMPTS else FAILED
        tx = Transaction()
        tx.update(
            "notice",
            notice,
            actions=[Notice.status.set(outcome), Notice.last_error.set(exc.code), Notice.updated_at.set(clock.now())],
        )
        tx.update("grant", Counter(pk, f"GRANT#{template_id}"), actions=[Counter.n.add(1)])  # it was not used
        tx.commit()
        log.warning("subscribe message not sent", extra={"kind": kind, "error": exc.code, "outcome": outcome})
        return outcome
    notice.update(actions=[Notice.status.set(SENT), Notice.updated_at.set(clock.now())])
    return SENT
