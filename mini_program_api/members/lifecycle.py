"""The member life cycle the scheduled jobs keep: points expiry, reminders, birthdays, wake-ups.

Points expire over lots without tracking each lot's remainder. Every lot has an
expiry: an earned lot the merchant's policy applied to its earning time
(`lot_expiry`: rolling N days, or the end of the year after earning); an imported
lot with a date of its own the end of that date in the merchant's zone
(`import_expiry`); an imported lot without one the policy from the import's day.
Spending and expiry take the earliest-expiring points first, and what expires at
T is

    max(0, balance - points in lots expiring after T)

Why: fix T; a lot is short if it expires at or before T, long otherwise. Short
points are always taken before long ones, so the short points held move as
s += c on a short credit and s = max(0, s - d) on any debit d (what s cannot
cover comes out of long lots); long credits leave s alone. Unrolled, s is
max(0, max over k of the entries from the k-th on, long credits left out), that
is max(0, max_k (B - B_k - L_k)) with B the balance, B_k the balance before entry
k and L_k the long credits from k on. k = the first entry gives B - L, the rule.
When expiry follows earning order (earned lots only), a later k cannot do better:
it would need the entries before k (long credits left out) to sum below zero, so a
debit before k took long points; a long lot was then credited before k, and every
lot credited after it is long too, so the entries from k on add no short points
and sum to at most 0. So the rule is today's `max(0, balance - points earned after
the cutoff)` (long lots are the lots earned after `cutoff(T)`).

Imported dated lots break that order, two ways:
- a dated lot merged onto a member who had spent (an older, later-expiring lot
  paid): the maximum starts at the import. The import keeps, on the member row
  (`point_lots`), its points, expiry, time and the balance before it
  (`points_before`, pinned in its transaction), so B - points_before - L_import
  is a candidate beside B - L; the largest counts.
- a short lot credited after debits that reached a longer-dated imported lot: the
  maximum may start at that short lot, whose balance before it is not recorded.
  The rule then expires less than strict earliest-expiring-first would, never
  more (each candidate is one of the sums above, so at most s); what it leaves
  counts as the long lot's and expires with it at the latest.

The long lots after T are found without reading a member's whole history: the
entries after `cutoff(T)` on the ledger's time index (lots earned after it), plus
the dated lots on the member row (an imported lot can be older yet expire later,
or newer and expire sooner). A dated lot leaves the row in the expiry that ends
it. With the policy NONE (never) only dated lots expire, and the entries read are those
from a minute before the earliest of them that T ends. The expiry posts what it found through the
ledger pinned to the balance it read (a concurrent spend or a second run
recomputes), so it happens exactly once and never below zero; the next expiry and
its 7-day warning are the earliest lot expiring after T. Dated lots are on due
lists of their own (`DATED_JOB`, `DATED_WARNING_JOB`), which the same jobs walk.

Every job finds its members through `due_index` (a `DUE#{job}` marker per member,
or the coupon itself for reminders), takes at most `limit` of them per run and
stops early when the Lambda's time is nearly up. Each member is settled by moving
or removing its marker in the write that does the work, so a run that times out
leaves the rest due and the next run resumes with them; anything sent or issued
is keyed (coupon id, notice key, op key) so a second or concurrent run repeats
nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pynamodb.expressions.update import Action
from pynamodb.models import Model

from mini_program_api.coupons import claims, reminders
from mini_program_api.db.coupon_templates import CouponTemplate, template_pk
from mini_program_api.db.coupons import Coupon
from mini_program_api.db.due import DueMarker
from mini_program_api.db.ledger import LedgerEntry
from mini_program_api.db.models import PROFILE, Member, Merchant
from mini_program_api.db.transact import Cancelled, Transaction, update_if
from mini_program_api.jobs import due, runner
from mini_program_api.members import notices, tiers
from mini_program_api.members.due_dates import (
    BIRTHDAY_JOB,
    DATED_JOB,
    DATED_WARNING_JOB,
    DORMANT_JOB,
    MONTHLY_JOB,
    POINTS_JOB,
    POINTS_WARNING_JOB,
    WARN_BEFORE,
    birthday_in,
    cutoff,
    import_expiry,
    lot_expiry,
)
from mini_program_api.merchants import merchants
from mini_program_api.money import ledger
from mini_program_api.money.ledger import Account, Operation
from mini_program_api.platform import clock
from mini_program_api.platform.errors import KabaoError
from mini_program_api.wallet import outbox
from mini_program_api.webhooks import events
from mini_program_api.webhooks import outbox as hooks

BATCH = 200


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


def _run_lists(
    jobs: tuple[str, ...], handle: Handler, now: datetime | None, limit: int, deadline: float | None
) -> Report:
    """One job over several due lists of member markers (the handler tells them apart by the marker's sort key):
    one report, one batch size and one deadline for all of them."""
    at = now or clock.now()
    report = Report(jobs[0])
    for job in jobs:
        if report.stopped_early or report.due >= limit:
            report.more = True
            break
        part = Report(job)
        runner.due_list(part, DueMarker, lambda pk, sk: handle(pk, sk, at, report), at, limit - report.due, deadline)
        report.due += part.due
        report.done += part.done
        report.failed += part.failed
        report.stopped_early = report.stopped_early or part.stopped_early
        report.more = report.more or part.more
    return report


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


# An entry's time is when its transaction was staged, not committed: a credit staged shortly before a dated lot's
# import may have committed after it, outside the balance the import pinned. Credits this close before a lot count
# as after it (as long, so the lot's candidate can only be smaller: never more expires).
_SETTLING = timedelta(minutes=1)


@dataclass(frozen=True)
class DatedLot:
    """A dated imported lot from the member row (`point_lots`)."""

    key: str
    points: int
    expires_at: datetime
    credited_at: datetime
    points_before: int


def _dated(member: Member) -> list[DatedLot]:
    lots = member.point_lots.as_dict() if member.point_lots is not None else {}
    return [
        DatedLot(
            key,
            int(lot["points"]),
            datetime.fromisoformat(lot["expires_at"]),
            datetime.fromisoformat(lot["credited_at"]),
            int(lot["points_before"]),
        )
        for key, lot in lots.items()
    ]


@dataclass(frozen=True)
class Owed:
    amount: int  # what expires at the time asked about
    next_earned: datetime | None  # when the earliest earned (or undated imported) lot left after it expires
    next_dated: datetime | None  # when the earliest dated imported lot left after it expires
    gone: list[str]  # the dated lots (import ids) that time ends

    def next(self, job: str) -> datetime | None:
        """The next expiry the list of `job` (an expiry or warning list) is for."""
        return self.next_dated if job in (DATED_JOB, DATED_WARNING_JOB) else self.next_earned


def _owed(pk: str, merchant: Merchant, member: Member, at: datetime) -> Owed:
    """What expires at `at` from the member's points as read (see the module docstring)."""
    lots = _dated(member)
    cut = cutoff(merchant, at)
    since = cut if cut is not None else min((lot.credited_at for lot in lots if lot.expires_at <= at), default=None)
    # strictly after the cutoff: the lots earned exactly at it are short; under NONE from _SETTLING before the first
    # short lot's entry (the credits staged that close before a lot count as after it: they must be read).
    entries = (
        [
            Entry(e.created_at, int(e.amount), str(e.kind), e.memo.as_dict() if e.memo else {})
            for e in _entries_after(pk, "points", since - _SETTLING if cut is None else since)
        ]
        if since is not None
        else []
    )
    return expiring(merchant, int(member.points), lots, entries, at)


@dataclass(frozen=True)
class Entry:
    """A points entry as the expiry reads it."""

    created_at: datetime
    amount: int
    kind: str
    memo: dict[str, Any]


def expiring(merchant: Merchant, balance: int, lots: list[DatedLot], entries: list[Entry], at: datetime) -> Owed:
    """What expires at `at` from `balance`, given the dated lots on the member row and the points entries after
    `cutoff(at)` (under NONE: from a minute before the earliest dated lot `at` ends), oldest first. Pure: the rule
    itself."""
    cut = cutoff(merchant, at)
    short = [lot for lot in lots if lot.expires_at <= at]
    # Long credits read from the ledger, each at its lot's time (a refund's take-back at its sale's), and the
    # first earned lot after the cutoff: the earliest-expiring earned lot left.
    long: list[tuple[datetime, int]] = []
    first: datetime | None = None
    seen: set[str] = set()
    later_dated: list[datetime] = []
    sales: dict[str, datetime] = {}
    for entry in entries:
        memo = entry.memo
        if entry.kind == ledger.IMPORT and memo.get("points_expire_on"):
            # a dated lot's entry: its own expiry, whether or not it is still on the row
            seen.add(str(memo.get("import_id")))
            expires = import_expiry(merchant, str(memo["points_expire_on"]))
            if entry.amount > 0 and expires > at:
                long.append((entry.created_at, entry.amount))
                later_dated.append(expires)
        elif entry.amount > 0:
            if cut is not None:  # under NONE an earned lot never expires: it is long, and never next
                first = first or entry.created_at
            long.append((entry.created_at, entry.amount))
            if entry.kind == "CHECKOUT":
                sales[str(memo.get("order_id"))] = entry.created_at
        elif entry.kind == "CHECKOUT_REFUND" and str(memo.get("order_id")) in sales:
            long.append((sales[str(memo.get("order_id"))], entry.amount))  # the sale's lot was never all kept
    unread = [lot for lot in lots if lot.expires_at > at and lot.key not in seen]

    def long_from(start: datetime | None) -> int:
        since = start - _SETTLING if start is not None else None
        read = sum(a for t, a in long if since is None or t >= since)
        return read + sum(lot.points for lot in unread if since is None or lot.credited_at >= since)

    candidates = [balance - lot.points_before - long_from(lot.credited_at) for lot in short]
    if cut is not None:
        candidates.append(balance - long_from(None))
    amount = min(balance, max(0, *candidates)) if candidates else 0
    dated_next = min([lot.expires_at for lot in unread] + later_dated, default=None)
    earned_next = lot_expiry(merchant, first) if first is not None else None
    return Owed(amount, earned_next, dated_next, [lot.key for lot in short])


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
    return _run(reminders.REMINDER_JOB, Coupon, _remind_coupon, now, limit, deadline)


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
    return _run_lists((POINTS_JOB, DATED_JOB), _expire_points, now, limit, deadline)


def _expire_points(pk: str, sk: str, now: datetime, report: Report) -> None:
    job = sk.removeprefix("DUE#")
    if _marker(pk, job, now) is None:
        return
    merchant_id, member_id = _member_ids(pk)
    merchant = merchants.get(merchant_id)

    def attempt() -> int:
        member = Member.get(pk, PROFILE, consistent_read=True)
        owed = _owed(pk, merchant, member, now)
        tx = Transaction()
        # Both lists move to their next expiry; the other list's marker is only written when there is one (or the
        # member still had dated lots), so a member who never had a dated lot gets no marker for them.
        for listed, warned, at in (
            (POINTS_JOB, POINTS_WARNING_JOB, owed.next_earned),
            (DATED_JOB, DATED_WARNING_JOB, owed.next_dated),
        ):
            if at is not None:
                due.mark(tx, merchant_id, member_id, listed, at)
                due.mark(tx, merchant_id, member_id, warned, at - WARN_BEFORE, keep_earlier=True)
            elif listed == job or (listed == DATED_JOB and member.point_lots is not None):
                due.unmark(tx, merchant_id, member_id, listed)
        pinned = Member.points == int(member.points)
        # The dated lots this time ends leave the row with the expiry that ends them (pinned with it).
        gone: list[Action] = []
        if owed.gone:
            everything = len(owed.gone) == len(member.point_lots.as_dict())
            gone = [Member.point_lots.remove()] if everything else [Member.point_lots[k].remove() for k in owed.gone]
            pinned &= Member.point_lots.exists()
        if owed.amount == 0:
            if gone:
                tx.update("member", Member(pk, PROFILE), actions=gone, condition=pinned)
            else:
                tx.check("member", Member, pk, PROFILE, pinned)
            try:
                tx.commit()
            except Cancelled as exc:
                raise KabaoError("CONCURRENT_UPDATE", "points changed, retry") from exc
            return 0
        cut = cutoff(merchant, now)
        # Keyed by the cutoff when only earned lots expire (one expiry per cutoff); by the time when it ends dated
        # lots, which end on any day (YEAR_END has one cutoff all year: a second dated lot that year would reuse it).
        upto = cut if cut is not None and not owed.gone else now
        op = Operation(
            f"pexpire:{upto.astimezone(UTC):%Y%m%dT%H%M%S%f}",
            "POINTS_EXPIRED",
            ledger.postings({Account.POINTS: -owed.amount}),
            memo={"earned_up_to": cut.isoformat()} if cut else {"expired_at": now.isoformat()},
        )
        posted = ledger.post(merchant_id, member_id, op, tx=tx, member_actions=gone, member_condition=pinned)
        return 0 if posted.replayed else owed.amount

    report.points_expired += tiers.retrying(attempt)


def warn_points(now: datetime | None = None, limit: int = BATCH, deadline: float | None = None) -> Report:
    """Seven days before points expire, tell the member how many (once per expiry)."""
    return _run_lists((POINTS_WARNING_JOB, DATED_WARNING_JOB), _warn_points, now, limit, deadline)


def _warn_points(pk: str, sk: str, now: datetime, report: Report) -> None:
    job = sk.removeprefix("DUE#")
    found = _due_member(pk, job, now)
    if found is None:
        return
    marker, merchant, member = found
    expires = datetime.fromisoformat(due.owed_since(marker)) + WARN_BEFORE  # the expiry this marker warns of
    owed = _owed(pk, merchant, member, expires)
    if owed.amount > 0:
        _notify(
            merchant,
            member,
            "points_expiry",
            f"points:{due.owed_since(marker)}",  # one message when both lists warn of the same time
            # the last minute they can be spent: a date's end (local midnight) reads as that date 23:59, not the next
            # day's 00:00 (the file, and YEAR_END, name the last day)
            {
                "number1": {"value": owed.amount},
                "time2": {"value": _local(expires - timedelta(microseconds=1), merchant)},
            },
            report,
        )
    after = owed.next(job)
    _move(marker, job, after - WARN_BEFORE if after else None)


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
