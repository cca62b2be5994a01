"""The member life cycle the scheduled jobs keep: points expiry, reminders, birthdays, wake-ups.

Points expire FIFO over earning lots without tracking lots one by one. Spending
and expiry both consume the oldest points first and lots expire in the order
they were earned (rolling N days, or the end of the year after earning), so what
is left of every lot earned up to a cutoff C is

    max(0, balance - points earned after C)

and that is what expires at C. The expiry posts it through the ledger pinned to
the balance it read (a concurrent spend or a second run recomputes), with an op
key per cutoff, so it happens exactly once and never below zero.

Every job finds its members through `due_index` (a `DUE#{job}` marker per member,
or the coupon itself for reminders), takes at most `limit` of them per run and
stops early when the Lambda's time is nearly up. Each member is settled by moving
or removing its marker in the write that does the work, so a run that times out
leaves the rest due and the next run resumes with them; anything sent or issued
is keyed (coupon id, notice key, op key) so a second or concurrent run repeats
nothing.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pynamodb.models import Model

from mini_program_api.coupons import claims, held
from mini_program_api.db.models import (
    PROFILE,
    Coupon,
    CouponTemplate,
    DueMarker,
    LedgerEntry,
    Member,
    Merchant,
    template_pk,
)
from mini_program_api.db.transact import Cancelled, Transaction, update_if
from mini_program_api.jobs import due, runner
from mini_program_api.members import notices, tiers
from mini_program_api.merchants import merchants
from mini_program_api.money import ledger
from mini_program_api.money.ledger import Account, Operation
from mini_program_api.platform import clock
from mini_program_api.platform.errors import KabaoError
from mini_program_api.wallet import outbox
from mini_program_api.webhooks import events
from mini_program_api.webhooks import outbox as hooks

POINTS_JOB = "points_expiry"
POINTS_WARNING_JOB = "points_warning"
DORMANT_JOB = "dormant"
BIRTHDAY_JOB = "birthday"
MONTHLY_JOB = "monthly_pack"
WARN_BEFORE = timedelta(days=7)
BATCH = 200


def lot_expiry(merchant: Merchant, earned_at: datetime) -> datetime | None:
    """When points earned at `earned_at` expire under the merchant's policy (None: never)."""
    if merchant.points_expiry == "ROLLING":
        return earned_at + timedelta(days=int(merchant.points_expiry_days))
    if merchant.points_expiry == "YEAR_END":
        local_year = earned_at.astimezone(ZoneInfo(merchant.timezone)).year
        return datetime(local_year + 2, 1, 1, tzinfo=ZoneInfo(merchant.timezone))
    return None


def cutoff(merchant: Merchant, now: datetime) -> datetime | None:
    """Points earned at or before this time have expired by `now` (the inverse of lot_expiry)."""
    if merchant.points_expiry == "ROLLING":
        return now - timedelta(days=int(merchant.points_expiry_days))
    if merchant.points_expiry == "YEAR_END":
        local_year = now.astimezone(ZoneInfo(merchant.timezone)).year
        return datetime(local_year - 1, 1, 1, tzinfo=ZoneInfo(merchant.timezone)) - timedelta(microseconds=1)
    return None


def earned_points(
    tx: Transaction, merchant: Merchant, member: Member, points: int, now: datetime, label: str = ""
) -> None:
    """Points earned in `tx` put the member on the expiry (and warning) lists, unless already earlier on them."""
    expires = lot_expiry(merchant, now) if points > 0 else None
    if expires is not None:
        due.mark(tx, member.merchant_id, member.member_id, POINTS_JOB, expires, keep_earlier=True, label=label)
        due.mark(
            tx,
            member.merchant_id,
            member.member_id,
            POINTS_WARNING_JOB,
            expires - WARN_BEFORE,
            keep_earlier=True,
            label=label,
        )


