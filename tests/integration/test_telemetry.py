"""What operations sees: one JSON log line per request and job run, and EMF metrics for real events.

Logs are read from the service's real handler (telemetry/logs.py, its stream swapped for a buffer); metrics
are the EMF lines Powertools prints to stdout, captured while the real flows run (notifies arrive over HTTP from
the WeChat Pay sandbox, jobs run through Chalice's event invocation).
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from mini_program_api.platform import clock
from mini_program_api.telemetry import logs, metrics

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    """Every line the service logger writes during the test, each parsed as JSON (a line that is not
    JSON fails the test)."""
    [handler] = [h for h in logs.logger().handlers if isinstance(h.formatter, logs.JsonLine)]  # pytest adds its own
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        handler.setStream(previous)


@pytest.fixture
def emf(capsys: pytest.CaptureFixture[str]) -> Callable[[str], float]:
    """The total of one metric over the EMF lines printed so far (each line is checked to be EMF)."""
    seen: list[dict[str, Any]] = []

    def total(name: str) -> float:
        for line in capsys.readouterr().out.splitlines():
            if line.startswith('{"_aws"'):
                blob = json.loads(line)
                directive = blob["_aws"]["CloudWatchMetrics"][0]
                assert directive["Namespace"] == metrics.NAMESPACE and ["service"] in directive["Dimensions"]
                seen.append(blob)
        return sum(
            sum(b[name]) for b in seen if any(m["Name"] == name for m in b["_aws"]["CloudWatchMetrics"][0]["Metrics"])
        )

    return total


def _raw(api: Any, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
    return api._client.http.request(method, path, headers=headers, body=json.dumps(body).encode() if body else b"")


def test_a_request_is_one_json_line_with_its_request_id_and_never_a_phone_or_token(
    api: Any, merchant: Any, log_lines: Lines
) -> None:
    session = api.login(merchant)
    token = session["token"]
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    response = _raw(api, "POST", "/v1/me/phone", {"code": f"phone:{phone}:x1"}, token=token)
    assert response.status_code == 200
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    refused = _raw(api, "GET", "/v1/me", token=forged)
    assert refused.status_code == 401

    lines = log_lines()
    phone_lines = [line for line in lines if line.get("route") == "/v1/me/phone"]
    assert len(phone_lines) == 1
    line = phone_lines[0]
    assert line["request_id"] == response.headers["X-Request-Id"] and line["request_id"]
    assert (line["message"], line["service"], line["method"], line["status"], line["outcome"]) == (
        "request",
        "kabao",
        "POST",
        200,
        "OK",
    )
    assert line["merchant_id"] == merchant.merchant_id and isinstance(line["latency_ms"], float)
    [bad] = [line for line in lines if line.get("route") == "/v1/me"]
    assert (bad["status"], bad["outcome"], bad["request_id"]) == (
        401,
        "UNAUTHENTICATED",
        refused.headers["X-Request-Id"],
    )
    assert bad["request_id"] != line["request_id"]
    text = json.dumps(lines)
    for secret in (phone, phone[-8:], token, forged, token.split(".")[2]):
        assert secret not in text


def test_an_unauthenticated_notify_line_names_the_merchant_of_its_path(
    api: Any, merchant: Any, log_lines: Lines, emf: Callable[[str], float]
) -> None:
    status, _ = api.post(f"/v1/wechatpay/notify/{merchant.merchant_id}", {"id": "forged"})
    assert status == 401
    [line] = [line for line in log_lines() if line.get("route") == "/v1/wechatpay/notify/{merchant_id}"]
    assert (line["merchant_id"], line["status"], line["outcome"]) == (merchant.merchant_id, 401, "INVALID_NOTIFY")
    assert emf(metrics.NOTIFY_FAILED) == 1


def _order(api: Any, member: dict[str, Any]) -> str:
    status, order = api.post(
        "/v1/topup/orders", {"plan_id": "p300"}, token=member["token"], headers={"idempotency-key": uuid.uuid4().hex}
    )
    assert status == 200, order
    return str(order["order_id"])


def _pay(sandbox: Any, order_id: str, **options: Any) -> dict[str, Any]:
    return json.loads(sandbox.pay.pay(order_id, **options).get_data())


def test_topups_duplicates_refunds_and_wechat_failures_are_counted(
    api: Any, merchant: Any, sandbox: Any, emf: Callable[[str], float]
) -> None:
    member = api.member_with_card(merchant)
    order_id = _order(api, member)
    assert _pay(sandbox, order_id, times=3)["deliveries"] == [204] * 3
    assert (emf(metrics.TOPUP_CREDITED), emf(metrics.DUPLICATE_NOTIFY), emf(metrics.NOTIFY_FAILED)) == (1, 2, 0)

    sandbox.pay.refund_failures[order_id] = {"status": 500, "code": "SYSTEM_ERROR", "times": 1}
    status, body = api.post(f"/v1/admin/topup/orders/{order_id}/refund", token=api.admin_token(merchant))
    assert status == 200 and body["status"] == "REFUNDING", body
    status, body = api.post(f"/v1/admin/topup/orders/{order_id}/refund", token=api.admin_token(merchant))
    assert status == 200
    assert emf(metrics.REFUND_REQUESTED) == 1  # the second call found the refund under way
    assert emf(metrics.WECHAT_FAILED) == 1  # the refused call; reconciliation will retry it


def test_a_lost_notify_is_a_reconciliation_credit_and_the_run_reports_its_backlog(
    api: Any,
    merchant: Any,
    sandbox: Any,
    emf: Callable[[str], float],
    log_lines: Lines,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chalice.test import Client

    from app import app

    member = api.member_with_card(merchant)
    paid = _order(api, member)
    _order(api, member)  # one still waiting to be paid: due, not credited
    _pay(sandbox, paid, notify=False)
    later = clock.now() + timedelta(minutes=6)
    monkeypatch.setattr(clock, "_now", lambda: later)
    with Client(app, stage_name="test") as client:
        result = client.lambda_.invoke(
            "reconcile_topups",
            client.events.generate_cw_event(
                source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
            ),
        )
    assert result.payload["credited"] == 1 and result.payload["waiting"] == 1 and result.payload["due"] == 2
    assert (emf(metrics.RECONCILIATION_CREDIT), emf(metrics.TOPUP_CREDITED)) == (1, 1)
    assert (emf(metrics.JOB_DUE), emf(metrics.JOB_FAILED), emf(metrics.RECONCILIATION_DUE)) == (2, 0, 2)
    [line] = [line for line in log_lines() if line.get("message") == "job run"]
    assert (line["job"], line["credited"], line["due"]) == ("reconcile_topups", 1, 2)


def test_claims_and_sold_outs_are_counted(api: Any, merchant: Any, emf: Callable[[str], float]) -> None:
    status, template = api.post(
        "/v1/admin/coupon-templates",
        {
            "name": "5元",
            "kind": "CASH",
            "amount": 500,
            "total_stock": 1,
            "per_member_limit": 1,
            "days_after_claim": 7,
        },
        token=api.admin_token(merchant),
    )
    assert status == 201, template
    first, second = api.member_with_card(merchant), api.member_with_card(merchant)
    key = uuid.uuid4().hex
    for member, want, headers in (
        (first, 200, {"idempotency-key": key}),
        (first, 200, {"idempotency-key": key}),
        (second, 409, {"idempotency-key": uuid.uuid4().hex}),
    ):
        status, body = api.post(
            f"/v1/coupons/offers/{template['template_id']}/claim", token=member["token"], headers=headers
        )
        assert status == want, body
    assert (emf(metrics.COUPON_CLAIMED), emf(metrics.SOLD_OUT)) == (1, 1)  # the retry is no second claim
