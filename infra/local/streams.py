"""`make dev`'s stand-in for Lambda's stream trigger.

Reads the table's stream on DynamoDB Local (the same NEW_AND_OLD_IMAGES records Lambda would
deliver) and hands each batch to the wallet_stream function's handler. The wallet sweep runs on its
schedule with every other scheduled function (infra/local/jobs.py). Run with
``python -m infra.local.streams`` in the product's environment (infra/local/dev.py starts it).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import boto3

POLL_SECONDS = 1.0
SHARDS_SECONDS = 10.0
PAGE = 100


def _lambda_shape(record: dict[str, Any]) -> dict[str, Any]:
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    change["ApproximateCreationDateTime"] = created.timestamp() if created is not None else 0
    return {**record, "dynamodb": change}


def run() -> None:
    from mini_program_api.wallet import sync

    endpoint, table = os.environ["DYNAMODB_ENDPOINT"], os.environ["KABAO_TABLE"]
    streams = boto3.client("dynamodbstreams", endpoint_url=endpoint)
    arn = boto3.client("dynamodb", endpoint_url=endpoint).describe_table(TableName=table)["Table"]["LatestStreamArn"]
    iterators: dict[str, str | None] = {}
    last_shards = 0.0
    while True:
        if time.monotonic() - last_shards >= SHARDS_SECONDS:  # new shards are rare: look for them now and then
            last_shards = time.monotonic()
            for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
                if shard["ShardId"] not in iterators:
                    iterators[shard["ShardId"]] = streams.get_shard_iterator(
                        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                    )["ShardIterator"]
        behind = False
        for shard_id, iterator in list(iterators.items()):
            if iterator is None:
                continue  # a closed shard, read to its end
            page = streams.get_records(ShardIterator=iterator, Limit=PAGE)
            iterators[shard_id] = page.get("NextShardIterator")
            if page["Records"]:
                sync.stream_records([_lambda_shape(r) for r in page["Records"]])
            behind |= len(page["Records"]) == PAGE
        if not behind:  # a full page: more is waiting (the demo data writes faster than a page a second)
            time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    try:
        run()
    except KeyboardInterrupt:  # Ctrl-C on make dev reaches its whole process group
        pass
