"""The soak of bench/soak.py at 1000 operations: black box over HTTP, then every money invariant."""
from __future__ import annotations

from typing import Any

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
    for route in ("POST /v1/staff/checkout", "POST /v1/topup/orders", "POST /_sandbox/pay/{no}",
                  "POST /v1/coupons/offers/{id}/claim", "POST /v1/staff/orders/{id}/refund"):
        assert served.get(route, 0) > 0, route
    assert report.statuses["POST /v1/staff/checkout"]["200"] > 100