def spent(tx: Transaction, merchant: Merchant, member: Member, now: datetime) -> None:
    """A purchase moves the member's dormant wake-up `dormant_days` into the future."""
    due.mark(tx, member.merchant_id, member.member_id, DORMANT_JOB, now + timedelta(days=int(merchant.dormant_days)))


def card_opened(tx: Transaction, merchant: Merchant, member: Member, birthday: date | None, now: datetime) -> None:
    """A new card goes on the dormant and monthly-pack lists, and on the birthday list when it has a birthday."""
    spent(tx, merchant, member, now)
    due.mark(tx, member.merchant_id, member.member_id, MONTHLY_JOB, now)
    if birthday is not None:
        due.mark(tx, member.merchant_id, member.member_id, BIRTHDAY_JOB, next_birthday(merchant, birthday, now))


def birthday_in(merchant: Merchant, birthday: date, year: int) -> datetime:
    """When the gift is due in `year`: the 1st of the birthday month, or the day itself (29 Feb -> 28 Feb)."""
    day = 1 if merchant.birthday_on == "MONTH" else min(birthday.day, calendar.monthrange(year, birthday.month)[1])
    return datetime(year, birthday.month, day, tzinfo=ZoneInfo(merchant.timezone))


def next_birthday(merchant: Merchant, birthday: date, now: datetime) -> datetime:
    year = now.astimezone(ZoneInfo(merchant.timezone)).year
    this_year = birthday_in(merchant, birthday, year)
    # Inside this year's birthday month (or on the day) the gift is still due now.
    period_end = this_year + timedelta(
        days=calendar.monthrange(year, birthday.month)[1] if merchant.birthday_on == "MONTH" else 1
    )
    return this_year if now < period_end else birthday_in(merchant, birthday, year + 1)


# --- the jobs ---------------------------------------------------------------------------------------


@dataclass
class Report(runner.Report):
    sent: int = 0
    issued: int = 0
    points_expired: int = 0
    changed: int = 0


Handler = Callable[[str, str, datetime, Report], None]


def _run(
    job: str, model: type[Model], handle: Handler, now: datetime | None, limit: int, deadline: float | None
) -> Report:
    at = now or clock.now()
    report = Report(job)
    return runner.due_list(report, model, lambda pk, sk: handle(pk, sk, at, report), at, limit, deadline)


def _member_ids(pk: str) -> tuple[str, str]:
    _, merchant_id, _, member_id = pk.split("#")
    return merchant_id, member_id


def _marker(pk: str, job: str, now: datetime) -> DueMarker | None:
    """The member's marker if it is still due (the index may lag a move or removal)."""
    try:
        marker = DueMarker.get(pk, f"DUE#{job}", consistent_read=True)
    except DueMarker.DoesNotExist:
        return None
    return marker if marker.due_sk is not None and marker.due_sk <= due.stamp(now) else None


def _due_member(pk: str, job: str, now: datetime) -> tuple[DueMarker, Merchant, Member] | None:
    """A member still due for `job`: its marker, merchant and member row (consistent)."""
    marker = _marker(pk, job, now)
    if marker is None:
        return None
    merchant_id, _ = _member_ids(pk)
    return marker, merchants.get(merchant_id), Member.get(pk, PROFILE, consistent_read=True)


def _move(marker: DueMarker, job: str, at: datetime | None) -> None:
    """Move (or with None, remove) a marker, unless someone moved it since we read it."""
    if at is None:
        actions = due.unslot(DueMarker)
    else:
        due_pk, due_sk = due.slot(job, marker.pk, at)
        actions = [DueMarker.due_pk.set(due_pk), DueMarker.due_sk.set(due_sk), *due.settled(DueMarker)]
    update_if(marker, actions, DueMarker.due_sk == marker.due_sk)


def _entries_after(pk: str, group: str, since: datetime) -> Iterator[LedgerEntry]:
    """Entries created strictly after `since` ("#~" sorts after every entry stamped exactly then)."""
    start = f"LEDGER#{group}#{since.astimezone(UTC).isoformat(timespec='microseconds')}#~"
    return LedgerEntry.by_time.query(pk, LedgerEntry.lsi1.between(start, f"LEDGER#{group}#~"), consistent_read=True)


