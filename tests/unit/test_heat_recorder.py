"""The heat recorder (infra/local/heat.py) books each item a DynamoDB call touches on the partition that serves
it, table and indexes, with DynamoDB's units: fed known calls, it must name the keys and the units."""

from __future__ import annotations

from typing import Any

import pytest

from infra.local import heat

MEMBER = {"pk": {"S": "MCH#m1#MEM#u1"}, "sk": {"S": "PROFILE"}}


def _units(recorder: heat.Recorder) -> dict[tuple[str, str], tuple[float, float]]:
    return {key: (b.reads, b.writes) for key, b in recorder.bookings.items()}


def _member(**extra: Any) -> dict[str, Any]:
    return {
        **MEMBER,
        "roster_pk": {"S": "ROSTER#m1#2"},
        "roster_sk": {"S": "u1"},
        "cards_pk": {"S": "MCH#m1#CARDHOLDERS#5"},
        "cards_sk": {"S": "u1"},
        "principal": {"N": "100"},
        **extra,
    }


@pytest.fixture
def recorder() -> heat.Recorder:
    heat.clear_request()
    return heat.Recorder()


def test_a_put_writes_the_table_and_every_index_whose_key_it_sets(recorder: heat.Recorder) -> None:
    recorder.observe("PutItem", {"TableName": "t", "Item": _member()}, {})
    assert _units(recorder) == {
        ("table", "MCH#m1#MEM#u1"): (0.0, 1.0),
        ("roster_index", "ROSTER#m1#2"): (0.0, 1.0),
        ("cardholders", "MCH#m1#CARDHOLDERS#5"): (0.0, 1.0),
    }


def test_a_big_item_costs_a_unit_per_kb_and_a_transaction_twice(recorder: heat.Recorder) -> None:
    big = {"pk": {"S": "MCH#m1#CHECKOUT#o1"}, "sk": {"S": "ORDER"}, "lines": {"S": "x" * 2500}}
    recorder.observe("PutItem", {"Item": big}, {})
    recorder.observe("TransactWriteItems", {"TransactItems": [{"Put": {"Item": big}}]}, {})
    assert _units(recorder) == {("table", "MCH#m1#CHECKOUT#o1"): (0.0, 3.0 + 6.0)}


def test_an_update_of_a_projected_attribute_writes_the_include_index_not_the_keys_only_one(
    recorder: heat.Recorder,
) -> None:
    recorder.observe("GetItem", {"Key": MEMBER, "ConsistentRead": True}, {"Item": _member()})
    update = {
        "Key": MEMBER,
        "UpdateExpression": "SET #0 = #0 + :0, #1 = :1",
        "ExpressionAttributeNames": {"#0": "principal", "#1": "updated_at"},
        "ExpressionAttributeValues": {":0": {"N": "5"}, ":1": {"S": "2026"}},
    }
    recorder.observe("TransactWriteItems", {"TransactItems": [{"Update": update}]}, {})
    assert _units(recorder) == {
        ("table", "MCH#m1#MEM#u1"): (1.0, 2.0),  # the consistent read, then the transactional write
        ("roster_index", "ROSTER#m1#2"): (0.0, 1.0),  # principal is projected: the index item is rewritten
    }


def test_a_due_slot_set_moved_and_removed_writes_its_index_partition(recorder: heat.Recorder) -> None:
    key = {"pk": {"S": "MCH#m1#MEM#u1"}, "sk": {"S": "WALLET"}}
    names = {"#0": "due_pk", "#1": "due_sk"}

    def slot(at: str) -> None:
        values = {":0": {"S": "DUE#wallet#3"}, ":1": {"S": at}}
        recorder.observe(
            "UpdateItem",
            {
                "Key": key,
                "UpdateExpression": "SET #0 = :0, #1 = :1",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            },
            {},
        )

    slot("2026-01-01")
    assert _units(recorder)[("due_index", "DUE#wallet#3")] == (0.0, 1.0)  # put
    slot("2026-01-02")
    assert _units(recorder)[("due_index", "DUE#wallet#3")] == (0.0, 3.0)  # its sort key moved: delete + put
    slot("2026-01-02")
    assert _units(recorder)[("due_index", "DUE#wallet#3")] == (0.0, 3.0)  # no change: the index is not written
    recorder.observe(
        "UpdateItem", {"Key": key, "UpdateExpression": "REMOVE #0, #1", "ExpressionAttributeNames": names}, {}
    )
    assert _units(recorder)[("due_index", "DUE#wallet#3")] == (0.0, 4.0)  # off the list: a delete
    assert _units(recorder)[("table", "MCH#m1#MEM#u1")] == (0.0, 4.0)


def test_reads_are_booked_on_the_queried_partition_by_size_and_consistency(recorder: heat.Recorder) -> None:
    keys = [
        {
            "pk": {"S": f"MCH#m1#MEM#u{i}"},
            "sk": {"S": "PROFILE"},
            "cards_pk": {"S": "MCH#m1#CARDHOLDERS#1"},
            "cards_sk": {"S": f"u{i}"},
        }
        for i in range(3)
    ]
    recorder.observe(
        "Query",
        {
            "IndexName": "cardholders",
            "KeyConditionExpression": "#0 = :0 AND #1 > :1",
            "ExpressionAttributeNames": {"#0": "cards_pk", "#1": "cards_sk"},
            "ExpressionAttributeValues": {":0": {"S": "MCH#m1#CARDHOLDERS#1"}, ":1": {"S": "u"}},
        },
        {"Items": keys},
    )
    recorder.observe(
        "Query",
        {
            "KeyConditionExpression": "#0 = :0",
            "ExpressionAttributeNames": {"#0": "pk"},
            "ExpressionAttributeValues": {":0": {"S": "MCH#m1#RPT#7"}},
            "ConsistentRead": True,
        },
        {"Items": [{"pk": {"S": "MCH#m1#RPT#7"}, "sk": {"S": f"D#{i}"}, "n": {"S": "y" * 1000}} for i in range(9)]},
    )
    recorder.observe(
        "BatchGetItem",
        {"RequestItems": {"t": {"Keys": [MEMBER, {"pk": {"S": "MCH#m1#MEM#u9"}, "sk": {"S": "PROFILE"}}]}}},
        {"Responses": {"t": [_member()]}},
    )
    assert _units(recorder) == {
        ("cardholders", "MCH#m1#CARDHOLDERS#1"): (0.5, 0.0),  # eventually consistent, under 4 KB
        ("table", "MCH#m1#RPT#7"): (3.0, 0.0),  # about 9 KB, consistent: 3 units
        ("table", "MCH#m1#MEM#u1"): (0.5, 0.0),
        ("table", "MCH#m1#MEM#u9"): (0.5, 0.0),  # a key not found is read all the same
    }


def test_each_booking_names_the_request_that_spent_it(recorder: heat.Recorder) -> None:
    heat.set_request("POST", "/v1/staff/orders/ord-0123456789ab/refund?x=1")
    recorder.observe("PutItem", {"Item": {"pk": {"S": "MCH#m1#AUDIT#2026-12-04#3"}, "sk": {"S": "t"}}}, {})
    heat.clear_request()
    recorder.phase = "issue job"
    recorder.observe("PutItem", {"Item": {"pk": {"S": "MCH#m1#AUDIT#2026-12-04#3"}, "sk": {"S": "u"}}}, {})
    booking = recorder.bookings[("table", "MCH#m1#AUDIT#2026-12-04#3")]
    assert dict(booking.writers) == {"POST /v1/staff/orders/{id}/refund": 1.0, "issue job": 1.0}
    assert dict(booking.readers) == {}
