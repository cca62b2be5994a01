"""Member days (会员日): a time-boxed points multiplier on chosen weekdays or dates, per tier.

The merchant's admin sets the whole list (`PUT /v1/admin/member-days`, audited with the old
and new lists in the merchant row's own transaction, pinned to its version). Checkout's one
pricing path (`checkout.quote`, which the counter's quote reuses) asks `applying` for the
sale's moment in the merchant's time zone and multiplies the points earned; the day and its
multiplier are written on the order, so the receipt shows them and a refund takes back
exactly the points the sale gave, whatever the settings or the member's tier are by then.

Several days matching one sale do not stack: the highest multiplier applies. The multiplier
is on top of the tier's (`points_multiplier`), rounded down once: yuan x rate x tier% x day%.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from mini_program_api.db.models import MemberDay, Merchant
from mini_program_api.platform import clock
from mini_program_api.platform.errors import KabaoError

MAX_DAYS = 20
MAX_MULTIPLIER = 1000  # percent: 10x


class DaySpec(NamedTuple):
    day_id: str
    name: str
    multiplier: int  # percent, 101..1000: 200 is double points
    weekdays: tuple[int, ...] = ()  # ISO: 1 Monday .. 7 Sunday
    dates: tuple[date, ...] = ()
    tier_ids: tuple[str, ...] = ()  # none: every tier
    starts_on: date | None = None
    ends_on: date | None = None

    def stored(self) -> MemberDay:
        return MemberDay(
            day_id=self.day_id,
            name=self.name,
            multiplier=self.multiplier,
            weekdays=list(self.weekdays),
            dates=[d.isoformat() for d in self.dates],
            tier_ids=list(self.tier_ids),
            starts_on=self.starts_on.isoformat() if self.starts_on else None,
            ends_on=self.ends_on.isoformat() if self.ends_on else None,
        )


def _invalid(message: str) -> KabaoError:
    return KabaoError("VALIDATION_ERROR", message)


def validate(merchant: Merchant, specs: list[DaySpec]) -> None:
    """Every rule a member day must meet; a broken one is a 400 and nothing is written."""
    if len(specs) > MAX_DAYS:
        raise _invalid(f"at most {MAX_DAYS} member days")
    if len({s.day_id for s in specs}) != len(specs):
        raise _invalid("member day ids are unique")
    tier_ids = {t.tier_id for t in merchant.tiers}
    for s in specs:
        if not 100 < s.multiplier <= MAX_MULTIPLIER:
            raise _invalid(f"{s.day_id}: multiplier is a percent above 100 and at most {MAX_MULTIPLIER}")
        if not s.weekdays and not s.dates:
            raise _invalid(f"{s.day_id}: give weekdays or dates")
        if any(not 1 <= w <= 7 for w in s.weekdays) or len(set(s.weekdays)) != len(s.weekdays):
            raise _invalid(f"{s.day_id}: weekdays are distinct, 1 (Monday) to 7 (Sunday)")
        if s.starts_on and s.ends_on and s.starts_on > s.ends_on:
            raise _invalid(f"{s.day_id}: starts_on is on or before ends_on")
        unknown = set(s.tier_ids) - tier_ids
        if unknown:
            raise _invalid(f"{s.day_id}: unknown tiers: {', '.join(sorted(unknown))}")


def applying(merchant: Merchant, tier_id: str, at: datetime) -> MemberDay | None:
    """The member day of a sale at `at` by a member of `tier_id` (the highest multiplier), or None."""
    day = clock.local_date(merchant.timezone, at)
    best: MemberDay | None = None
    for d in merchant.member_days or []:
        if d.starts_on and day < date.fromisoformat(d.starts_on):
            continue
        if d.ends_on and day > date.fromisoformat(d.ends_on):
            continue
        if d.tier_ids and tier_id not in d.tier_ids:
            continue
        if day.isoweekday() not in [int(str(w)) for w in d.weekdays] and day.isoformat() not in list(d.dates):
            continue
        if best is None or int(str(d.multiplier)) > int(str(best.multiplier)):
            best = d
    return best


def view(d: MemberDay) -> dict[str, object]:
    """A member day as PUT takes it, so what is read back can be sent again."""
    return {
        "day_id": d.day_id,
        "name": d.name,
        "multiplier": int(str(d.multiplier)),
        "weekdays": [int(str(w)) for w in d.weekdays],
        "dates": list(d.dates),
        "tier_ids": list(d.tier_ids),
        "starts_on": d.starts_on,
        "ends_on": d.ends_on,
    }