def _lots_after(pk: str, since: datetime) -> tuple[int, datetime | None]:
    """Points earned after `since`, and when the first of those lots was earned. A checkout refund that
    takes back (net) points of a sale made after `since` shrinks that sale's lot: they were never kept."""
    total, first, sales = 0, None, set()
    for entry in _entries_after(pk, "points", since):  # oldest first: a sale comes before its refund
        order_id = entry.memo.as_dict().get("order_id") if entry.memo else None
        if int(entry.amount) > 0:
            total += int(entry.amount)
            first = first or entry.created_at
            if entry.kind == "CHECKOUT":
                sales.add(order_id)
        elif entry.kind == "CHECKOUT_REFUND" and order_id in sales:
            total += int(entry.amount)
    return total, first


def _notify(merchant: Merchant, member: Member, kind: str, key: str, data: dict[str, Any], report: Report) -> None:
    """Send a notice once; a WeChat failure fails this member's item so the next run retries it."""
    outcome = notices.send(merchant, member, kind, key, data)
    if outcome == notices.FAILED:
        raise KabaoError("WECHAT_UNAVAILABLE", f"{kind} message not sent; retried next run")
    report.sent += outcome == notices.SENT


def _local(at: datetime, merchant: Merchant) -> str:
    return clock.minute(at, merchant.timezone)


# coupon expiry reminders


def remind_coupons(now: datetime | None = None, limit: int = BATCH, deadline: float | None = None) -> Report:
    """Three days before an available coupon expires, tell its member (once)."""
    return _run(held.REMINDER_JOB, Coupon, _remind_coupon, now, limit, deadline)


def _remind_coupon(pk: str, sk: str, now: datetime, report: Report) -> None:
    try:
        coupon = Coupon.get(pk, sk, consistent_read=True)
    except Coupon.DoesNotExist:
        return
    if coupon.status == "AVAILABLE" and now < coupon.valid_until:
        merchant_id, member_id = _member_ids(pk)
        merchant = merchants.get(merchant_id)
        member = Member.get(pk, PROFILE)
        _notify(
            merchant,
            member,
            "coupon_expiry",
            f"coupon:{coupon.coupon_id}",
            {"thing1": {"value": coupon.name[:20]}, "time2": {"value": _local(coupon.valid_until, merchant)}},
            report,
        )
    update_if(coupon, due.unslot(Coupon), Coupon.due_sk == coupon.due_sk)


# points expiry and its warning


def expire_points(now: datetime | None = None, limit: int = BATCH, deadline: float | None = None) -> Report:
    return _run(POINTS_JOB, DueMarker, _expire_points, now, limit, deadline)


def _expire_points(pk: str, sk: str, now: datetime, report: Report) -> None:
    if _marker(pk, POINTS_JOB, now) is None:
        return
    merchant_id, member_id = _member_ids(pk)
    merchant = merchants.get(merchant_id)
    cut = cutoff(merchant, now)

    def attempt() -> int:
        member = Member.get(pk, PROFILE, consistent_read=True)
        earned_after, first = _lots_after(pk, cut) if cut else (0, None)
        amount = max(0, int(member.points) - earned_after) if cut else 0
        tx = Transaction()
        next_expiry = lot_expiry(merchant, first) if first else None
        if next_expiry is None:
            due.unmark(tx, merchant_id, member_id, POINTS_JOB)
        else:
            due.mark(tx, merchant_id, member_id, POINTS_JOB, next_expiry)
            due.mark(tx, merchant_id, member_id, POINTS_WARNING_JOB, next_expiry - WARN_BEFORE, keep_earlier=True)
        pinned = Member.points == int(member.points)
        if amount == 0:
            tx.check("member", Member, pk, PROFILE, pinned)
            try:
                tx.commit()
            except Cancelled as exc:
                raise KabaoError("CONCURRENT_UPDATE", "points changed, retry") from exc
            return 0
        assert cut is not None
        op = Operation(
            f"pexpire:{cut.astimezone(UTC):%Y%m%dT%H%M%S%f}",
            "POINTS_EXPIRED",
            ledger.postings({Account.POINTS: -amount}),
            memo={"earned_up_to": cut.isoformat()},
        )
        posted = ledger.post(merchant_id, member_id, op, tx=tx, member_condition=pinned)
        return 0 if posted.replayed else amount

    report.points_expired += tiers.retrying(attempt)


