"""Webhooks from the console: a refused URL shown where it was typed, an endpoint registered against a receiver on
127.0.0.1 with its secret shown once, a test event sent (by the delivery job, run here as its schedule would) and
verified with that secret, the delivery log, a redeliver, pause and edit; at 375 px."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from standardwebhooks.webhooks import Webhook

from tests.webhook_receiver import Receiver

from .conftest import account, assert_accessible, no_horizontal_overflow, screenshot, signed_in


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver(lambda event, n: 200).start()
    yield started
    started.stop()


def test_register_an_endpoint_send_a_test_event_read_the_log_and_redeliver(
    page: Page, console_url: str, api: Any, merchant: Any, receiver: Receiver
) -> None:
    from mini_program_api.webhooks import delivery

    admin = account(api, merchant, "admin")
    token = api.admin_token(merchant)
    signed_in(page, api, merchant, admin)
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{console_url}/webhooks")

    page.get_by_label("接收地址（https://）").fill("https://169.254.169.254/latest/meta-data/")
    page.get_by_text("新会员", exact=True).click()
    page.get_by_text("积分变动", exact=True).click()
    page.locator("[data-test=webhook-create]").click()
    expect(page.locator("[data-test=webhook-error]")).to_be_visible()
    assert api.ok("GET", "/v1/admin/webhooks/endpoints", token=token)["endpoints"] == []

    page.get_by_label("接收地址（https://）").fill(receiver.url)
    page.locator("[data-test=webhook-create]").click()
    secret = page.locator("[data-test=webhook-secret-value]").inner_text().strip()
    assert secret.startswith("whsec_")
    [endpoint] = api.ok("GET", "/v1/admin/webhooks/endpoints", token=token)["endpoints"]
    assert (endpoint["url"], endpoint["events"]) == (receiver.url, ["member.created", "points.changed"])
    no_horizontal_overflow(page)
    assert_accessible(page)
    screenshot(page, "webhooks-secret-once")
    page.get_by_role("button", name="我已保存").click()
    expect(page.locator("[data-test=webhook-secret]")).to_have_count(0)

    page.locator("[data-test=webhook-test]").click()
    expect(page.get_by_text("测试事件已排队，一分钟内推送")).to_be_visible()
    delivery.sweep()  # what the scheduled job does every minute
    [got] = receiver.received
    assert Webhook(secret).verify(got.body, got.headers)["type"] == "webhook.test"

    page.locator("[data-test=webhook-log]").click()
    rows = page.locator("[data-test=webhook-deliveries] tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("webhook.test")
    expect(rows.first).to_contain_text("DELIVERED")
    page.locator("[data-test=webhook-redeliver]").click()
    expect(page.get_by_text("已重新排队推送")).to_be_visible()
    delivery.sweep()
    assert [r.headers["webhook-id"] for r in receiver.received] == [got.headers["webhook-id"]] * 2
    page.locator("[data-test=webhook-log-reload]").click()
    expect(rows).to_have_count(2)

    page.locator("[data-test=webhook-toggle]").click()
    expect(page.locator("[data-test=webhook-endpoints] tbody tr").first).to_contain_text("已暂停")
    page.locator("[data-test=webhook-edit]").click()
    page.get_by_label("备注").last.fill("ERP")
    page.locator("[data-test=webhook-edit-save]").click()
    expect(page.locator("[data-test=webhook-edit-save]")).to_be_hidden()
    read = api.ok("GET", f"/v1/admin/webhooks/endpoints/{endpoint['endpoint_id']}", token=token)
    assert (read["enabled"], read["description"]) == (False, "ERP")
    assert_accessible(page)
    screenshot(page, "webhooks-log")
