"""An admin's jobs over many members: tag, untag, export (member_care/member_jobs.py).

A family of the table's models (see `models.py`): a module apart, so that a request builds only the model classes
it uses. Keys are documented in `schema.py`.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import BooleanAttribute, MapAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from mini_program_api.db.models import DueIndex, Item, LedgerByTime, Scheduled


class MemberJob(Item, Scheduled):
    """An admin's job over many members (member_care/member_jobs.py): tag or untag a filter's members, or
    export them. On the `member_job` list of `due_index` while it runs; `cursor` is the last member id read."""

    due = DueIndex()
    lsi1 = UnicodeAttribute(null=True)  # its place among the merchant's jobs, newest first (jobs/records.py)
    by_time = LedgerByTime()
    merchant_id = UnicodeAttribute()
    job_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # TAG | UNTAG | EXPORT
    params: MapAttribute[str, Any] = MapAttribute(default=dict)  # tag_id; export format, unmasked
    filter: MapAttribute[str, Any] = MapAttribute(default=dict)  # issue_jobs.Filter, stored
    status = UnicodeAttribute()  # RUNNING | DONE | FAILED
    cursor = UnicodeAttribute(null=True)
    scanned = NumberAttribute(default=0)  # cardholders looked at
    matched = NumberAttribute(default=0)  # of those, members the filter chose
    changed = NumberAttribute(default=0)  # tag jobs: members tagged or untagged, counted in each one's transaction
    pages = NumberAttribute(default=0)  # pages done: an export's parts are numbered by it
    walked = BooleanAttribute(default=False)  # every page done: an export's file is put together next
    file_key = UnicodeAttribute(null=True)  # an export's file (member_care/export_files.py)
    fingerprint = UnicodeAttribute()
    created_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    finished_at = UTCDateTimeAttribute(null=True)
    error = UnicodeAttribute(null=True)


def member_jobs_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#MEMBERJOB"
