"""Issuing a coupon template to a list of members or to a filter, as a resumable admin job.

An admin creates the job (POST, with an Idempotency-Key: the job id derives from it, so a
retried POST returns the same job and a different body is 422). The job sits on the
`issue_job` list of `due_index` while it runs; the scheduled `issue_jobs` function (and
tests) work through it a page at a time:

- a page is the next `member_ids` of the list (cursor: an offset), or the next cardholders
  of the merchant's sharded `cardholders` index (members/cardholders.py, its cursor) — or, for a
  filter with an RFM `segment`, the next members of that segment on the roster index as the
  last nightly scoring filed them (reports/rfm.py; cursor: the last member id read) — read
  with a Query per partition it reaches and one BatchGetItem and filtered by tier, dormancy and birthday month;
- each member's coupon has an id derived from (job, member), and its result item and the
  job's `issued` count are written in the coupon's own transaction (coupons.issue `also`),
  so a page done again after a crash or by a second runner gives no member two and counts
  nobody twice: `issued` always equals the job's coupons members hold;
- a job's results and counts are spread over its `shards` (`ISSUE_JOB_SHARDS`) by a hash of the member
  id: results under `MCH#{mid}#ISSUEJOB#{job}#{shard}`, counts (issued, failed, sold_out) on an
  IssueCount item per shard, each moved in the member's own transaction. One job item and one results
  partition took a write per member each (236% and 225% of a partition's writes at 1000 members a
  second: bench/README.md, heat). A read sums the shards (`counted`) and the results page walks them with
  one cursor. A job from before the split (no `shards`) keeps what it wrote: counts on its job item
  (added to the shards'), results in its one partition (read too, first, for every job: an old runner during
  the deploy may write there), and writes on into the shards;
- a member who cannot be given one (no card, sold out, not in the template's tiers, not a
  member of this merchant) gets a FAILED result and the job's `failed` count, in one
  transaction, and the job moves on; a database that does not answer fails the page, and
  the job is deferred with backoff (jobs/due.py) and resumes from its saved cursor;
- the cursor is saved after each page, pinned to the cursor read, so two runners never
  both advance one job; a paused template defers the job, an ended or expired one stops it;
- the jobs due in a run take turns: each gets an even share of the run's time left (jobs/runner.py `turn`), at
  least a page, so a job of a million members, first on the list, gives way to a small one behind it in every
  run instead of holding it until it is done;
- members refused SOLD_OUT are counted apart (`sold_out`): a job that ends its pass with some stays on
  the list, DONE, and every `SOLD_OUT_RECHECK` looks at the template's stock; once the merchant has added
  stock, those members are issued (their FAILED result becomes ISSUED and the counts move, in the coupon's
  own transaction, so nobody gets two), until none is left or the template ends.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from mini_program_api.coupons import claims, stock, template_admin
from mini_program_api.db import transact
from mini_program_api.db.coupon_templates import CouponTemplate
from mini_program_api.db.issue_jobs import (
    IssueCount,
    IssueJob,
    IssueResult,
    issue_count_pk,
    issue_job_pk,
    issue_result_pk,
    issue_shard,
)
from mini_program_api.db.models import PROFILE, Member, Merchant, member_pk
from mini_program_api.db.schema import ISSUE_JOB_LIST, ISSUE_JOB_SHARDS
from mini_program_api.db.segments import RFM_SEGMENTS, Segment, segment_pk
from mini_program_api.db.tags import TagDef, tags_pk
from mini_program_api.db.transact import Cancelled, Transaction, update_if
from mini_program_api.jobs import due, records, runner
from mini_program_api.members import cardholders, tiers, welcome_gift
from mini_program_api.merchants import merchants
from mini_program_api.money import idempotency
from mini_program_api.platform import clock, paging
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.staff import audit

log = logging.getLogger(__name__)
JOB = ISSUE_JOB_LIST
PAGE = 25
MAX_MEMBER_IDS = 1000
SOLD_OUT_RECHECK = timedelta(minutes=10)
RUNNING, DONE, STOPPED = "RUNNING", "DONE", "STOPPED"
ISSUED, FAILED = "ISSUED", "FAILED"
SOLD_OUT = "SOLD_OUT"
COUNT = "COUNT"  # the sort key of a job's count shards
# A member's own problem: recorded on their result, the job goes on. Anything else a KabaoError says
# (the database busy or down) fails the page, which is done again later.
MEMBER_ERRORS = frozenset({"CARD_NOT_OPEN", "MEMBER_NOT_FOUND", "SOLD_OUT", "TIER_NOT_ELIGIBLE", "NOT_FOUND"})


@dataclass(frozen=True)
class Filter:
    """Who a filter job is for: every criterion given must hold (none given is refused)."""

    tier_ids: tuple[str, ...] = ()
    dormant: bool | None = None  # True: no purchase for the merchant's `dormant_days`
    birthday_month: int | None = None  # 1..12
    segment: str | None = None  # an RFM segment: the members come from its roster partition, not every cardholder
    tag_ids: tuple[str, ...] = ()  # the member carries at least one of them (member_care/tags.py)

    def matches(self, merchant: Merchant, member: Member, now: datetime) -> bool:
        if self.tier_ids and tiers.current(merchant, member.tier_id).tier_id not in self.tier_ids:
            return False
        if self.tag_ids and not set(self.tag_ids) & set(member.tag_ids or ()):
            return False
        if self.dormant is not None:
            last = member.last_spend_at or member.card_opened_at or member.created_at
            if (now - last >= timedelta(days=int(merchant.dormant_days))) != self.dormant:
                return False
        if self.birthday_month is not None:
            if not member.birthday or int(member.birthday[5:7]) != self.birthday_month:
                return False
        return True

    def stored(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if v not in (None, ())}

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> Filter:
        return cls(
            tier_ids=tuple(data.get("tier_ids") or ()),
            dormant=data.get("dormant"),
            birthday_month=int(data["birthday_month"]) if data.get("birthday_month") is not None else None,
            segment=data.get("segment"),
            tag_ids=tuple(data.get("tag_ids") or ()),
        )


def require_tags(merchant_id: str, tag_ids: tuple[str, ...]) -> None:
    """A filter names only the merchant's own tags (another merchant's id is as unknown as a made-up one)."""
    if not tag_ids:
        return
    found = {t.sk for t in TagDef.batch_get([(tags_pk(merchant_id), t) for t in set(tag_ids)])}
    unknown = set(tag_ids) - found
    if unknown:
        raise KabaoError("VALIDATION_ERROR", f"unknown tags: {', '.join(sorted(unknown))}")


def _usable(merchant_id: str, template_id: str, now: datetime) -> CouponTemplate:
    template = template_admin.get(merchant_id, template_id)
    why = welcome_gift.usable(template, now)
    if why:
        raise KabaoError("TEMPLATE_NOT_USABLE", f"template {template_id}: {why}", template_id=template_id)
    return template


def create(
    actor: Principal, template_id: str, member_ids: list[str] | None, where: Filter | None, idempotency_key: str | None
) -> IssueJob:
    """A new job, audited in its own transaction; the same key and body again return it."""
    merchant_id = actor.merchant_id
    key = idempotency.client_key(merchant_id, "issuejob", idempotency_key)
    if (member_ids is None) == (where is None):
        raise KabaoError("VALIDATION_ERROR", "give exactly one of member_ids or filter")
    if member_ids is not None and not 1 <= len(member_ids) <= MAX_MEMBER_IDS:
        raise KabaoError("VALIDATION_ERROR", f"member_ids holds 1..{MAX_MEMBER_IDS} ids")
    if where is not None:
        if not where.stored():
            raise KabaoError("VALIDATION_ERROR", "a filter needs at least one criterion")
        unknown = set(where.tier_ids) - {t.tier_id for t in merchants.get(merchant_id).tiers}
        if unknown:
            raise KabaoError("VALIDATION_ERROR", f"unknown tiers: {', '.join(sorted(unknown))}")
        if where.segment is not None and where.segment not in RFM_SEGMENTS:
            raise KabaoError("VALIDATION_ERROR", f"segment is one of {', '.join(RFM_SEGMENTS)}")
        require_tags(merchant_id, where.tag_ids)
    ids = list(dict.fromkeys(member_ids)) if member_ids is not None else None  # a member listed twice gets one
    body = {"template_id": template_id, "member_ids": ids, "filter": where.stored() if where else None}
    fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    job_id = key.derived_id("J")

    def made() -> IssueJob | None:
        """The job an earlier request with this key made, with its counts (`counted`), as GET answers it."""
        found = _find(merchant_id, job_id)
        return counted([found])[0] if found is not None else None

    existing = made()
    if existing is not None:
        return idempotency.same(existing, fingerprint)
    now = clock.now()
    _usable(merchant_id, template_id, now)
    due_pk, due_sk = due.slot(JOB, f"{merchant_id}#{job_id}", now)
    job = IssueJob(
        issue_job_pk(merchant_id),
        job_id,
        merchant_id=merchant_id,
        job_id=job_id,
        template_id=template_id,
        member_ids=ids,
        filter=where.stored() if where else None,
        status=RUNNING,
        fingerprint=fingerprint,
        created_by=actor.subject,
        created_at=now,
        lsi1=records.listed(now, job_id),
        due_pk=due_pk,
        due_sk=due_sk,
        shards=ISSUE_JOB_SHARDS,
    )
    tx = Transaction()
    tx.put("job", job, condition=IssueJob.sk.does_not_exist())
    audit.record(
        tx,
        actor,
        "ISSUE_JOB_CREATED",
        job_id,
        {
            "template_id": template_id,
            "members": len(ids) if ids is not None else -1,
            "filter": json.dumps(body["filter"], sort_keys=True) if where else "",
        },
        now,
    )
    return idempotency.created_once(tx, job, made)


RECORDS = records.Records(IssueJob, issue_job_pk, "no such issue job")
_find = RECORDS.find


def get(merchant_id: str, job_id: str) -> IssueJob:
    """The job with its counts summed (`counted`)."""
    return counted([RECORDS.get(merchant_id, job_id)])[0]


def page(merchant_id: str, cursor: str | None, limit: int) -> paging.Page[IssueJob]:
    """The merchant's jobs with their counts summed (`counted`: one BatchGetItem for the page's shards)."""
    got = RECORDS.page(merchant_id, cursor, limit)
    return paging.Page(counted(got.items), got.cursor)


def counted(jobs: list[IssueJob]) -> list[IssueJob]:
    """The jobs with `issued`, `failed` and `sold_out` set to their totals in memory (never saved): what the
    job item counted before the split plus every count shard, read consistently, so at rest `issued` is the
    job's coupons members hold (a read during a run may be a member behind)."""
    keys = [(issue_count_pk(j.merchant_id, j.job_id, n), COUNT) for j in jobs for n in range(_shards(j))]
    shards = {c.pk: c for c in IssueCount.batch_get(keys, consistent_read=True)} if keys else {}
    for job in jobs:
        mine = [
            shards[pk] for n in range(_shards(job)) if (pk := issue_count_pk(job.merchant_id, job.job_id, n)) in shards
        ]
        job.issued = int(job.issued or 0) + sum(int(c.issued or 0) for c in mine)
        job.failed = int(job.failed or 0) + sum(int(c.failed or 0) for c in mine)
        job.sold_out = int(job.sold_out or 0) + sum(int(c.sold_out or 0) for c in mine)
    return jobs


