"""Webhooks' pure rules: the event list the API accepts is the one the product emits, the retry schedule spans the
24 h window, and the URL rules on IP literals (no DNS)."""

from __future__ import annotations

import typing
from datetime import timedelta

import pytest

from mini_program_api.platform.errors import KabaoError
from mini_program_api.routes import schemas
from mini_program_api.webhooks import delivery, endpoints, events


def test_the_api_takes_exactly_the_events_the_product_emits() -> None:
    assert typing.get_args(schemas._WebhookEvent) == events.TYPES


def test_retries_back_off_and_reach_past_the_window() -> None:
    waits = [delivery.retry_after(n) for n in range(1, 10)]
    assert waits == sorted(waits) and waits[0] == timedelta(seconds=5)
    assert sum(waits[:7], timedelta()) > delivery.WINDOW  # so the window, not the schedule, ends the retries


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://93.184.215.14/hook?x=1", True),
        ("https://[2606:4700::1111]/hook", True),
        ("http://127.0.0.1:8080/hook", True),  # the tests' own stage is local
        ("https://169.254.169.254/", False),
        ("https://[::ffff:169.254.169.254]/", False),
        ("https://10.1.2.3/", False),
        ("https://239.255.255.250/", False),
        ("https://[ff02::1]/", False),
        # IPv6 forms that carry an IPv4 address a gateway or the kernel may reach: NAT64 (the VPC's NAT gateway
        # translates 64:ff9b::/96 to the IPv4 inside, private ones included), 6to4, IPv4-compatible.
        ("https://[64:ff9b::a9fe:a9fe]/", False),
        ("https://[64:ff9b::a00:1]/", False),
        ("https://[64:ff9b:1::a00:1]/", False),
        ("https://[2002:a9fe:a9fe::1]/", False),
        ("https://[::a9fe:a9fe]/", False),
        ("https://[::7f00:1]/", False),
        ("https://[64:ff9b::5db8:d70e]/", True),  # NAT64 of a public address is that address
        ("http://93.184.215.14/", False),
        ("https://a:b@93.184.215.14/", False),
        ("https:///nohost", False),
        ("https://93.184.215.14:99999/", False),
    ],
)
def test_url_rules(url: str, ok: bool) -> None:
    if ok:
        target = endpoints.check_url(url)
        assert target.address and target.path.startswith("/")
    else:
        with pytest.raises(KabaoError) as refused:
            endpoints.check_url(url)
        assert refused.value.code == "WEBHOOK_URL_REFUSED"
