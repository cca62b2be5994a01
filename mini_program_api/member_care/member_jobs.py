"""An admin's job over a filter's members: put a tag on them, take it off, or export them (CSV or XLSX).

Made like coupon issue jobs (coupons/issue_jobs.py), on the one job runner (jobs/runner.py):

- created with an Idempotency-Key (the job id derives from it: a retried POST returns the same job, another body
  is 422) and audited in the job's own transaction; an export that shows phone numbers unmasked is audited as
  such (`MEMBER_EXPORT_UNMASKED`), with the admin who asked;
- the scheduled `member_jobs_run` function walks the merchant's cardholders a page at a time (members/cardholders.py,
  the walk every such job shares) and keeps those the filter chooses (coupons' `Filter`: tiers, tags, dormancy,
  birthday month; and the beginning of the name). The cursor, the page count and the counts are saved after
  each page, pinned to the cursor read, so two runners never both advance one job and a run cut short resumes;
- a tag job tags each member in the tagging's own transaction, which also counts the job's `changed`: a page
  done twice changes and counts nobody twice (members/tags.py keeps the tag's count exact);
- an export writes each page as a part file and, once every page is done, joins them into the file
  (member_care/export.py), kept where the console downloads it (member_care/export_files.py);
- a job that keeps failing is deferred with the due list's backoff, and the others go on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mini_program_api.coupons import issue_jobs
from mini_program_api.db.member_jobs import MemberJob, member_jobs_pk
from mini_program_api.db.models import Merchant
from mini_program_api.db.transact import Transaction, update_if
from mini_program_api.jobs import due, records, runner
from mini_program_api.member_care import export, export_files, tags
from mini_program_api.members import cardholders, names
from mini_program_api.merchants import merchants
from mini_program_api.money import idempotency
from mini_program_api.platform import clock
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.staff import audit

JOB = "member_job"
PAGE = 100
TAG, UNTAG, EXPORT = "TAG", "UNTAG", "EXPORT"
RUNNING, DONE, FAILED = "RUNNING", "DONE", "FAILED"


@dataclass(frozen=True)
class Where:
    """The members a job is for: every criterion given must hold (none given: every cardholder)."""

    filter: issue_jobs.Filter
    name: str | None = None  # the name's beginning, as the name search compares it

    def matches(self, merchant: Merchant, member: Any, now: datetime) -> bool:
        if self.name is not None and not names.normalized(member.name or "").startswith(names.normalized(self.name)):
            return False
        return self.filter.matches(merchant, member, now)

    def stored(self) -> dict[str, Any]:
        return {**self.filter.stored(), **({"name": self.name} if self.name else {})}

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> Where:
        return cls(issue_jobs.Filter.from_stored(data), data.get("name") or None)


def create(actor: Principal, kind: str, where: Where, params: dict[str, Any], idempotency_key: str | None) -> MemberJob:
    """A new job; the same key and body again return it."""
    merchant_id = actor.merchant_id
    if kind not in (TAG, UNTAG, EXPORT):
        raise KabaoError("VALIDATION_ERROR", "kind is TAG, UNTAG or EXPORT")
    if where.filter.segment is not None:  # a segment is where an issue job's members come from, not a test of a row
        raise KabaoError("VALIDATION_ERROR", "member jobs filter by tier, tag, dormancy, birthday month or name")
    issue_jobs.require_tags(merchant_id, where.filter.tag_ids)
    if where.filter.tier_ids:
        unknown = set(where.filter.tier_ids) - {t.tier_id for t in merchants.get(merchant_id).tiers}
        if unknown:
            raise KabaoError("VALIDATION_ERROR", f"unknown tiers: {', '.join(sorted(unknown))}")
    if kind == EXPORT:
        params = {"format": params.get("format") or "csv", "unmasked": bool(params.get("unmasked"))}
        if params["format"] not in export.FORMATS:
            raise KabaoError("VALIDATION_ERROR", "format is csv or xlsx")
    else:
        params = {"tag_id": str(params.get("tag_id") or "")}
        if not params["tag_id"]:
            raise KabaoError("VALIDATION_ERROR", "a tag job names its tag_id")
        tags.get(merchant_id, params["tag_id"])
    key = idempotency.client_key(merchant_id, "memberjob", idempotency_key)
    body = {"kind": kind, "filter": where.stored(), "params": params}
    fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    job_id = key.derived_id("M")
    existing = _find(merchant_id, job_id)
    if existing is not None:
        return idempotency.same(existing, fingerprint)
    now = clock.now()
    due_pk, due_sk = due.slot(JOB, f"{merchant_id}#{job_id}", now)
    job = MemberJob(
        member_jobs_pk(merchant_id),
        job_id,
        merchant_id=merchant_id,
        job_id=job_id,
        kind=kind,
        params=params,
        filter=where.stored(),
        status=RUNNING,
        fingerprint=fingerprint,
        created_by=actor.subject,
        created_at=now,
        lsi1=records.listed(now, job_id),
        due_pk=due_pk,
        due_sk=due_sk,
    )
    tx = Transaction()
    tx.put("job", job, condition=MemberJob.sk.does_not_exist())
    action = {TAG: "MEMBER_JOB_TAG", UNTAG: "MEMBER_JOB_UNTAG", EXPORT: "MEMBER_EXPORT"}[kind]
    if kind == EXPORT and params["unmasked"]:
        action = "MEMBER_EXPORT_UNMASKED"  # phone numbers in the clear: who asked, when, for which members
    detail = {"filter": json.dumps(where.stored(), sort_keys=True, ensure_ascii=False), **params}
    audit.record(tx, actor, action, job_id, {k: v if isinstance(v, str) else int(v) for k, v in detail.items()}, now)
    return idempotency.created_once(tx, job, lambda: _find(merchant_id, job_id))


RECORDS = records.Records(MemberJob, member_jobs_pk, "no such member job")
_find, get, page = RECORDS.find, RECORDS.get, RECORDS.page


@dataclass(frozen=True)
class Download:
    name: str
    content_type: str
    link: str | None  # a URL to send the browser to (S3), or None: `data` is the file
    data: bytes | None


def download(actor: Principal, job_id: str) -> Download:
    """A finished export's file, for its merchant's admin; each download is audited."""
    job = get(actor.merchant_id, job_id)
    if job.kind != EXPORT:
        raise KabaoError("EXPORT_NOT_FOUND", "this job is not an export")
    if job.status != DONE or not job.file_key:
        raise KabaoError("EXPORT_NOT_READY", "the export is still running")
    fmt = str(job.params.as_dict()["format"] if hasattr(job.params, "as_dict") else job.params["format"])
    name = export.file_name(job_id, fmt)
    tx = Transaction()
    audit.record(tx, actor, "MEMBER_EXPORT_DOWNLOADED", job_id, {"file": name})
    tx.commit()
    store = export_files.files()
    link = store.link(job.file_key, name)
    return Download(name, export.FORMATS[fmt][0], link, None if link else store.get(job.file_key))


# --- working through the jobs ------------------------------------------------------------------------------


@dataclass
class Report(runner.Report):
    job: str = JOB
    jobs: int = 0
    pages: int = 0


def run(now: datetime | None = None, page_size: int = PAGE, deadline: float | None = None, limit: int = 20) -> Report:
    """Work through the running jobs page by page until they are done or `deadline` (time.monotonic) is near;
    whatever is left is resumed by the next run."""
    at = now or clock.now()
    report = Report()

    def work(pk: str, sk: str) -> None:
        job = _find(pk.split("#")[1], sk)
        if job is None or job.status != RUNNING:
            return
        report.jobs += 1
        _work(job, at, page_size, deadline, report)

    runner.due_list(report, MemberJob, work, at, limit, deadline)
    return report


def _params(job: MemberJob) -> dict[str, Any]:
    return job.params.as_dict() if hasattr(job.params, "as_dict") else dict(job.params or {})


def _work(job: MemberJob, now: datetime, page_size: int, deadline: float | None, report: Report) -> None:
    merchant = merchants.get(job.merchant_id)
    where = Where.from_stored(job.filter.as_dict() if hasattr(job.filter, "as_dict") else dict(job.filter or {}))
    params = _params(job)
    while True:
        if runner.out_of_time(deadline):
            report.stopped_early = report.more = True
            return
        if job.walked:
            _finish(job, params)
            return
        walked = cardholders.rows(job.merchant_id, job.cursor, page_size)
        chosen = [m for m in walked.members if where.matches(merchant, m, now)]
        if job.kind == EXPORT:
            wanted = set().union(*(m.tag_ids or set() for m in chosen)) if chosen else set()
            tag_names = {t["tag_id"]: t["name"] for t in tags.names(job.merchant_id, wanted)}
            rows = [export.row(merchant, m, tag_names, bool(params["unmasked"])) for m in chosen]
            key = export_files.key(job.merchant_id, job.job_id, export.part_name(int(job.pages)))
            export_files.files().put(key, export.part(rows))
        else:
            try:
                for member in chosen:
                    tx = Transaction()
                    tx.update("job", MemberJob(job.pk, job.sk), [MemberJob.changed.add(1)], MemberJob.pk.exists())
                    tags.set_on(job.merchant_id, member.member_id, str(params["tag_id"]), job.kind == TAG, tx)
            except KabaoError as exc:
                if exc.code != "TAG_NOT_FOUND":
                    raise
                _end(job, FAILED, exc.code)  # deleted while no member carried it: no run will find it again
                return
        report.pages += 1
        if not _advance(job, walked, len(chosen)):
            return  # another runner moved it on: it carries on from there
        after = _find(job.merchant_id, job.job_id)
        if after is None:
            return
        job = after


def _advance(job: MemberJob, walked: cardholders.Walked, matched: int) -> bool:
    """Save where the next page starts (pinned to where this one started)."""
    pinned = records.read_from(MemberJob.cursor, job.cursor)
    actions = [
        MemberJob.scanned.add(walked.scanned),
        MemberJob.matched.add(matched),
        MemberJob.pages.add(1),
        MemberJob.cursor.set(walked.cursor) if walked.cursor is not None else MemberJob.walked.set(True),
    ]
    return update_if(job, actions, pinned & (MemberJob.walked == False) & (MemberJob.status == RUNNING))  # noqa: E712


def _finish(job: MemberJob, params: dict[str, Any]) -> None:
    """After the last page: an export's file from its parts; the job DONE and off the due list."""
    file_key = None
    if job.kind == EXPORT:
        store = export_files.files()
        parts = (
            store.get(export_files.key(job.merchant_id, job.job_id, export.part_name(n))) for n in range(int(job.pages))
        )
        fmt = str(params["format"])
        file_key = export_files.key(job.merchant_id, job.job_id, export.file_name(job.job_id, fmt))
        store.put(file_key, export.assemble(fmt, parts))
    _end(job, DONE, None, file_key)


def _end(job: MemberJob, status: str, error: str | None, file_key: str | None = None) -> None:
    """The job DONE (with an export's file) or FAILED (saying why), and off the due list."""
    actions = [MemberJob.status.set(status), MemberJob.finished_at.set(clock.now()), *due.unslot(MemberJob)]
    if file_key:
        actions.append(MemberJob.file_key.set(file_key))
    if error:
        actions.append(MemberJob.error.set(error))
    update_if(job, actions, MemberJob.status == RUNNING)