def results(merchant_id: str, job_id: str, cursor: str | None, limit: int) -> paging.Page[IssueResult]:
    """What each member got, partition by partition (the one from before the split first, then the shards),
    each by member id. The cursor names the partition and the last member read; one from before the split
    (paging's, the member alone) is a place in the first partition."""
    job = RECORDS.get(merchant_id, job_id)
    partitions = _result_partitions(job)
    at, after = _results_start(cursor, len(partitions))
    items: list[IssueResult] = []
    while at < len(partitions):
        need = limit - len(items)
        condition = IssueResult.sk > after if after else None
        items += IssueResult.query(partitions[at], condition, limit=need, page_size=need, consistent_read=True)
        if len(items) >= limit:
            return paging.Page(items, _results_cursor(at, str(items[-1].sk)))
        at, after = at + 1, ""
    return paging.Page(items, None)


# A job from before the split records no `shards`, yet writes on into shards: always these 8 (ISSUE_JOB_SHARDS at
# the split), so a higher ISSUE_JOB_SHARDS later never moves a member's result out of where it is looked up.
BEFORE_THE_SPLIT_SHARDS = 8


def _shards(job: IssueJob) -> int:
    return int(job.shards) if job.shards is not None else BEFORE_THE_SPLIT_SHARDS


def _result_partitions(job: IssueJob) -> list[str]:
    """Where the job's results are: its one partition of before the split, then its shards. The one partition
    of every job, not only of one from before the split: during the deploy a runner still on the old code can
    take up a job made after it, and writes there (counted on the job item, which `counted` adds in)."""
    legacy = issue_result_pk(job.merchant_id, job.job_id)
    return [legacy] + [issue_result_pk(job.merchant_id, job.job_id, n) for n in range(_shards(job))]