def warn_points(now: datetime | None = None, limit: int = BATCH, deadline: float | None = None) -> Report:
    """Seven days before points expire, tell the member how many (once per expiry)."""
    return _run(POINTS_WARNING_JOB, DueMarker, _warn_points, now, limit, deadline)


def _warn_points(pk: str, sk: str, now: datetime, report: Report) -> None:
    found = _due_member(pk, POINTS_WARNING_JOB, now)
    if found is None:
        return
    marker, merchant, member = found
    expires = datetime.fromisoformat(due.owed_since(marker)) + WARN_BEFORE  # the expiry this marker warns of
    cut = cutoff(merchant, expires)
    if cut is None:
        _move(marker, POINTS_WARNING_JOB, None)
        return
    earned_after, first = _lots_after(pk, cut)
    amount = max(0, int(member.points) - earned_after)
    if amount > 0:
        _notify(
            merchant,
            member,
            "points_expiry",
            f"points:{due.owed_since(marker)}",
            {"number1": {"value": amount}, "time2": {"value": _local(expires, merchant)}},
            report,
        )
    next_expiry = lot_expiry(merchant, first) if first else None
    _move(marker, POINTS_WARNING_JOB, next_expiry - WARN_BEFORE if next_expiry else None)


# birthday gifts


def birthday_gifts(now: datetime | None = None, limit: int = BATCH, deadline: float | None = None) -> Report:
    """In the birthday month (or on the day) the member's tier's birthday coupon, once a year."""
    return _run(BIRTHDAY_JOB, DueMarker, _birthday_gift, now, limit, deadline)


def _gift(merchant: Merchant, member: Member, template_id: str | None, key: str, report: Report) -> None:
    """Issue a gift coupon keyed by `key` (so once); a gift that cannot be issued is reported, not retried."""
    if not template_id:
        return
    try:
        template = CouponTemplate.get(template_pk(merchant.merchant_id), template_id)
        claims.issue(
            merchant.merchant_id, member.member_id, template, claims.coupon_id_for(key), per_member_limit=False
        )
        report.issued += 1
    except CouponTemplate.DoesNotExist:
        report.failed.append("GIFT_TEMPLATE_MISSING")
    except KabaoError as exc:
        report.failed.append(exc.code)  # sold out, expired template: the merchant sees it in the report


def _birthday_gift(pk: str, sk: str, now: datetime, report: Report) -> None:
    found = _due_member(pk, BIRTHDAY_JOB, now)
    if found is None:
        return
    marker, merchant, member = found
    if not member.birthday:
        _move(marker, BIRTHDAY_JOB, None)
        return
    year = datetime.fromisoformat(due.owed_since(marker)).astimezone(ZoneInfo(merchant.timezone)).year
    tier = tiers.current(merchant, member.tier_id)
    _gift(merchant, member, tier.birthday_template_id, f"birthday:{year}", report)
    _notify(merchant, member, "birthday", f"birthday:{year}", {"thing1": {"value": merchant.name[:20]}}, report)
    _move(marker, BIRTHDAY_JOB, birthday_in(merchant, date.fromisoformat(member.birthday), year + 1))


# dormant wake-up


def wake_dormant(now: datetime | None = None, limit: int = BATCH, deadline: float | None = None) -> Report:
    """No purchase for `dormant_days`: one wake-up coupon and message, then not again for the cooldown."""
    return _run(DORMANT_JOB, DueMarker, _wake, now, limit, deadline)


