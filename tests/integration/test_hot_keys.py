"""Keys that would be hot at 5000 requests/s are spread (issue 26 §1, bench/heat.py): the write side lands on
many partitions, the read side returns everything in order, and what was written before the split is still read.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3

from mini_program_api.db.staff import AuditRecord
from mini_program_api.db.transact import Transaction
from mini_program_api.platform.auth import Principal
from mini_program_api.staff import audit
from tests import timeline


def _raw_pks(ddb_endpoint: str, prefix: str) -> list[str]:
    """Every item's pk that starts with `prefix`, read under the product (a Scan: a test's own table)."""
    client = boto3.client("dynamodb", endpoint_url=ddb_endpoint)
    pages = client.get_paginator("scan").paginate(TableName=AuditRecord.Meta.table_name, ConsistentRead=True)
    return [i["pk"]["S"] for page in pages for i in page["Items"] if i["pk"]["S"].startswith(prefix)]


def _record(merchant_id: str, n: int, at: Any, action: str = "CHECKOUT") -> None:
    actor = Principal(merchant_id, "cashier-1", "staff", store_id="s1")
    for start in range(0, n, 20):  # one transaction per 20 records (a transaction takes at most 100 items)
        tx = Transaction()
        for i in range(start, min(n, start + 20)):
            audit.record(tx, actor, action, f"order-{i:03d}", at=at + timedelta(seconds=i))
        tx.commit()


def _legacy(merchant_id: str, day: str, at: Any, target: str) -> AuditRecord:
    """A record as the unsharded trail wrote it, under the day's one partition."""
    record = AuditRecord(
        audit.legacy_pk(merchant_id, day),
        f"{at.isoformat(timespec='microseconds')}#legacy00",
        actor="admin-1",
        role="admin",
        action="SETTINGS_CHANGED",
        target=target,
        at=at,
    )
    record.save()
    return record


def test_a_days_audit_records_spread_over_its_shards_and_read_back_in_time_order(
    merchant: Any, clock: timeline.Clock, ddb_endpoint: str
) -> None:
    mid = merchant.merchant_id
    start = timeline.local(clock.today, 0, 10)  # the merchant's day: 60 records a second apart stay in it
    day = clock.today.isoformat()
    _record(mid, 60, start)
    legacy = _legacy(mid, day, start + timedelta(seconds=30, microseconds=500), "old")

    pks = _raw_pks(ddb_endpoint, f"MCH#{mid}#AUDIT#")
    written = [pk for pk in pks if pk != audit.legacy_pk(mid, day)]
    assert len(written) == 60
    assert len(set(written)) == audit.SHARDS  # 60 records over 8 shards: every shard takes some
    assert max(written.count(pk) for pk in set(written)) <= 20  # and none takes most of them
    assert audit.legacy_pk(mid, day) not in written  # nothing new under the day's old partition

    records = audit.day(mid, day)
    assert [r.sk for r in records] == sorted(r.sk for r in records)
    assert [r.target for r in records] == [f"order-{i:03d}" for i in range(31)] + ["old"] + [
        f"order-{i:03d}" for i in range(31, 60)
    ]
    assert legacy.sk in {r.sk for r in records}

    # a day paged 7 at a time: each record once, in order, the old one among them
    paged, cursor = [], None
    while True:
        page = audit.day_page(mid, day, cursor, 7)
        paged += page.items
        cursor = page.cursor
        if cursor is None:
            break
    assert [r.sk for r in paged] == [r.sk for r in records]


def test_the_trail_pages_newest_first_across_days_and_shards_with_old_records(
    api: Any, merchant: Any, clock: timeline.Clock
) -> None:
    mid = merchant.merchant_id
    yesterday = clock.today - timedelta(days=1)
    _record(mid, 15, timeline.local(yesterday, 12), action="REFUND")
    old = _legacy(mid, yesterday.isoformat(), timeline.local(yesterday, 11), "before the split")
    _record(mid, 25, timeline.local(clock.today, 0, 10))

    admin = api.admin_token(merchant)
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = api.ok("GET", "/v1/admin/audit?limit=6" + (f"&cursor={cursor}" if cursor else ""), token=admin)
        seen += body["records"]
        cursor = body.get("cursor")
        if not cursor:
            break
    ours = [
        r
        for r in seen
        if r["action"] in ("CHECKOUT", "REFUND", "SETTINGS_CHANGED") and r["actor"] in ("cashier-1", "admin-1")
    ]
    assert len(ours) == 41 and len({(r["at"], r["target"]) for r in ours}) == 41
    assert [r["at"] for r in ours] == sorted((r["at"] for r in ours), reverse=True)
    assert [r["action"] for r in ours] == ["CHECKOUT"] * 25 + ["REFUND"] * 15 + ["SETTINGS_CHANGED"]
    assert ours[-1]["target"] == old.target


