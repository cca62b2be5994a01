"""A job's own item, read the one way every kind of admin job is: by id, a 404 when it is not there, and the
merchant's jobs a page at a time.

Issue jobs (coupons/issue_jobs.py), member jobs (member_care/member_jobs.py) and member imports
(member_import/jobs.py) each keep their jobs in one partition per merchant, under the job's id, and each had
its own copy of these three reads. Consistent reads: a job is read back right after the admin's POST, and a
runner decides from it whether to work.

A job's id is a hash (of its Idempotency-Key, or of its file), so the ids have no order of time: each job also
carries its creation time in `lsi1` (`JOB#{time}#{id}`, the partition's local index, as ledger entries and
coupons use it by prefix), and the list is read from that index, newest first. Jobs created before it are given
theirs by `python -m infra.deploy.upgrade`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pynamodb.expressions.condition import Condition

from mini_program_api.db.models import Item
from mini_program_api.db.transact import update_if
from mini_program_api.platform import paging
from mini_program_api.platform.errors import KabaoError

J = TypeVar("J", bound=Item)


@dataclass(frozen=True)
class Records(Generic[J]):
    """One kind of job's items: `model` under `partition(merchant_id)`, sort key the job's id; a missing one is
    `code` (404) saying `missing`."""

    model: type[J]
    partition: Callable[[str], str]
    missing: str
    code: str = "NOT_FOUND"

    def find(self, merchant_id: str, job_id: str) -> J | None:
        try:
            return self.model.get(self.partition(merchant_id), job_id, consistent_read=True)
        except self.model.DoesNotExist:
            return None

    def get(self, merchant_id: str, job_id: str) -> J:
        job = self.find(merchant_id, job_id)
        if job is None:
            raise KabaoError(self.code, self.missing)
        return job

    def backfill(self, merchant_id: str) -> int:
        """Give the merchant's jobs from before `lsi1` theirs (infra/deploy/upgrade.py): how many were given one.
        Conditional on having none, so it is safe to run again and beside new jobs being created."""
        model: Any = self.model
        given = 0
        for job in model.query(self.partition(merchant_id), filter_condition=model.lsi1.does_not_exist()):
            given += update_if(job, [model.lsi1.set(listed(job.created_at, job.sk))], model.lsi1.does_not_exist())
        return given

    def page(self, merchant_id: str, cursor: str | None, limit: int) -> paging.Page[J]:
        """The merchant's jobs, newest first, `limit` at a time."""
        model: Any = self.model
        return paging.query(
            model.by_time.query,
            self.partition(merchant_id),
            {"sk": "", "lsi1": LISTED},
            cursor,
            limit,
            range_key_condition=model.lsi1.startswith(LISTED),
            scan_index_forward=False,
        )


LISTED = "JOB#"


def listed(created_at: datetime, job_id: str) -> str:
    """A job's `lsi1`: its creation time (UTC, so keys compare as times) and its id, which breaks ties."""
    return f"{LISTED}{created_at.astimezone(UTC).isoformat(timespec='microseconds')}#{job_id}"


def read_from(cursor: Any, read: str | None) -> Condition:
    """A job's write after a page holds only while the job's `cursor` (the attribute) is still the one this
    runner read (None: it had none), so two runners never both advance one job."""
    return cursor == read if read is not None else cursor.does_not_exist()
