"""An admin's imports of members from a file, row by row (member_import/jobs.py).

A family of the table's models (see `models.py`): a module apart, so that a request builds only the model classes
it uses. Keys are documented in `schema.py`.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from mini_program_api.db.models import DueIndex, Item, LedgerByTime, Scheduled


class MemberImport(Item, Scheduled):
    """An admin's import of members from a file (member_import/jobs.py): checked (the dry run), then run.

    On the `member_import` list of `due_index` while a pass over its file is owed; `row`/`offset` are where the
    next page starts (the file's row number and, for a CSV, the byte offset of that row)."""

    due = DueIndex()
    lsi1 = UnicodeAttribute(null=True)  # its place among the merchant's jobs, newest first (jobs/records.py)
    by_time = LedgerByTime()
    merchant_id = UnicodeAttribute()
    import_id = UnicodeAttribute()
    upload_id = UnicodeAttribute()
    file_name = UnicodeAttribute()
    file_format = UnicodeAttribute()  # csv | xlsx
    sha256 = UnicodeAttribute()
    merge_rule = UnicodeAttribute()  # refuse | add
    status = UnicodeAttribute()  # CHECKING | CHECKED | RUNNING | DONE | FAILED
    file_error = UnicodeAttribute(null=True)  # what made the whole file unreadable (FAILED)
    encoding = UnicodeAttribute(null=True)
    columns = ListAttribute(of=UnicodeAttribute, null=True)  # the header, mapped to our column names
    row = NumberAttribute(default=0)  # the last row read (data rows from 1): the next page starts after it
    offset = NumberAttribute(default=0)  # the byte offset after it (CSV)
    # The check's counts (DynamoDB's ADD takes top-level attributes only, so one attribute each) ...
    rows_read = NumberAttribute(default=0)
    valid = NumberAttribute(default=0)
    errors = NumberAttribute(default=0)
    to_create = NumberAttribute(default=0)
    to_merge = NumberAttribute(default=0)
    to_refuse = NumberAttribute(default=0)
    # ... and the run's, each written in the transaction that settles its row.
    imported = NumberAttribute(default=0)
    merged = NumberAttribute(default=0)
    refused = NumberAttribute(default=0)
    skipped = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    created_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    checked_at = UTCDateTimeAttribute(null=True)
    started_at = UTCDateTimeAttribute(null=True)
    finished_at = UTCDateTimeAttribute(null=True)


class ImportRow(Item):
    """One row of an import: what the check found (`action`, `errors`) and what the run did (`outcome`)."""

    row = NumberAttribute()
    phone_masked = UnicodeAttribute(null=True)
    action = UnicodeAttribute()  # CREATE | MERGE | REFUSE | ERROR
    errors: ListAttribute[Any] = ListAttribute(null=True)  # [{column, code, message}]
    outcome = UnicodeAttribute(null=True)  # IMPORTED | MERGED | REFUSED | FAILED
    outcome_code = UnicodeAttribute(null=True)
    member_id = UnicodeAttribute(null=True)
    at = UTCDateTimeAttribute()


def member_import_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#IMPORT"


def import_row_pk(merchant_id: str, import_id: str) -> str:
    return f"MCH#{merchant_id}#IMPORT#{import_id}"


def import_phone_pk(merchant_id: str, import_id: str) -> str:
    return f"MCH#{merchant_id}#IMPORT#{import_id}#PHONE"