def test_cardholders_spread_over_shards_and_one_walk_finds_each_once_old_partition_too(api: Any, merchant: Any) -> None:
    from mini_program_api.db.models import PROFILE, Member, cardholder_partitions, member_pk
    from mini_program_api.members import cardholders

    mid = merchant.merchant_id
    opened = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(24)]
    rows = {m: Member.get(member_pk(mid, m), PROFILE, consistent_read=True) for m in opened}
    legacy = cardholder_partitions(mid)[0]
    shards = [row.cards_pk for row in rows.values()]
    assert legacy not in shards and all(pk.startswith(f"{legacy}#") for pk in shards)
    assert len(set(shards)) >= 6 and max(shards.count(pk) for pk in shards) <= 8  # 24 over 16 shards
    # the same member always in the same shard (a card opened again would not move it)
    assert all(row.cards_pk == cardholders_pk_of(mid, m) for m, row in rows.items())

    old = opened[:3]  # as cards opened before the split: on the merchant's one partition
    for m in old:
        Member(member_pk(mid, m), PROFILE).update(actions=[Member.cards_pk.set(legacy)])

    walked = [pk.rsplit("#", 1)[1] for pk, _ in cardholders.walk(mid, size=5)]
    assert sorted(walked) == sorted(opened) and len(walked) == len(set(walked))
    assert set(walked[:3]) == set(old)  # the old partition first, then shard by shard

    # a cursor saved before the split (a bare member id in the old partition) carries on from there
    first_old = sorted(old)[0]
    rest = cardholders.page(mid, first_old, 100)
    assert {pk.rsplit("#", 1)[1] for pk, _ in rest.keys} == set(opened) - {first_old} and rest.cursor is None


def cardholders_pk_of(merchant_id: str, member_id: str) -> str:
    from mini_program_api.db.models import cardholders_pk

    return cardholders_pk(merchant_id, member_id)


def test_due_lists_roster_and_counters_spread_and_items_placed_under_the_old_shard_counts_are_still_read(
    api: Any, merchant: Any, clock: timeline.Clock, ddb_endpoint: str
) -> None:
    """The due lists (4 shards before), the roster (4) and the report counters (32) were given more shards. An item
    keeps the shard it was given, which is below the new count, and every reader walks every shard."""
    import hashlib

    from mini_program_api.db.due import DueMarker
    from mini_program_api.db.models import member_pk
    from mini_program_api.db.schema import DUE_SHARDS
    from mini_program_api.jobs import due
    from mini_program_api.reports import counters, read, roster
    from mini_program_api.reports.models import ReportCounter

    mid = merchant.merchant_id
    ids = [f"u{i:03d}" for i in range(400)]
    assert len({due.slot("wallet", member_pk(mid, m), clock.now)[0] for m in ids}) == DUE_SHARDS
    assert len({roster.keys(mid, m)["roster_pk"] for m in ids}) == roster.ROSTER_SHARDS
    assert len({counters.shard(f"op-{m}") for m in ids}) == counters.SHARDS

    def old(key: str, shards: int, hash_name: str = "sha256") -> int:
        return int(getattr(hashlib, hash_name)(key.encode()).hexdigest()[:8], 16) % shards

    # due: markers slotted as 4 shards placed them, and one slotted now
    job = "heat_test"
    for m in ids[:6]:
        DueMarker(
            member_pk(mid, m),
            f"DUE#{job}",
            merchant_id=mid,
            member_id=m,
            due_pk=f"DUE#{job}#{old(member_pk(mid, m), 4, 'sha1')}",
            due_sk=due.stamp(clock.now),
        ).save()
    new_pk, new_sk = due.slot(job, member_pk(mid, ids[6]), clock.now)
    DueMarker(
        member_pk(mid, ids[6]), f"DUE#{job}", merchant_id=mid, member_id=ids[6], due_pk=new_pk, due_sk=new_sk
    ).save()
    owed = {pk for pk, _ in due.owed(DueMarker, job, clock.now + timedelta(seconds=1), 100)}
    assert owed == {member_pk(mid, m) for m in ids[:7]}

    # roster: members whose row was put on one of the 4 old shards, and members made now
    made = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(3)]
    from mini_program_api.db.models import PROFILE, Member

    for m in made[:2]:
        Member(member_pk(mid, m), PROFILE).update(actions=[Member.roster_pk.set(roster.roster_pk(mid, old(m, 4)))])
    walked = [
        str(row.roster_sk)
        for n in range(roster.ROSTER_SHARDS)
        for row in roster.page(roster.roster_pk(mid, n), None, 100).items
    ]
    assert sorted(walked) == sorted(made)

    # counters: a total counted on an old shard (below 32) is in the merchant's totals
    before = read.totals(mid)["net_points"]
    boto3.client("dynamodb", endpoint_url=ddb_endpoint).update_item(
        TableName=ReportCounter.Meta.table_name,
        Key={"pk": {"S": counters.row_pk(mid, 31)}, "sk": {"S": "TOTAL"}},
        UpdateExpression="ADD net_points :n",
        ExpressionAttributeValues={":n": {"N": "7"}},
    )
    assert read.totals(mid)["net_points"] == before + 7
