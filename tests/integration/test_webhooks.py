"""Issue 25 §5: webhooks to the merchant's systems. Endpoints over HTTP (the admin API); events written to the
outbox in their own transactions; the delivery job (driven directly, on the test clock) sending to a real
receiver on 127.0.0.1 that fails, times out, answers late and verifies Standard Webhooks signatures."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from mini_program_api.webhooks import delivery, endpoints
from mini_program_api.webhooks.models import WebhookEndpoint, WebhookEvent, endpoints_pk, events_pk
from tests.webhook_receiver import Decide, Receiver

BASE = "/v1/admin/webhooks/endpoints"
MEMBER_EVENTS = ["member.created", "card.opened"]


@pytest.fixture
def receivers() -> Iterator[Any]:
    started: list[Receiver] = []

    def start(decide: Decide = lambda event, n: 200) -> Receiver:
        started.append(Receiver(decide).start())
        return started[-1]

    yield start
    for receiver in started:
        receiver.stop()


def _endpoint(api: Any, merchant: Any, url: str, events: list[str]) -> dict[str, Any]:
    status, body = api.post(BASE, {"url": url, "events": events}, token=api.admin_token(merchant))
    assert status == 201, body
    return dict(body)


def _log(api: Any, merchant: Any, endpoint_id: str) -> list[dict[str, Any]]:
    """The endpoint's whole delivery log, oldest first (read page by page, 2 a page)."""
    rows: list[dict[str, Any]] = []
    cursor = ""
    while True:
        status, page = api.get(f"{BASE}/{endpoint_id}/deliveries?limit=2{cursor}", token=api.admin_token(merchant))
        assert status == 200, page
        rows += page["deliveries"]
        if not page["cursor"]:
            return rows[::-1]
        cursor = f"&cursor={page['cursor']}"


def _outbox(merchant: Any, member_id: str) -> list[str]:
    items = WebhookEvent.query(events_pk(merchant.merchant_id, member_id), consistent_read=True)
    return [str(item.type) for item in items]


def test_endpoint_crud_secret_once_encrypted_paged_and_another_merchants_id_is_404(
    api: Any, merchant: Any, make_merchant: Any
) -> None:
    admin = api.admin_token(merchant)
    created = [_endpoint(api, merchant, f"https://93.184.215.14/hook/{n}", ["points.changed"]) for n in range(3)]
    first = created[0]
    assert first["secret"].startswith("whsec_") and first["secret_hint"] == first["secret"][:10]
    Webhook(first["secret"])  # a secret the Standard Webhooks library takes
    stored = WebhookEndpoint.get(endpoints_pk(merchant.merchant_id), first["endpoint_id"], consistent_read=True)
    assert first["secret"] not in str(stored.secret_enc) and first["secret"][6:] not in str(stored.secret_enc)

    status, read = api.get(f"{BASE}/{first['endpoint_id']}", token=admin)
    assert status == 200 and "secret" not in read
    assert read == {k: v for k, v in first.items() if k != "secret"}

    seen, cursor = [], ""
    while True:
        status, page = api.get(f"{BASE}?limit=2{cursor}", token=admin)
        assert status == 200 and len(page["endpoints"]) <= 2
        seen += [e["endpoint_id"] for e in page["endpoints"]]
        if not page["cursor"]:
            break
        cursor = f"&cursor={page['cursor']}"
    assert sorted(seen) == sorted(e["endpoint_id"] for e in created)

    status, changed = api.patch(
        f"{BASE}/{first['endpoint_id']}", {"events": ["coupon.claimed", "topup.paid"], "enabled": False}, token=admin
    )
    assert status == 200 and changed["events"] == ["coupon.claimed", "topup.paid"] and changed["enabled"] is False
    assert api.get(f"{BASE}/{first['endpoint_id']}", token=admin)[1] == changed

    status, rotated = api.post(f"{BASE}/{first['endpoint_id']}/rotate-secret", token=admin)
    assert status == 200 and rotated["secret"] != first["secret"] and rotated["secret"].startswith("whsec_")
    stored = WebhookEndpoint.get(endpoints_pk(merchant.merchant_id), first["endpoint_id"], consistent_read=True)
    assert endpoints.secret_of(stored) == rotated["secret"]

    status, bad = api.post(BASE, {"url": "https://93.184.215.14/", "events": ["no.such"]}, token=admin)
    assert status == 400 and bad["error"]["code"] == "VALIDATION_ERROR"

    other = make_merchant()
    theirs = api.admin_token(other)
    eid = first["endpoint_id"]
    for method, path, body in [
        ("GET", f"{BASE}/{eid}", None),
        ("PATCH", f"{BASE}/{eid}", {"enabled": True}),
        ("DELETE", f"{BASE}/{eid}", None),
        ("POST", f"{BASE}/{eid}/rotate-secret", None),
        ("POST", f"{BASE}/{eid}/test", None),
        ("GET", f"{BASE}/{eid}/deliveries", None),
        ("POST", f"{BASE}/{eid}/events/evt_x/redeliver", None),
    ]:
        status, body = api.call(method, path, body, token=theirs)
        assert (status, body["error"]["code"]) == (404, "WEBHOOK_ENDPOINT_NOT_FOUND"), (method, path)
    assert api.get(f"{BASE}/{eid}", token=admin)[0] == 200  # untouched by the other merchant's calls

    assert api.call("DELETE", f"{BASE}/{eid}", token=admin)[0] == 204
    assert api.get(f"{BASE}/{eid}", token=admin)[1]["error"]["code"] == "WEBHOOK_ENDPOINT_NOT_FOUND"
    assert api.call("DELETE", f"{BASE}/{eid}", token=admin)[0] == 404


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",  # the cloud's metadata service (link-local)
        "http://169.254.169.254/latest/meta-data/",
        "https://10.0.0.8/hook",
        "https://172.16.3.4/hook",
        "https://192.168.1.10/hook",
        "https://100.64.0.1/hook",  # carrier-grade NAT
        "https://224.0.0.1/hook",  # multicast
        "https://0.0.0.0/hook",
        "https://[fe80::1]/hook",
        "https://[fd00::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "http://93.184.215.14/hook",  # plain http to a public host
        "https://user:pass@93.184.215.14/hook",
        "ftp://93.184.215.14/hook",
    ],
)
def test_urls_that_reach_inside_are_refused(api: Any, merchant: Any, url: str) -> None:
    status, body = api.post(BASE, {"url": url, "events": ["points.changed"]}, token=api.admin_token(merchant))
    assert status == 400 and body["error"]["code"] in ("WEBHOOK_URL_REFUSED", "VALIDATION_ERROR"), body
    assert api.get(BASE, token=api.admin_token(merchant))[1]["endpoints"] == []


