"""The embedded DynamoDB must behave like DynamoDB under concurrency, or no concurrency test means anything."""
from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from infra.local_dynamodb import Serialized
from infra.loopback import LoopbackServer

THREADS = 16


class InFlight:
    """A WSGI app that records how many requests it is serving at once."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(0.002)
        with self._lock:
            self.now -= 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]


def _hammer(url: str, requests_per_thread: int = 10) -> None:
    def worker(_: int) -> None:
        with requests.Session() as s:
            for _ in range(requests_per_thread):
                s.get(url, timeout=5).raise_for_status()

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(worker, range(THREADS)))


@pytest.mark.parametrize(("serialized", "overlap_expected"), [(True, False), (False, True)])
def test_requests_never_overlap_when_serialized(serialized: bool, overlap_expected: bool) -> None:
    # The unserialized control shows the probe does detect overlap.
    probe = InFlight()
    server = LoopbackServer(Serialized(probe) if serialized else probe).start()
    try:
        _hammer(server.url)
    finally:
        server.stop()
    assert (probe.peak > 1) is overlap_expected, probe.peak


@pytest.fixture
def table(ddb_endpoint: str) -> Any:
    client = boto3.client("dynamodb", endpoint_url=ddb_endpoint, config=Config(max_pool_connections=THREADS))
    name = f"serial-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield client, name
    client.delete_table(TableName=name)


def test_optimistic_read_modify_write_loses_no_update(table: Any) -> None:
    client, name = table
    client.put_item(TableName=name, Item={"pk": {"S": "counter"}, "n": {"N": "0"}})
    successes = []

    def worker(_: int) -> None:
        mine = 0
        for _ in range(15):
            n = int(client.get_item(TableName=name, Key={"pk": {"S": "counter"}}, ConsistentRead=True)["Item"]["n"]["N"])
            try:
                client.put_item(
                    TableName=name,
                    Item={"pk": {"S": "counter"}, "n": {"N": str(n + 1)}},
                    ConditionExpression="n = :n",
                    ExpressionAttributeValues={":n": {"N": str(n)}},
                )
                mine += 1
            except client.exceptions.ConditionalCheckFailedException:
                pass
        successes.append(mine)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(worker, range(THREADS)))
    final = int(client.get_item(TableName=name, Key={"pk": {"S": "counter"}}, ConsistentRead=True)["Item"]["n"]["N"])
    assert final == sum(successes) > 0


def test_transactions_never_oversell(table: Any) -> None:
    client, name = table
    client.put_item(TableName=name, Item={"pk": {"S": "stock"}, "left": {"N": "10"}})
    wins = []

    def worker(i: int) -> None:
        for j in range(4):
            try:
                client.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": name,
                                "Key": {"pk": {"S": "stock"}},
                                "UpdateExpression": "SET #l = #l - :one",
                                "ConditionExpression": "#l >= :one",
                                "ExpressionAttributeNames": {"#l": "left"},
                                "ExpressionAttributeValues": {":one": {"N": "1"}},
                            }
                        },
                        {
                            "Put": {
                                "TableName": name,
                                "Item": {"pk": {"S": f"claim-{i}-{j}"}},
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                    ]
                )
                wins.append((i, j))
            except client.exceptions.TransactionCanceledException:
                pass

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(worker, range(THREADS)))
    left = int(client.get_item(TableName=name, Key={"pk": {"S": "stock"}}, ConsistentRead=True)["Item"]["left"]["N"])
    claims = client.scan(TableName=name, FilterExpression="begins_with(pk, :c)", ExpressionAttributeValues={":c": {"S": "claim-"}})
    assert len(wins) == 10 and left == 0 and claims["Count"] == 10
