"""An admin's issue jobs: a coupon template given to a list of members or a filter (coupons/issue_jobs.py).

A family of the table's models (see `models.py`): a module apart, so that a request builds only the model classes
it uses. Keys are documented in `schema.py`.
"""

from __future__ import annotations

from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from mini_program_api.db.models import DueIndex, Item, LedgerByTime, Scheduled
from mini_program_api.db.schema import ISSUE_JOB_SHARDS, shard_of


class IssueJob(Item, Scheduled):
    """An admin's issue of one coupon template to a list of members or a filter (coupons/issue_jobs.py).

    On the `issue_job` list of `due_index` while it runs; `cursor` is where the next page starts
    (an offset into `member_ids`, or the last member id read from the cardholder index)."""

    due = DueIndex()
    lsi1 = UnicodeAttribute(null=True)  # its place among the merchant's jobs, newest first (jobs/records.py)
    by_time = LedgerByTime()
    merchant_id = UnicodeAttribute()
    job_id = UnicodeAttribute()
    template_id = UnicodeAttribute()
    member_ids = ListAttribute(of=UnicodeAttribute, null=True)
    filter: MapAttribute = MapAttribute(null=True)  # tier_ids, dormant, birthday_month (later: segment)
    status = UnicodeAttribute()  # RUNNING | DONE
    cursor = UnicodeAttribute(null=True)
    scanned = NumberAttribute(default=0)  # members looked at
    # Counts written before the job's counts were sharded; a job with `shards` counts on IssueCount items and
    # the totals are these plus theirs (coupons/issue_jobs.py `counted`).
    issued = NumberAttribute(default=0)  # coupons given: equals the job's coupons members hold
    failed = NumberAttribute(default=0)  # members who could not be given one (see their results)
    sold_out = NumberAttribute(default=0)  # of those, members refused for want of stock: retried when stock comes
    shards = NumberAttribute(null=True)  # its results and counts' partitions; None: a job from before the split
    fingerprint = UnicodeAttribute()
    created_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    finished_at = UTCDateTimeAttribute(null=True)


class IssueResult(Item):
    """What one member got from one issue job: written once, in the transaction that issues (or fails) it."""

    member_id = UnicodeAttribute()
    status = UnicodeAttribute()  # ISSUED | FAILED
    coupon_id = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    at = UTCDateTimeAttribute()


class IssueCount(Item):
    """One shard of an issue job's counts, moved in the transaction that issues (or fails) a member whose id
    hashes to it: one count item per job took a write per member (bench/README.md, heat)."""

    issued = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    sold_out = NumberAttribute(default=0)


def issue_job_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#ISSUEJOB"


def issue_result_pk(merchant_id: str, job_id: str, shard: int | None = None) -> str:
    """A job's results: one partition of its `shards` (None: the one partition of a job from before the split)."""
    legacy = f"MCH#{merchant_id}#ISSUEJOB#{job_id}"
    return legacy if shard is None else f"{legacy}#{shard}"


def issue_count_pk(merchant_id: str, job_id: str, shard: int) -> str:
    return f"MCH#{merchant_id}#ISSUEJOB#{job_id}#COUNT#{shard}"


def issue_shard(member_id: str, shards: int = ISSUE_JOB_SHARDS) -> int:
    """The shard of a job's results and counts a member's go to (a hash of the id, so a member stays in one)."""
    return shard_of(member_id, shards)