def test_loopback_only_on_local_stages_and_the_url_is_checked_again_at_delivery(
    api: Any, merchant: Any, receivers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = receivers()
    hook = _endpoint(api, merchant, receiver.url, ["member.created"])
    with monkeypatch.context() as m:
        m.setattr(endpoints, "settings", lambda: SimpleNamespace(is_local=False))
        status, body = api.post(
            BASE,
            {"url": receiver.url.replace("http:", "https:"), "events": ["card.opened"]},
            token=api.admin_token(merchant),
        )
        assert (status, body["error"]["code"]) == (400, "WEBHOOK_URL_REFUSED")
        status, body = api.patch(
            f"{BASE}/{hook['endpoint_id']}", {"url": "https://localhost:9/x"}, token=api.admin_token(merchant)
        )
        assert (status, body["error"]["code"]) == (400, "WEBHOOK_URL_REFUSED")

    api.login(merchant)
    # The name now resolves to the metadata service (DNS rebinding): the delivery refuses to connect.
    monkeypatch.setattr(endpoints, "_resolve", lambda host, port: ["169.254.169.254"])
    delivery.sweep()
    assert receiver.received == []
    [row] = _log(api, merchant, hook["endpoint_id"])
    assert row["status"] == "FAILED" and row["error"].startswith("WEBHOOK_URL_REFUSED")


def test_deliveries_are_signed_per_standard_webhooks_and_logged(api: Any, merchant: Any, receivers: Any) -> None:
    receiver = receivers()
    hook = _endpoint(api, merchant, receiver.url, [*MEMBER_EVENTS, "points.changed"])
    member = api.member_with_card(merchant)
    member_id = member["member"]["member_id"]
    assert receiver.received == []  # the API only wrote the outbox
    assert _outbox(merchant, member_id) == ["member.created", "card.opened"]

    report = delivery.sweep()
    assert report.delivered == 2 and not report.failed
    assert receiver.types() == ["member.created", "card.opened"]
    verifier = Webhook(hook["secret"])
    for got in receiver.received:
        event = verifier.verify(got.body, got.headers)
        assert event["data"]["member_id"] == member_id
        assert got.headers["webhook-id"].startswith("evt_")
    assert receiver.received[1].event["data"]["card_number"] == member["member"]["card"]["number"]
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 32).verify(receiver.received[0].body, receiver.received[0].headers)
    assert _outbox(merchant, member_id) == []

    rows = _log(api, merchant, hook["endpoint_id"])
    assert [(r["type"], r["status"], r["response_code"], r["attempt"]) for r in rows] == [
        ("member.created", "DELIVERED", 200, 1),
        ("card.opened", "DELIVERED", 200, 1),
    ]
    assert delivery.sweep().delivered == 0  # nothing is sent twice


