"""A job's own item, read the one way every kind of admin job is: by id, a 404 when it is not there, and the
merchant's jobs a page at a time.

Issue jobs (coupons/issue_jobs.py), member jobs (member_care/member_jobs.py) and member imports
(member_import/jobs.py) each keep their jobs in one partition per merchant, under the job's id, and each had
its own copy of these three reads. Consistent reads: a job is read back right after the admin's POST, and a
runner decides from it whether to work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pynamodb.expressions.condition import Condition

from mini_program_api.db.models import Item
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

    def page(self, merchant_id: str, cursor: str | None, limit: int) -> paging.Page[J]:
        """The merchant's jobs by id (their ids are hashes: no order of time), `limit` at a time."""
        return paging.partition(self.model, self.partition(merchant_id), cursor, limit)


def read_from(cursor: Any, read: str | None) -> Condition:
    """A job's write after a page holds only while the job's `cursor` (the attribute) is still the one this
    runner read (None: it had none), so two runners never both advance one job."""
    return cursor == read if read is not None else cursor.does_not_exist()