def _wake(pk: str, sk: str, now: datetime, report: Report) -> None:
    found = _due_member(pk, DORMANT_JOB, now)
    if found is None:
        return
    marker, merchant, member = found
    last = member.last_spend_at or member.card_opened_at or member.created_at
    quiet_until = last + timedelta(days=int(merchant.dormant_days))
    if now < quiet_until:
        _move(marker, DORMANT_JOB, quiet_until)  # stale: a purchase moved it on
        return
    key = f"wakeup:{due.owed_since(marker)}"
    _gift(merchant, member, merchant.wakeup_template_id, key, report)
    _notify(merchant, member, "wake_up", key, {"thing1": {"value": merchant.name[:20]}}, report)
    _move(marker, DORMANT_JOB, now + timedelta(days=int(merchant.wakeup_cooldown_days)))


# tier review


def review_tiers(now: datetime | None = None, limit: int = BATCH, deadline: float | None = None) -> Report:
    """12 months after reaching a tier, place the member by the growth of the last 12 months."""
    return _run(tiers.REVIEW_JOB, DueMarker, _review, now, limit, deadline)


def _review(pk: str, sk: str, now: datetime, report: Report) -> None:
    marker = _marker(pk, tiers.REVIEW_JOB, now)
    if marker is None:
        return
    merchant_id, member_id = _member_ids(pk)
    merchant = merchants.get(merchant_id)
    if not merchant.tier_review:  # switched off since the member was put on the list
        _move(marker, tiers.REVIEW_JOB, None)
        return

    def attempt() -> bool:
        member = Member.get(pk, PROFILE, consistent_read=True)
        since = tiers.add_months(now, -12)
        # A window holding more clawed back than earned (a sale before it refunded in it) counts as nothing.
        window = max(0, sum(int(e.amount) for e in _entries_after(pk, "growth", since)))
        placed = tiers.for_growth(merchant, window)
        changed = placed.tier_id != member.tier_id
        actions = [
            Member.tier_id.set(placed.tier_id),
            Member.tier_base.set(int(member.growth) - window),
            Member.tier_window_from.set(since),
        ]
        if changed:
            actions.append(Member.tier_reached_at.set(now))
        tx = Transaction()
        if placed.tier_id == tiers.entry_tier(merchant).tier_id:
            due.unmark(tx, merchant_id, member_id, tiers.REVIEW_JOB)
        else:
            due.mark(tx, merchant_id, member_id, tiers.REVIEW_JOB, tiers.add_months(now, 12))
        tx.update("member", Member(pk, PROFILE), actions=actions, condition=tiers.pinned(member))
        if changed:
            outbox.mark(tx, merchant_id, member_id)
            hooks.add(tx, merchant_id, member_id, events.TIER_CHANGED, events.tier_changed(member, placed, "REVIEW"))
        try:
            tx.commit()
        except Cancelled as exc:
            raise KabaoError("CONCURRENT_UPDATE", "member changed during the review, retry") from exc
        return changed

    report.changed += tiers.retrying(attempt)


# monthly coupon packs


def monthly_packs(now: datetime | None = None, limit: int = BATCH, deadline: float | None = None) -> Report:
    """Each calendar month, the coupons of the member's tier's monthly pack, once per month."""
    return _run(MONTHLY_JOB, DueMarker, _monthly_pack, now, limit, deadline)


def _monthly_pack(pk: str, sk: str, now: datetime, report: Report) -> None:
    found = _due_member(pk, MONTHLY_JOB, now)
    if found is None:
        return
    marker, merchant, member = found
    local = now.astimezone(ZoneInfo(merchant.timezone))
    month = local.strftime("%Y-%m")
    for template_id in tiers.current(merchant, member.tier_id).monthly_template_ids:
        _gift(merchant, member, str(template_id), f"monthly:{month}:{template_id}", report)
    next_month = (local.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    _move(marker, MONTHLY_JOB, next_month)