def test_a_failing_endpoint_is_retried_with_backoff_in_order_per_member(
    api: Any, merchant: Any, receivers: Any, clock: Any
) -> None:
    stuck: dict[str, str] = {}
    fails = {"left": 2}

    def decide(event: dict[str, Any], n: int) -> int:
        if event["data"]["member_id"] == stuck.get("id") and fails["left"] > 0:
            fails["left"] -= 1
            return 503
        return 200

    receiver = receivers(decide)
    hook = _endpoint(api, merchant, receiver.url, MEMBER_EVENTS)
    stuck["id"] = api.member_with_card(merchant)["member"]["member_id"]
    other = api.member_with_card(merchant)["member"]["member_id"]

    delivery.sweep()
    mine = [r.event["type"] for r in receiver.received if r.event["data"]["member_id"] == stuck["id"]]
    assert mine == ["member.created"]  # failed; its card.opened waits behind it
    assert [r.event["type"] for r in receiver.received if r.event["data"]["member_id"] == other] == MEMBER_EVENTS

    delivery.sweep()
    assert len(receiver.received) == 3  # not yet due: the first retry comes 5 s later
    clock.advance(seconds=6)
    delivery.sweep()
    clock.advance(minutes=4)
    delivery.sweep()
    assert len(receiver.received) == 4  # second retry failed; the next is 5 minutes after it
    clock.advance(minutes=2)
    delivery.sweep()
    mine = [
        (r.event["type"], r.headers["webhook-id"])
        for r in receiver.received
        if r.event["data"]["member_id"] == stuck["id"]
    ]
    assert [t for t, _ in mine] == ["member.created"] * 3 + ["card.opened"]
    assert len({i for t, i in mine if t == "member.created"}) == 1  # every retry under the same webhook-id
    rows = [r for r in _log(api, merchant, hook["endpoint_id"]) if r["member_id"] == stuck["id"]]
    assert [(r["status"], r["response_code"], r["attempt"]) for r in rows] == [
        ("FAILED", 503, 1),
        ("FAILED", 503, 2),
        ("DELIVERED", 200, 3),
        ("DELIVERED", 200, 1),
    ]


def test_dead_letter_after_24_hours_then_the_queue_moves_on_and_redeliver_sends_it_again(
    api: Any, merchant: Any, receivers: Any, clock: Any
) -> None:
    answer = {"status": 500}
    receiver = receivers(lambda event, n: answer["status"])
    hook = _endpoint(api, merchant, receiver.url, MEMBER_EVENTS)
    api.member_with_card(merchant)

    delivery.sweep()
    for _ in range(3):
        clock.advance(hours=11)
        delivery.sweep()
    rows = _log(api, merchant, hook["endpoint_id"])
    created = [r for r in rows if r["type"] == "member.created"]
    assert [r["status"] for r in created] == ["FAILED", "FAILED", "FAILED", "DEAD"]
    assert [r["type"] for r in rows][-1] == "card.opened"  # tried once the first was dead-lettered
    dead_id = created[-1]["event_id"]

    answer["status"] = 204
    admin = api.admin_token(merchant)
    status, body = api.post(f"{BASE}/{hook['endpoint_id']}/events/{dead_id}/redeliver", token=admin)
    assert (status, body) == (202, {"event_id": dead_id})
    missing = api.post(f"{BASE}/{hook['endpoint_id']}/events/evt_nope/redeliver", token=admin)
    assert (missing[0], missing[1]["error"]["code"]) == (404, "WEBHOOK_EVENT_NOT_FOUND")
    clock.advance(seconds=10)
    delivery.sweep()
    last = receiver.received[-2:]
    assert [r.event["type"] for r in last] == ["card.opened", "member.created"]  # after what was queued first
    assert last[1].headers["webhook-id"] == dead_id
    assert last[1].body == next(r.body for r in receiver.received if r.headers["webhook-id"] == dead_id)
    assert _log(api, merchant, hook["endpoint_id"])[-1]["status"] == "DELIVERED"


