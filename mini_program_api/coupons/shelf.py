"""The offer shelf: a copy of every listed template, keyed by the end of its window, so listing offers reads only
templates that have not ended, and each listing counts one exposure for the funnel.

A listing reads the shelf from a per-container copy kept `CACHE_SECONDS` (`running`), as a claim reads its
template (templates.cached): at a drop's 60 000 listings/s every listing queried one partition, `MCH#{mid}#SHELF`,
10x a partition's read limit; now each container queries it once per `CACHE_SECONDS`. So a template created,
paused, ended or changed through another container shows here within `CACHE_SECONDS`, and at once through this
one (templates.create_template and template_admin forget the copy: templates.forget). What a member may claim is
still decided by the claim, which checks pause, end, tier and stock itself: a stale listing can only show an offer
that the claim then refuses with its usual error, or miss a new one for a few seconds. Only the merchant-wide
shelf is copied; what is the member's (their tier, what they hold, their exposure markers) is read per listing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mini_program_api.coupons import eligibility
from mini_program_api.db.counters import Counter
from mini_program_api.db.coupon_templates import CouponTemplate, shelf_pk
from mini_program_api.db.models import member_pk
from mini_program_api.db.schema import sortable
from mini_program_api.members import members
from mini_program_api.money import idempotency
from mini_program_api.platform import clock
from mini_program_api.platform.container_copy import ContainerCopy
from mini_program_api.reports import counters


@dataclass(frozen=True)
class Offer:
    template: CouponTemplate
    claimed: int


_OPEN_ENDED = "9999-12-31T23:59:59.999999"


def shelf_sk(template: CouponTemplate) -> str:
    """A listed template's place on the shelf: by the end of its window, so ended ones are never read."""
    end = sortable(template.valid_until) if template.valid_until else _OPEN_ENDED
    return f"{end}#{template.template_id}"


def template_attributes(template: CouponTemplate) -> dict[str, Any]:
    """Every attribute but the key: what a copy of the template (or its next version) starts from."""
    return {name: getattr(template, name) for name in CouponTemplate.get_attributes() if name not in ("pk", "sk")}


def shelf_copy(template: CouponTemplate) -> CouponTemplate:
    """The template's copy on the offer shelf, at its place by end (`shelf_sk`)."""
    return CouponTemplate(shelf_pk(template.merchant_id), shelf_sk(template), **template_attributes(template))


CACHE_SECONDS = 5.0  # how late a template made or changed through another container reaches this one (listings, claims)
_copies: ContainerCopy[str, tuple[CouponTemplate, ...]] = ContainerCopy(CACHE_SECONDS)


def running(merchant_id: str, now: datetime) -> list[CouponTemplate]:
    """The shelf's templates whose window has not ended by `now`, from this container's copy (`CACHE_SECONDS`)."""
    shelf = _copies.get(
        merchant_id, lambda: tuple(CouponTemplate.query(shelf_pk(merchant_id), CouponTemplate.sk > sortable(now)))
    )
    after = sortable(now)
    return [t for t in shelf or () if t.sk > after]  # ended since the copy was read: off the shelf


def forget(merchant_id: str) -> None:
    """A template of the merchant was written here: this container's next listing reads the shelf afresh."""
    _copies.forget(merchant_id)


def offers(merchant_id: str, member_id: str, rewards: bool = False, idempotency_key: str | None = None) -> list[Offer]:
    """Templates this member can claim now (or, with `rewards`, redeem for points); each listing
    counts as an exposure for the funnel, once per `idempotency_key` when the client sends one (its
    retries of one listing resend the key: counters.exposure).

    Reads only the shelf's templates whose window has not ended (a copy of each listed template
    is kept there, keyed by its end; this container's copy of it: `running`), and makes one write per call
    (counters.exposure: a transaction of small items, none of which grows with the viewers)."""
    request = (
        idempotency.client_key(merchant_id, "offers", idempotency_key, member_id)
        if idempotency_key is not None
        else None
    )
    member = members.get(merchant_id, member_id)
    now = clock.now()
    templates = [
        t
        for t in running(merchant_id, now)
        if (t.points_price is not None) == rewards and eligibility.why_unclaimable(t, member, now) is None
    ]
    mpk = member_pk(merchant_id, member_id)
    counts = (
        {
            c.sk.removeprefix("CLAIMS#"): int(c.n)
            for c in Counter.batch_get([(mpk, f"CLAIMS#{t.template_id}") for t in templates])
        }
        if templates
        else {}
    )
    listed = [Offer(t, counts.get(t.template_id, 0)) for t in templates]
    if listed:
        counters.exposure(merchant_id, member_id, [o.template.template_id for o in listed], now, request)
    return listed


def exposures(merchant_id: str, template_id: str, day: str) -> int:
    """How often offers listed this template on the merchant's `day` (the funnel's views)."""
    return counters.views(merchant_id, template_id, day)
