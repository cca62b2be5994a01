"""The one-off moves an upgrade needs, run once after deploying it:

    python -m infra.deploy.upgrade        # with the stack's environment, as infra/deploy/onboard.py

- the items of a due list whose shard count was lowered are moved into its one shard. A due list's readers walk
  only its current shards (jobs/due.py), so an item left above the count would never be read: the issue jobs'
  list went from 32 shards to one (db/schema.py `DUE_SHARDS_OF`), and a job running or waiting for stock across
  the deploy sits on one of the 31 others until this moves it;
- every merchant's jobs (issue jobs, member jobs, imports) from before their lists were ordered by time get
  their place in that order (jobs/records.py `lsi1`); until then they are missing from the lists, not from reads
  by id or from the runs.

Each write is conditional on what was read (the item still on the old shard, the place still missing), so it is
safe to run again, or while the product runs. Run it once the code from before the deploy has stopped running (a
minute after the deploy: the issue jobs' run takes at most its one-minute timeout, an API call ten seconds): a
run of that code still going can put a job back on an old shard, or create a job with no place in its list.
"""

from __future__ import annotations

import sys


def lowered() -> dict[str, int]:
    """The lists kept on fewer shards than the default they were written with: job -> its count (one)."""
    from mini_program_api.db.schema import DUE_SHARDS, DUE_SHARDS_OF

    counts = {job: count for job, count in DUE_SHARDS_OF.items() if count < DUE_SHARDS}
    # A list lowered to several shards would need each item's own key to find its new shard; none is.
    assert all(count == 1 for count in counts.values()), counts
    return counts


def move_due_items() -> int:
    """How many items were moved into their list's one shard."""
    from mini_program_api.db import transact
    from mini_program_api.db.due import DueMarker
    from mini_program_api.db.schema import DUE_SHARDS

    moved = 0
    for job in lowered():
        for shard in range(1, DUE_SHARDS):
            old = f"DUE#{job}#{shard}"
            for item in DueMarker.due.query(old):
                # DueMarker stands for whatever item holds the slot: the update touches only the slot's shard, so
                # only that is pinned. A due time moved meanwhile on the old shard (a run of the code from before
                # the deploy deferring it; the index read a moment late) is kept, and the item moved all the same.
                moved += transact.update_if(
                    DueMarker(item.pk, item.sk), [DueMarker.due_pk.set(f"DUE#{job}#0")], DueMarker.due_pk == old
                )
    return moved


def order_jobs() -> int:
    """How many jobs were given their place in their merchant's list."""
    from mini_program_api.coupons import issue_jobs
    from mini_program_api.member_care import member_jobs
    from mini_program_api.member_import import jobs as member_imports
    from mini_program_api.reports import roster

    kinds = (issue_jobs.RECORDS, member_jobs.RECORDS, member_imports.RECORDS)
    return sum(kind.backfill(merchant_id) for merchant_id in roster.merchant_ids() for kind in kinds)


def main(argv: list[str]) -> int:
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    print(f"{move_due_items()} due list items moved into their list's one shard")
    print(f"{order_jobs()} jobs given their place in their merchant's list")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
