"""Move the items of a due list whose shard count was lowered into its one shard (once, after deploying it).

    python -m infra.deploy.due_lists        # with the stack's environment, as infra/deploy/onboard.py

A due list's readers walk only its current shards (jobs/due.py), so an item left on a shard above the count
would never be read: the issue jobs' list went from 32 shards to one (db/schema.py `DUE_SHARDS_OF`), and a job
running or waiting for stock across the deploy sits on one of the 31 others until this moves it. Each move is
conditional on the item still holding the slot that was read, so it is safe to run again, or while the jobs
run (a job that moved meanwhile took a slot of the new count itself).
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


def move() -> int:
    """How many items were moved into their list's one shard."""
    from mini_program_api.db.models import DueMarker
    from mini_program_api.db.schema import DUE_SHARDS
    from mini_program_api.db.transact import update_if

    moved = 0
    for job in lowered():
        for shard in range(1, DUE_SHARDS):
            old = f"DUE#{job}#{shard}"
            for item in DueMarker.due.query(old):
                # DueMarker stands for whatever item holds the slot: the update touches only the slot's key.
                moved += update_if(
                    DueMarker(item.pk, item.sk),
                    [DueMarker.due_pk.set(f"DUE#{job}#0")],
                    (DueMarker.due_pk == old) & (DueMarker.due_sk == item.due_sk),
                )
    return moved


def main(argv: list[str]) -> int:
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    print(f"{move()} due list items moved into their list's one shard")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