def _result_key(job: IssueJob, member_id: str) -> tuple[str, str]:
    return issue_result_pk(job.merchant_id, job.job_id, issue_shard(member_id, _shards(job))), member_id


def _counts(job: IssueJob, member_id: str) -> IssueCount:
    """The count shard a member's result moves (created by its first ADD)."""
    return IssueCount(issue_count_pk(job.merchant_id, job.job_id, issue_shard(member_id, _shards(job))), COUNT)


def _results_cursor(at: int, after: str) -> str:
    raw = json.dumps({"p": at, "sk": after}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _results_start(cursor: str | None, partitions: int) -> tuple[int, str]:
    if not cursor:
        return 0, ""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at, after = (data.get("p", 0), data["sk"]) if isinstance(data, dict) and set(data) <= {"p", "sk"} else (-1, "")
    except (ValueError, TypeError, KeyError, RecursionError, binascii.Error):
        at, after = -1, ""
    if type(at) is not int or not 0 <= at < partitions or not isinstance(after, str) or not after:
        raise KabaoError("INVALID_CURSOR", "cursor is not valid for this list")
    return at, after


def coupon_id(job_id: str, member_id: str) -> str:
    return claims.coupon_id_for(f"issue:{job_id}:{member_id}")


# --- working through a job ------------------------------------------------------------------------


@dataclass
class Report(runner.Report):
    job: str = JOB
    jobs: int = 0  # running jobs worked on
    pages: int = 0
    issued: int = 0  # coupons the jobs' counts grew by during this run


def run(
    now: datetime | None = None,
    page_size: int = PAGE,
    max_pages: int | None = None,
    deadline: float | None = None,
    limit: int = 20,
) -> Report:
    """Work through the running jobs, page by page, until they are done, `max_pages` pages were
    done or `deadline` (time.monotonic) is near; whatever is left is resumed by the next run."""
    at = now or clock.now()
    report = Report()
    pages: list[int | None] = [max_pages]  # what is left of `max_pages`, shared by the jobs of this run

    def work(pk: str, sk: str) -> None:
        job = _find(pk.split("#")[1], sk)
        if job is None or job.due_sk is None or job.status not in (RUNNING, DONE):
            return
        if job.status == RUNNING and pages[0] is not None and pages[0] <= 0:
            report.more = True
            return
        report.jobs += 1
        issued_before = int(counted([job])[0].issued)  # the job's totals from here on
        try:
            if job.status == DONE:  # its pass is over; members refused SOLD_OUT wait for stock
                _retry_sold_out(job, at, deadline, report)
            else:
                waiting = report.due - report.done - len(report.failed)  # this job and those after it in this run
                pages[0] = _work(job, at, page_size, pages[0], deadline, report, runner.turn(deadline, waiting))
        finally:
            after = _find(job.merchant_id, job.job_id)
            report.issued += int(counted([after])[0].issued) - issued_before if after is not None else 0

    runner.due_list(report, IssueJob, work, at, limit, deadline)
    report.more = report.more or (pages[0] is not None and pages[0] <= 0)
    return report


def _work(
    job: IssueJob,
    now: datetime,
    page_size: int,
    max_pages: int | None,
    deadline: float | None,
    report: Report,
    turn: float | None = None,
) -> int | None:
    """The job's pages until it is done, `max_pages` (None: no limit), the deadline or the end of its `turn` (at
    least one page): a job of a million members gives way to the jobs due behind it, each run, and goes on at the
    next. Returns the pages left."""
    merchant = merchants.get(job.merchant_id)
    template = template_admin.get(job.merchant_id, job.template_id)
    state = template_admin.status(template, now)
    if state in ("ended", "expired"):
        _finish(job, STOPPED)
        return max_pages
    if state != "active":
        raise KabaoError("TEMPLATE_NOT_USABLE", f"the template is {state}: the job waits")
    pages = max_pages
    while pages is None or pages > 0:
        if runner.out_of_time(deadline):
            report.stopped_early = report.more = True
            break
        member_ids, scanned, next_cursor = _next_page(job, merchant, now, page_size)
        for member_id in member_ids:
            _give(job, template, member_id, now)
        report.pages += 1
        if pages is not None:
            pages -= 1
        if not _advance(job, scanned, next_cursor, now):
            break  # another runner moved it on (it carries on from there)
        if next_cursor is None:
            _wait_for_stock(job, now)
            break
        job.cursor = next_cursor
        if runner.out_of_time(turn):
            report.more = True  # its turn is over: the jobs behind it get theirs, it goes on next run
            break
    return pages


def _next_page(job: IssueJob, merchant: Merchant, now: datetime, size: int) -> tuple[list[str], int, str | None]:
    """The page's members to give to, how many were looked at, and the cursor after it (None: the end)."""
    if job.member_ids is not None:
        start = int(job.cursor or 0)
        chunk = [str(m) for m in job.member_ids[start : start + size]]
        end = start + len(chunk)
        return chunk, len(chunk), (str(end) if end < len(job.member_ids) else None)
    where = Filter.from_stored(job.filter.as_dict() if hasattr(job.filter, "as_dict") else dict(job.filter or {}))
    if where.segment is not None:
        # the segment's roster partition (eventually consistent, like every GSI): the member ids, then their rows
        after = Segment.roster_sk > job.cursor if job.cursor else None
        filed = Segment.roster.query(segment_pk(job.merchant_id, where.segment), after, limit=size, page_size=size)
        keys = [(member_pk(job.merchant_id, str(s.roster_sk)), PROFILE) for s in filed]
        cursor = keys[-1][0].rsplit("#", 1)[1] if len(keys) == size else None
    else:
        walked = cardholders.page(job.merchant_id, job.cursor, size)
        keys, cursor = walked.keys, walked.cursor
    if not keys:
        return [], 0, None
    rows = {m.member_id: m for m in Member.batch_get(keys, consistent_read=True)}
    ordered = [pk.rsplit("#", 1)[1] for pk, _ in keys]
    chosen = [mid for mid in ordered if mid in rows and where.matches(merchant, rows[mid], now)]
    return chosen, len(keys), cursor


def _give(job: IssueJob, template: CouponTemplate, member_id: str, now: datetime) -> None:
    """Issue the job's coupon to one member, once, counted in the coupon's own transaction."""
    result_key = _result_key(job, member_id)
    if _settled(job, result_key):
        return  # settled by an earlier run

    def count(tx: Transaction) -> None:
        tx.put(
            "result",
            IssueResult(
                *result_key, member_id=member_id, status=ISSUED, coupon_id=coupon_id(job.job_id, member_id), at=now
            ),
            condition=IssueResult.sk.does_not_exist(),
        )
        tx.update("counts", _counts(job, member_id), actions=[IssueCount.issued.add(1)])

    try:
        claims.issue(
            job.merchant_id, member_id, template, coupon_id(job.job_id, member_id), per_member_limit=False, also=count
        )
    except Cancelled:
        return  # a concurrent runner recorded this member first
    except KabaoError as exc:
        if exc.code not in MEMBER_ERRORS:
            raise
        _record_failure(job, result_key, member_id, exc.code, now)
    except Exception as exc:  # noqa: BLE001 - a bug on one member is recorded, it does not stall the job
        if transact.unavailable(exc):
            raise  # DynamoDB did not answer: not the member's fault, so the job is deferred and tries them again
        log.warning("issue job member failed", extra={"job": JOB, "error": type(exc).__name__}, exc_info=True)
        _record_failure(job, result_key, member_id, type(exc).__name__, now)


def _settled(job: IssueJob, result_key: tuple[str, str]) -> bool:
    """Whether the member has a result: in their shard, or (a job from before the split) in its one partition."""
    keys = [result_key]
    if job.shards is None:
        keys.append((issue_result_pk(job.merchant_id, job.job_id), result_key[1]))
    return any(True for _ in IssueResult.batch_get(keys, consistent_read=True))


def _record_failure(job: IssueJob, result_key: tuple[str, str], member_id: str, error: str, now: datetime) -> None:
    tx = Transaction()
    tx.put(
        "result",
        IssueResult(*result_key, member_id=member_id, status=FAILED, error=error, at=now),
        condition=IssueResult.sk.does_not_exist(),
    )
    counts = [IssueCount.failed.add(1), *([IssueCount.sold_out.add(1)] if error == SOLD_OUT else [])]
    tx.update("counts", _counts(job, member_id), actions=counts)
    try:
        tx.commit()
    except Cancelled:
        pass  # recorded already (a concurrent runner)


def _advance(job: IssueJob, scanned: int, cursor: str | None, now: datetime) -> bool:
    """Save the cursor after a page (None: the last page, the job is DONE in the same write), pinned to
    the cursor this runner started from, so two runners never both advance one job. A DONE job stays on the
    list for its stock recheck in that same write (`_wait_for_stock` then takes it off if nobody waits): a run
    killed between two writes would otherwise leave members refused SOLD_OUT off the list for good."""
    pinned = records.read_from(IssueJob.cursor, job.cursor)
    actions: list[Action] = [IssueJob.scanned.add(scanned)]
    if cursor is not None:
        actions.append(IssueJob.cursor.set(cursor))
    else:
        actions += [
            IssueJob.status.set(DONE),
            IssueJob.finished_at.set(clock.now()),
            *_slot(job, now + SOLD_OUT_RECHECK),
        ]
    return update_if(job, actions, pinned & (IssueJob.status == RUNNING))


def _finish(job: IssueJob, status: str) -> None:
    update_if(
        job,
        [IssueJob.status.set(status), IssueJob.finished_at.set(clock.now()), *due.unslot(IssueJob)],
        IssueJob.status == RUNNING,
    )


# --- members refused SOLD_OUT, once stock is added ----------------------------------------------------


def _wait_for_stock(job: IssueJob, now: datetime) -> None:
    """A DONE job with members still refused SOLD_OUT stays on the list to look for new stock; without, it
    leaves the list."""
    after = _find(job.merchant_id, job.job_id)
    if after is None:
        return
    if int(counted([after])[0].sold_out or 0) > 0:
        _recheck(after, now)
    elif after.due_sk is not None:
        update_if(after, due.unslot(IssueJob), IssueJob.status == DONE)


def _recheck(job: IssueJob, now: datetime) -> None:
    update_if(job, _slot(job, now + SOLD_OUT_RECHECK), IssueJob.status == DONE)


def _slot(job: IssueJob, at: datetime) -> list[Action]:
    due_pk, due_sk = due.slot(JOB, f"{job.merchant_id}#{job.job_id}", at)
    return [IssueJob.due_pk.set(due_pk), IssueJob.due_sk.set(due_sk), *due.settled(IssueJob)]


def _retry_sold_out(job: IssueJob, now: datetime, deadline: float | None, report: Report) -> None:
    """Issue to the job's members refused SOLD_OUT if the template has stock again; look again later if not,
    and stop looking when none is left or the template ended or expired."""
    template = template_admin.get(job.merchant_id, job.template_id)
    state = template_admin.status(template, now)
    if int(job.sold_out or 0) <= 0 or state in ("ended", "expired"):  # its total (`run` counted it)
        update_if(job, due.unslot(IssueJob), IssueJob.status == DONE)
        return
    if state != "active" or stock.remaining_stock(job.merchant_id, template) <= 0:
        _recheck(job, now)
        return
    refused = (
        result
        for pk in _result_partitions(job)
        for result in IssueResult.query(
            pk, filter_condition=(IssueResult.status == FAILED) & (IssueResult.error == SOLD_OUT), consistent_read=True
        )
    )
    for result in refused:
        if runner.out_of_time(deadline):
            report.stopped_early = report.more = True
            return  # still due: the next run goes on with the rest
        if not _reissue(job, template, result, now):
            _recheck(job, now)  # sold out again
            return
    _wait_for_stock(job, now)


def _reissue(job: IssueJob, template: CouponTemplate, result: IssueResult, now: datetime) -> bool:
    """Issue the coupon a member was refused for want of stock; False when the stock ran out again. Their
    FAILED result becomes ISSUED and the counts move in the coupon's transaction, conditional on the result
    still being that refusal, so a concurrent runner or a run done again issues nobody twice."""
    member_id = str(result.member_id)
    cid = coupon_id(job.job_id, member_id)
    still_refused = (IssueResult.status == FAILED) & (IssueResult.error == SOLD_OUT)

    def count(tx: Transaction) -> None:
        tx.update(
            "result",
            IssueResult(result.pk, result.sk),
            actions=[
                IssueResult.status.set(ISSUED),
                IssueResult.coupon_id.set(cid),
                IssueResult.error.remove(),
                IssueResult.at.set(now),
            ],
            condition=still_refused,
        )
        # the member's count shard, wherever their refusal was counted: only the totals are kept
        tx.update(
            "counts",
            _counts(job, member_id),
            actions=[IssueCount.issued.add(1), IssueCount.failed.add(-1), IssueCount.sold_out.add(-1)],
        )

    try:
        claims.issue(job.merchant_id, member_id, template, cid, per_member_limit=False, also=count)
    except Cancelled:
        return True  # another runner issued it first
    except KabaoError as exc:
        if exc.code == SOLD_OUT:
            return False
        if exc.code not in MEMBER_ERRORS:
            raise
        # Refused for another reason now (the card closed, the tier changed): recorded, no longer waiting.
        tx = Transaction()
        tx.update(
            "result",
            IssueResult(result.pk, result.sk),
            actions=[IssueResult.error.set(exc.code)],
            condition=still_refused,
        )
        tx.update("counts", _counts(job, member_id), actions=[IssueCount.sold_out.add(-1)])
        try:
            tx.commit()
        except Cancelled:
            pass  # settled by a concurrent runner
    else:
        _drop_if_spare(job, result, still_refused)
    return True


def _drop_if_spare(job: IssueJob, result: IssueResult, still_refused: Condition) -> None:
    """A refusal still there after `claims.issue` returned: the member already held the job's coupon (claims
    answers it without committing our writes), given under their other result. A member can have two during
    the deploy: an old runner (the job's one partition) and a new one (a shard) refused or served them at
    once. Left, it would count a member who holds the coupon as failed and keep the job
    looking for stock for ever; so it goes, with its counts."""
    try:
        current = IssueResult.get(result.pk, result.sk, consistent_read=True)
    except IssueResult.DoesNotExist:
        return
    if current.status != FAILED or current.error != SOLD_OUT:
        return  # issued by this call (or settled by a concurrent runner)
    tx = Transaction()
    tx.delete("result", IssueResult(result.pk, result.sk), condition=still_refused)
    tx.update(
        "counts", _counts(job, str(result.member_id)), actions=[IssueCount.failed.add(-1), IssueCount.sold_out.add(-1)]
    )
    try:
        tx.commit()
    except Cancelled:
        pass  # settled by a concurrent runner
