"""DynamoDB Local must behave like DynamoDB under concurrency and resends, or no money test means anything."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from infra.local import dynamodb
from infra.local.loopback import LoopbackServer

THREADS = 16


@pytest.fixture
def table(ddb_endpoint: str) -> Any:
    client = boto3.client("dynamodb", endpoint_url=ddb_endpoint, config=Config(max_pool_connections=THREADS))
    name = f"plain-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield client, name
    client.delete_table(TableName=name)


def _n(client: Any, name: str, pk: str, attr: str = "n") -> int:
    return int(client.get_item(TableName=name, Key={"pk": {"S": pk}}, ConsistentRead=True)["Item"][attr]["N"])


def test_optimistic_read_modify_write_loses_no_update(table: Any) -> None:
    client, name = table
    client.put_item(TableName=name, Item={"pk": {"S": "counter"}, "n": {"N": "0"}})
    successes = []

    def worker(_: int) -> None:
        mine = 0
        for _ in range(15):
            n = _n(client, name, "counter")
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
    assert _n(client, name, "counter") == sum(successes) > 0


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
    claims = client.scan(
        TableName=name, FilterExpression="begins_with(pk, :c)", ExpressionAttributeValues={":c": {"S": "claim-"}}
    )
    assert len(wins) == 10 and _n(client, name, "stock", "left") == 0 and claims["Count"] == 10


def test_one_client_request_token_is_applied_once(table: Any) -> None:
    client, name = table
    client.put_item(TableName=name, Item={"pk": {"S": "counter"}, "n": {"N": "0"}})
    add_one = [
        {
            "Update": {
                "TableName": name,
                "Key": {"pk": {"S": "counter"}},
                "UpdateExpression": "ADD n :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        }
    ]
    for _ in range(3):
        client.transact_write_items(TransactItems=add_one, ClientRequestToken="one-operation")
    client.transact_write_items(TransactItems=add_one, ClientRequestToken="another-operation")
    assert _n(client, name, "counter") == 2


def test_it_listens_on_loopback_only(ddb_endpoint: str) -> None:
    port = int(ddb_endpoint.rsplit(":", 1)[1])
    listening = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(path).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":  # LISTEN
                listening.append(address)
    loopback = {"0100007F", "0000000000000000FFFF00000100007F"}
    assert listening and set(listening) <= loopback, listening


def test_a_tampered_download_is_refused(tmp_path: Path) -> None:
    good = dynamodb.fetch()
    (tmp_path / "sha256").write_text((good / "sha256").read_text())
    (tmp_path / "DynamoDBLocal.jar").write_bytes(b"not the jar we measured")
    with pytest.raises(dynamodb.SetupError, match="DynamoDBLocal.jar hashes to"):
        dynamodb._verify(tmp_path)
    (tmp_path / "sha256").write_text("0" * 64)
    with pytest.raises(dynamodb.SetupError, match="release"):
        dynamodb._verify(tmp_path)


class LosesAnswers:
    """An HTTP proxy to DynamoDB Local that forwards every request but, for the first `lose` writes,
    holds the answer past the client's read timeout: the write happened, the client never heard."""

    def __init__(self, target: str, lose: int, hold: float) -> None:
        self.target, self.lose, self.hold = target, lose, hold
        self.forwarded = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = {k[5:].replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")}
        headers["Content-Type"] = environ.get("CONTENT_TYPE", "")
        answer = requests.post(self.target, data=body, headers=headers, timeout=10)
        self.forwarded += 1
        if self.lose > 0 and "TransactWriteItems" in headers.get("X-AMZ-TARGET", ""):
            self.lose -= 1
            time.sleep(self.hold)
        start_response(f"{answer.status_code} X", [("Content-Type", answer.headers.get("Content-Type", ""))])
        return [answer.content]


@pytest.fixture
def lossy(ddb_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point the product's transactions at a proxy that loses answers; the resends are ours (botocore would otherwise resend too, under its own auto-filled token)."""
    from pynamodb.connection import Connection

    from mini_program_api.db import transact

    proxy = LosesAnswers(ddb_endpoint, lose=0, hold=1.0)
    server = LoopbackServer(proxy).start()
    conn = Connection(region="cn-north-1", host=server.url, read_timeout_seconds=0.5, max_retry_attempts=0)
    monkeypatch.setattr(transact, "connection", lambda: conn)
    yield proxy
    server.stop()


def test_a_transaction_resent_after_a_lost_answer_is_applied_once(lossy: Any) -> None:
    from mini_program_api.db.counters import Counter
    from mini_program_api.db.transact import Transaction, put_new

    counter = Counter(f"resend-{uuid.uuid4().hex}", "COUNT")
    counter.save()
    lossy.lose = 1
    tx = Transaction()
    tx.update("counter", counter, [Counter.n.add(1)])
    tx.commit()
    counter.refresh(consistent_read=True)
    assert int(counter.n) == 1 and lossy.forwarded >= 2  # it was sent twice, and counted once

    # A conditional create resent after its answer was lost is still "created", not "already exists".
    lossy.lose = 1
    assert put_new(Counter(f"new-{uuid.uuid4().hex}", "COUNT")) is True


def test_a_database_that_never_answers_is_a_503_not_a_crash(lossy: Any) -> None:
    from mini_program_api.db.counters import Counter
    from mini_program_api.db.transact import Transaction
    from mini_program_api.platform.errors import KabaoError

    lossy.lose, lossy.hold = 10**6, 0.6
    counter = Counter(f"down-{uuid.uuid4().hex}", "COUNT")
    tx = Transaction()
    tx.update("counter", counter, [Counter.n.add(1)])
    with pytest.raises(KabaoError) as raised:
        tx.commit()
    assert raised.value.code == "DATABASE_UNAVAILABLE" and raised.value.status == 503
    lossy.lose = 0
    counter.refresh(consistent_read=True)
    assert int(counter.n) == 1  # every resend carried the commit's one token