def test_a_slow_endpoint_times_out_without_delaying_the_api_or_another_endpoint(
    api: Any, merchant: Any, receivers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "READ_TIMEOUT", 0.5)
    slow = receivers(lambda event, n: (3.0, 200))
    late = receivers(lambda event, n: (0.2, 200))  # late, but within the timeout
    fast = receivers()
    hooks = {
        name: _endpoint(api, merchant, r.url, ["member.created"])
        for name, r in (("slow", slow), ("late", late), ("fast", fast))
    }

    started = time.monotonic()
    member_id = api.login(merchant)["member"]["member_id"]
    assert time.monotonic() - started < 2.0 and slow.received == []

    started = time.monotonic()
    report = delivery.sweep()
    assert time.monotonic() - started < 2.5  # the endpoints in parallel, the slow one cut at its timeout
    assert report.delivered == 2 and report.failed_attempts == 1
    assert fast.received[0].at < slow.received[0].at + 0.4  # not queued behind the slow endpoint's timeout
    assert [r.event["data"]["member_id"] for r in fast.received + late.received] == [member_id] * 2
    [timed_out] = _log(api, merchant, hooks["slow"]["endpoint_id"])
    assert (timed_out["status"], timed_out["error"], timed_out["response_code"]) == ("FAILED", "TIMEOUT", None)
    assert timed_out["latency_ms"] >= 500
    [answered_late] = _log(api, merchant, hooks["late"]["endpoint_id"])
    assert answered_late["status"] == "DELIVERED" and answered_late["latency_ms"] >= 200


def test_a_test_event_goes_to_that_endpoint_only(api: Any, merchant: Any, receivers: Any) -> None:
    one, two = receivers(), receivers()
    hook = _endpoint(api, merchant, one.url, ["points.changed"])
    _endpoint(api, merchant, two.url, ["points.changed"])
    status, body = api.post(f"{BASE}/{hook['endpoint_id']}/test", token=api.admin_token(merchant))
    assert status == 202
    delivery.sweep()
    assert one.types() == ["webhook.test"] and two.received == []
    assert one.received[0].headers["webhook-id"] == body["event_id"]
    Webhook(hook["secret"]).verify(one.received[0].body, one.received[0].headers)
    [row] = _log(api, merchant, hook["endpoint_id"])
    assert (row["type"], row["status"], row["event_id"]) == ("webhook.test", "DELIVERED", body["event_id"])


