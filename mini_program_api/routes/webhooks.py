"""Webhook endpoints (role admin): register, read back, change, pause, remove, rotate the secret; the
delivery log, a redeliver and a test event. Delivery itself is the scheduled job's (functions/webhooks.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from mini_program_api.platform import clock
from mini_program_api.routes.endpoint import Call, endpoint

if TYPE_CHECKING:  # annotations only: models and domain modules load on first use (endpoint.py)
    from mini_program_api.routes.schemas import WebhookEndpointBody, WebhookEndpointPatch
    from mini_program_api.webhooks.models import WebhookAttempt, WebhookEndpoint

bp = Blueprint(__name__)
_BASE = "/v1/admin/webhooks/endpoints"


def _view(item: WebhookEndpoint, tz: str) -> dict[str, Any]:
    return {
        "endpoint_id": item.endpoint_id,
        "url": item.url,
        "description": item.description,
        "events": list(item.events),
        "enabled": bool(item.enabled),
        "secret_hint": item.secret_hint,
        "version": int(item.version),
        "created_at": clock.iso(item.created_at, tz),
        "updated_at": clock.iso(item.updated_at, tz),
    }


def _attempt_view(item: WebhookAttempt, tz: str) -> dict[str, Any]:
    return {
        "delivery_id": item.delivery_id,
        "event_id": item.event_id,
        "type": item.type,
        "member_id": item.member_id,
        "status": item.status,
        "response_code": int(item.response_code) if item.response_code is not None else None,
        "latency_ms": int(item.latency_ms),
        "attempt": int(item.attempt),
        "error": item.error,
        "at": clock.iso(item.at, tz),
    }


@endpoint(
    bp,
    _BASE,
    "POST",
    role="admin",
    body="WebhookEndpointBody",
    response="WebhookEndpointCreated",
    status=201,
    errors=("WEBHOOK_URL_REFUSED", "TOO_MANY_WEBHOOK_ENDPOINTS", "NOT_FOUND"),
)
def create_webhook_endpoint(call: Call) -> dict[str, Any]:
    """Register an endpoint; the answer carries its signing secret, shown this once."""
    from mini_program_api.webhooks import endpoints

    body: WebhookEndpointBody = call.body
    item, secret = endpoints.create(call.caller.merchant_id, body.url, list(body.events), body.description)
    return {**_view(item, call.timezone), "secret": secret}


@endpoint(bp, _BASE, "GET", role="admin", query="PageQuery", response="WebhookEndpointPage")
def list_webhook_endpoints(call: Call) -> dict[str, Any]:
    """The merchant's endpoints, paged."""
    from mini_program_api.webhooks import endpoints

    page = endpoints.page(call.caller.merchant_id, call.query.cursor, call.query.limit)
    return {"endpoints": [_view(e, call.timezone) for e in page.items], "cursor": page.cursor}


@endpoint(
    bp,
    _BASE + "/{endpoint_id}",
    "GET",
    role="admin",
    response="WebhookEndpointView",
    errors=("WEBHOOK_ENDPOINT_NOT_FOUND",),
)
def get_webhook_endpoint(call: Call, endpoint_id: str) -> dict[str, Any]:
    """One endpoint as stored (never its secret)."""
    from mini_program_api.webhooks import endpoints

    return _view(endpoints.get(call.caller.merchant_id, endpoint_id), call.timezone)


@endpoint(
    bp,
    _BASE + "/{endpoint_id}",
    "PATCH",
    role="admin",
    body="WebhookEndpointPatch",
    response="WebhookEndpointView",
    errors=("WEBHOOK_ENDPOINT_NOT_FOUND", "WEBHOOK_URL_REFUSED"),
)
def update_webhook_endpoint(call: Call, endpoint_id: str) -> dict[str, Any]:
    """Change the URL, events, description, or pause (`enabled: false`) and resume."""
    from mini_program_api.webhooks import endpoints

    body: WebhookEndpointPatch = call.body
    item = endpoints.update(
        call.caller.merchant_id,
        endpoint_id,
        url=body.url,
        wanted=list(body.events) if body.events is not None else None,
        description=body.description,
        enabled=body.enabled,
    )
    return _view(item, call.timezone)


@endpoint(bp, _BASE + "/{endpoint_id}", "DELETE", role="admin", status=204, errors=("WEBHOOK_ENDPOINT_NOT_FOUND",))
def delete_webhook_endpoint(call: Call, endpoint_id: str) -> None:
    """Remove the endpoint; what was queued for it is dropped."""
    from mini_program_api.webhooks import endpoints

    endpoints.delete(call.caller.merchant_id, endpoint_id)


@endpoint(
    bp,
    _BASE + "/{endpoint_id}/rotate-secret",
    "POST",
    role="admin",
    response="WebhookEndpointCreated",
    errors=("WEBHOOK_ENDPOINT_NOT_FOUND",),
)
def rotate_webhook_secret(call: Call, endpoint_id: str) -> dict[str, Any]:
    """A new signing secret, shown this once; the old one signs nothing more."""
    from mini_program_api.webhooks import endpoints

    item, secret = endpoints.rotate_secret(call.caller.merchant_id, endpoint_id)
    return {**_view(item, call.timezone), "secret": secret}


@endpoint(
    bp,
    _BASE + "/{endpoint_id}/deliveries",
    "GET",
    role="admin",
    query="PageQuery",
    response="WebhookAttemptPage",
    errors=("WEBHOOK_ENDPOINT_NOT_FOUND",),
)
def list_webhook_deliveries(call: Call, endpoint_id: str) -> dict[str, Any]:
    """The endpoint's delivery log, one row per attempt, newest first, paged."""
    from mini_program_api.webhooks import delivery

    page = delivery.attempts(call.caller.merchant_id, endpoint_id, call.query.cursor, call.query.limit)
    return {"deliveries": [_attempt_view(a, call.timezone) for a in page.items], "cursor": page.cursor}


@endpoint(
    bp,
    _BASE + "/{endpoint_id}/events/{event_id}/redeliver",
    "POST",
    role="admin",
    response="WebhookQueued",
    status=202,
    errors=("WEBHOOK_ENDPOINT_NOT_FOUND", "WEBHOOK_EVENT_NOT_FOUND"),
)
def redeliver_webhook_event(call: Call, endpoint_id: str, event_id: str) -> dict[str, Any]:
    """Send a delivered or dead-lettered event again (same webhook-id and body), after the member's queue."""
    from mini_program_api.webhooks import delivery

    return {"event_id": delivery.redeliver(call.caller.merchant_id, endpoint_id, event_id)}


@endpoint(
    bp,
    _BASE + "/{endpoint_id}/test",
    "POST",
    role="admin",
    response="WebhookQueued",
    status=202,
    errors=("WEBHOOK_ENDPOINT_NOT_FOUND",),
)
def send_webhook_test(call: Call, endpoint_id: str) -> dict[str, Any]:
    """Queue a `webhook.test` event to this endpoint only; its attempt shows in the delivery log."""
    from mini_program_api.webhooks import delivery

    return {"event_id": delivery.send_test(call.caller.merchant_id, endpoint_id)}
