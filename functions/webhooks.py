"""Every minute: deliver the webhook outbox (mini_program_api/webhooks/delivery.py) within the Lambda's time.

No stream is needed: the outbox items are on the due list (a Query), which DynamoDB Local serves as AWS does."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate

from .budget import deadline
from .reported import reported

bp = Blueprint(__name__)


@bp.schedule(Rate(1, unit=Rate.MINUTES), name="webhooks_deliver")
def webhooks_deliver(event: Any) -> dict[str, Any]:
    from mini_program_api.webhooks import delivery  # urllib3 and standardwebhooks: loaded by the job only

    # The safety margin covers one attempt in flight when the deadline comes (connect + read timeouts).
    return reported("webhooks_deliver", delivery.sweep(deadline=deadline(event, safety_seconds=10.0)), event)