def test_an_event_is_in_the_outbox_iff_its_transaction_committed(
    api: Any, merchant: Any, make_merchant: Any, receivers: Any
) -> None:
    quiet = make_merchant()  # no endpoint: its events cost no outbox write
    assert _outbox(quiet, api.member_with_card(quiet)["member"]["member_id"]) == []

    receiver = receivers()
    _endpoint(api, merchant, receiver.url, ["checkout.completed", "points.changed", "stored_value.changed"])
    member = api.member_with_card(merchant)
    member_id = member["member"]["member_id"]
    staff = api.staff_token(merchant)
    before = _outbox(merchant, member_id)

    status, body = api.post(
        "/v1/staff/checkout",
        {"member_code": api.member_code(member["token"]), "amount": 5000, "stored_value": 3000},
        token=staff,
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert (status, body["error"]["code"]) == (409, "INSUFFICIENT_BALANCE")
    assert _outbox(merchant, member_id) == before  # refused: nothing to tell

    key = uuid.uuid4().hex
    sale = {"member_code": api.member_code(member["token"]), "amount": 5000}
    status, receipt = api.post("/v1/staff/checkout", sale, token=staff, headers={"idempotency-key": key})
    assert status == 200, receipt
    again = api.post("/v1/staff/checkout", sale, token=staff, headers={"idempotency-key": key})
    assert again[0] == 200  # a retry with the same key is answered, and adds no second event
    assert _outbox(merchant, member_id) == [*before, "checkout.completed", "points.changed"]

    delivery.sweep()
    sent = {r.event["type"]: r.event["data"] for r in receiver.received}
    assert set(sent) == {"checkout.completed", "points.changed"}
    assert sent["checkout.completed"]["order_id"] == receipt["order_id"]
    assert sent["checkout.completed"]["cash_due"] == receipt["cash_due"]
    assert sent["points.changed"]["entries"] == [{"account": "points", "amount": receipt["points_earned"]}]


def test_two_runs_at_once_send_each_event_once_and_in_order(
    api: Any, merchant: Any, receivers: Any, clock: Any
) -> None:
    receiver = receivers(lambda event, n: (0.05, 200))
    _endpoint(api, merchant, receiver.url, MEMBER_EVENTS)
    members = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(4)]
    runs = [threading.Thread(target=delivery.sweep) for _ in range(3)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    clock.advance(seconds=2)  # what waited behind another run's send is due a second later
    delivery.sweep()
    for member_id in members:
        got = [r.event["type"] for r in receiver.received if r.event["data"]["member_id"] == member_id]
        assert got == MEMBER_EVENTS, member_id  # once each, in order (DynamoDB Local's conditions, real threads)


def test_a_coupon_claimed_spent_at_a_checkout_that_raises_the_tier_and_its_refund(
    api: Any, merchant: Any, receivers: Any
) -> None:
    receiver = receivers()
    _endpoint(
        api,
        merchant,
        receiver.url,
        ["coupon.claimed", "coupon.redeemed", "tier.changed", "checkout.completed", "checkout.refunded"],
    )
    admin = api.admin_token(merchant)
    status, template = api.post(
        "/v1/admin/coupon-templates",
        {
            "name": "5元无门槛",
            "kind": "CASH",
            "amount": 500,
            "total_stock": 10,
            "per_member_limit": 1,
            "days_after_claim": 7,
        },
        token=admin,
    )
    assert status == 201, template
    member = api.member_with_card(merchant)
    status, coupon = api.post(
        f"/v1/coupons/offers/{template['template_id']}/claim",
        token=member["token"],
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status in (200, 201), coupon
    staff = api.staff_token(merchant)
    sale = {"member_code": api.member_code(member["token"]), "amount": 120000, "coupon_id": coupon["coupon_id"]}
    status, receipt = api.post("/v1/staff/checkout", sale, token=staff, headers={"idempotency-key": uuid.uuid4().hex})
    assert status == 200 and receipt["tier_after"] == "silver", receipt
    status, refunded = api.post(f"/v1/staff/orders/{receipt['order_id']}/refund", token=staff)
    assert status == 200, refunded

    delivery.sweep()
    got = [(r.event["type"], r.event["data"]) for r in receiver.received]
    types = [t for t, _ in got]  # the member's order; the sale's three come from its one transaction
    assert types[0] == "coupon.claimed" and types[-1] == "checkout.refunded" and len(types) == 5
    assert sorted(types[1:4]) == ["checkout.completed", "coupon.redeemed", "tier.changed"]
    data = dict(got)
    assert data["coupon.claimed"]["coupon_id"] == data["coupon.redeemed"]["coupon_id"] == coupon["coupon_id"]
    assert data["coupon.redeemed"]["used_ref"] == receipt["order_id"]
    assert (data["tier.changed"]["from_tier_id"], data["tier.changed"]["to_tier_id"]) == ("normal", "silver")
    assert data["checkout.completed"]["coupon_discount"] == receipt["coupon_discount"] == 500
    assert data["checkout.refunded"]["order_id"] == receipt["order_id"]
    assert data["checkout.refunded"]["points_clawed_back"] == refunded["points_clawed_back"]


def test_a_top_up_paid_twice_over_and_refunded(api: Any, merchant: Any, sandbox: Any, receivers: Any) -> None:
    import json

    receiver = receivers()
    _endpoint(api, merchant, receiver.url, ["topup.paid", "topup.refunded", "stored_value.changed"])
    member = api.member_with_card(merchant)
    status, order = api.post(
        "/v1/topup/orders", {"plan_id": "p300"}, token=member["token"], headers={"idempotency-key": uuid.uuid4().hex}
    )
    assert status == 200, order
    answer = json.loads(sandbox.pay.pay(order["order_id"], times=2).get_data())  # WeChat's notify, delivered twice
    assert answer["deliveries"] == [204, 204]
    status, refund = api.post(f"/v1/admin/topup/orders/{order['order_id']}/refund", token=api.admin_token(merchant))
    assert status == 200, refund

    delivery.sweep()
    got = [(r.event["type"], r.event["data"]) for r in receiver.received]
    # Once each, though paid twice over; each with the ledger change of its own transaction.
    assert [t for t, _ in got] == ["topup.paid", "stored_value.changed", "topup.refunded", "stored_value.changed"]
    data = {t: d for t, d in got if t.startswith("topup.")}
    assert (data["topup.paid"]["order_id"], data["topup.paid"]["amount"], data["topup.paid"]["bonus"]) == (
        order["order_id"],
        30000,
        5000,
    )
    assert data["topup.refunded"]["refund_amount"] == 30000
    credits = [d["entries"] for t, d in got if t == "stored_value.changed"]
    assert sorted(e["amount"] for e in credits[0] + credits[1]) == [-30000, -5000, 5000, 30000]


def test_a_patch_with_nothing_in_it_is_400_and_one_that_changes_nothing_moves_no_version(
    api: Any, merchant: Any
) -> None:
    hook = _endpoint(api, merchant, "http://127.0.0.1:9/hook", ["member.created"])
    admin, path = api.admin_token(merchant), f"{BASE}/{hook['endpoint_id']}"
    for empty in ({}, {"description": None, "enabled": None}):
        status, body = api.patch(path, empty, token=admin)
        assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), body
    status, same = api.patch(path, {"url": hook["url"], "events": hook["events"], "enabled": True}, token=admin)
    assert status == 200 and same["version"] == hook["version"] == 0, same
    status, paused = api.patch(path, {"enabled": False}, token=admin)
    assert status == 200 and paused["version"] == 1 and paused["enabled"] is False, paused


def test_a_receiver_that_drips_its_answer_is_cut_at_a_total_time(
    api: Any, merchant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read timeout is per read: a receiver sending a byte of its headers just inside it each time held one
    attempt (and the run's thread) as long as it liked, past the Lambda's deadline. An attempt has a total time."""
    import socket

    monkeypatch.setattr(delivery, "READ_TIMEOUT", 0.5)
    monkeypatch.setattr(delivery, "TOTAL_TIMEOUT", 1.5)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    stop = threading.Event()

    def drip() -> None:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(1)
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                until = time.monotonic() + 6  # the test's own bound, should the cut not come
                while not stop.is_set() and time.monotonic() < until:
                    conn.sendall(b"X-Slow: 1\r\n")  # a header line each 0.3 s, inside the read timeout
                    time.sleep(0.3)
            except OSError:
                return

    threading.Thread(target=drip, daemon=True).start()
    hook = _endpoint(api, merchant, f"http://127.0.0.1:{server.getsockname()[1]}/hook", ["member.created"])
    api.login(merchant)
    started = time.monotonic()
    try:
        delivery.sweep()
    finally:
        stop.set()
        server.close()
    assert time.monotonic() - started < 5.0  # uncut, the drip holds the attempt 6 s
    [cut] = _log(api, merchant, hook["endpoint_id"])
    assert (cut["status"], cut["error"]) == ("FAILED", "TIMEOUT"), cut


def test_a_rotated_secret_signs_beside_the_old_one_for_a_day(
    api: Any, merchant: Any, receivers: Any, clock: Any
) -> None:
    """A receiver holds the old secret until its own deploy: for 24 hours after a rotation every delivery carries
    both signatures (Standard Webhooks: space-separated in `webhook-signature`), so a receiver with either
    secret verifies it and nothing waits in retries; after the day, the new secret's alone."""
    receiver = receivers()
    hook = _endpoint(api, merchant, receiver.url, ["points.changed"])
    admin = api.admin_token(merchant)
    status, rotated = api.post(f"{BASE}/{hook['endpoint_id']}/rotate-secret", token=admin)
    assert status == 200, rotated

    def signed_with(got: Any, secret: str) -> bool:
        at = datetime.fromtimestamp(int(got.headers["webhook-timestamp"]), UTC)
        expected = Webhook(secret).sign(got.headers["webhook-id"], at, got.body)
        return expected in got.headers["webhook-signature"].split(" ")

    for advance_hours, old_signs in ((0, True), (23, True), (2, False)):
        clock.advance(hours=advance_hours)
        assert api.post(f"{BASE}/{hook['endpoint_id']}/test", token=api.admin_token(merchant))[0] == 202
        delivery.sweep()
        got = receiver.received[-1]
        assert signed_with(got, rotated["secret"]), got.headers
        assert signed_with(got, hook["secret"]) is old_signs, (advance_hours, got.headers)
    assert len(receiver.received) == 3
