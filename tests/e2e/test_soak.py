"""The soak of bench/soak.py at 1000 operations: black box over HTTP, then every money invariant; and a short
run of it under faults (`make soak CHAOS=1`)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.soak import soak


def test_a_thousand_mixed_operations_from_16_clients_keep_every_invariant(stack: Any) -> None:
    from infra.local.seed import seed

    seed(stack.sandbox_server.url)
    report = soak(stack.api_url, stack.sandbox_server.url, operations=1000, clients=16, members=40)
    report.print()  # shown with -s, and in the failure output
    assert report.violations == []
    assert report.operations == 1000
    served = {route: sum(by_status.values()) for route, by_status in report.statuses.items()}
    # The mix really ran: money moved in every way the soak exercises.
    for route in (
        "POST /v1/staff/checkout",
        "POST /v1/topup/orders",
        "POST /_sandbox/pay/{no}",
        "POST /v1/coupons/offers/{id}/claim",
        "POST /v1/staff/orders/{id}/refund",
    ):
        assert served.get(route, 0) > 0, route
    assert report.statuses["POST /v1/staff/checkout"]["200"] > 100


def test_mixed_operations_under_faults_keep_every_invariant(stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB throttling, conflicts and lost answers, WeChat Pay failing, notifies lost, late and duplicated,
    jobs killed mid-run: then every invariant, and every operation a client saw succeed took effect once."""
    from infra.local import faults
    from infra.local.seed import seed

    seed(stack.sandbox_server.url)
    monkeypatch.setenv(faults.ENV, "1")
    report = soak(
        stack.api_url, stack.sandbox_server.url, operations=200, clients=8, members=16, chaos=True, journeys=1
    )
    report.print()
    assert report.violations == []
    chaos = report.chaos
    assert chaos is not None
    # The faults really happened, each kind, and the jobs really died mid-run.
    assert sum(chaos.dynamodb.values()) > 0
    assert {"lost", "late", "duplicated"} <= set(chaos.notifies)
    assert sum(c["killed"] for c in chaos.jobs.values()) > 0
    assert all(line.startswith("held") for line in chaos.invariants) and len(chaos.invariants) == 4
