"""WeChat 卡包 sync (mini_program_api/wallet/sync.py): the table's stream, and a sweep every minute.

The stream function gets the table's records (NEW_AND_OLD_IMAGES); the deploy template wires the
real stream ARN and ReportBatchItemFailures, so a record that failed is retried alone. The
sweep picks up what the stream path deferred (WeChat errors, with backoff) or never saw.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate

from .budget import deadline
from .reported import reported

bp = Blueprint(__name__)
# Replaced in the deployed template by the table's StreamArn (infra/deploy/template.py).
STREAM_ARN = "arn:aws:dynamodb:cn-north-1:000000000000:table/kabao/stream/local"


@bp.on_dynamodb_record(stream_arn=STREAM_ARN, batch_size=100, starting_position="LATEST", name="wallet_stream")
def wallet_stream(event: Any) -> dict[str, Any]:
    from mini_program_api.wallet import sync  # reaches wechatpy: imported by the function that uses it

    records = event.to_dict().get("Records", [])
    failed = sync.stream_records(records)
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}


@bp.schedule(Rate(1, unit=Rate.MINUTES), name="wallet_sweep")
def wallet_sweep(event: Any) -> dict[str, Any]:
    from mini_program_api.wallet import sync

    return reported("wallet_sweep", sync.sweep(deadline=deadline(event, safety_seconds=10.0)), event)
