"""Delivering the webhook outbox: fan-out, then one endpoint's queue per member, signed and sent in order.

One scheduled job (functions/webhooks.py, every minute) on the job runner, in two steps:

1. Fan-out (`webhook_events` due list): each outbox item (outbox.py) becomes one `WebhookSend` per endpoint
   that is enabled and wants its type, in the queue of that endpoint and member, in one transaction that also
   deletes the outbox item. A member's later event waits while an earlier one is still in the outbox.
2. Sends (`webhook_sends` due list): only the first item of a queue is sent; one behind it waits for that
   one's delivery or dead letter (its due time follows the first's), so an endpoint receives each member's
   events in the order they happened, while other members and other endpoints go on. Each endpoint's work
   runs in its own thread, with a short connect and read timeout and at most `FAILURES_PER_PASS` failed
   attempts per run, so a slow or dead endpoint costs the others nothing; the API only ever writes the outbox.

Every attempt is signed per Standard Webhooks with the `standardwebhooks` package (`webhook-id` is the
event's id, the same on every retry; `webhook-timestamp` the attempt's time; `webhook-signature` v1 HMAC
over `id.timestamp.body`) and logged (`WebhookAttempt`: time, event, status, response code, latency,
attempt). A 2xx is delivered; anything else (another status, a timeout, a refused connection, a URL that now
resolves to a refused address) is retried after `RETRY_AFTER` (5 s, 5 min, 30 min, 2 h, 5 h, then every
10 h), and the attempt that fails 24 h or more after the first dead-letters it. Whatever leaves a queue
(delivered or dead) is kept 30 days as `WebhookSent`, which a manual redeliver puts back at the queue's end.

At least once, not exactly once: an answer lost after the receiver acted is sent again under the same
`webhook-id`, which receivers use to drop duplicates. A lease on the item keeps two runs from sending it at
once. No redirect is followed (it could lead anywhere the URL check refused).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mini_program_api.db.transact import Cancelled, Transaction, update_if
from mini_program_api.jobs import due, runner
from mini_program_api.platform import clock
from mini_program_api.platform.errors import KabaoError
from mini_program_api.webhooks import endpoints, events, outbox
from mini_program_api.webhooks.models import (
    EVENTS_JOB,
    SENDS_JOB,
    TEST_MEMBER,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookEvent,
    WebhookSend,
    WebhookSent,
    log_pk,
    queue_pk,
    sent_pk,
)

log = logging.getLogger(__name__)
RETRY_AFTER = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
)
WINDOW = timedelta(hours=24)
KEEP = timedelta(days=30)
CONNECT_TIMEOUT = 2.0  # seconds
READ_TIMEOUT = 5.0  # each read: a receiver sending a byte at a time would renew it for ever
TOTAL_TIMEOUT = 10.0  # the whole attempt (`_Watchdog`)
LEASE = timedelta(seconds=30)  # > an attempt's total time, so no other run sends the item meanwhile
FAILURES_PER_PASS = 3  # per endpoint and run: the rest of its work waits for the next run
BATCH = 500
WORKERS = 8
_BODY_CHARS = 200

DELIVERED, FAILED, DEAD = "DELIVERED", "FAILED", "DEAD"
WAITING, BUSY, DROPPED, PAUSED, NOTHING = "WAITING", "BUSY", "DROPPED", "PAUSED", "NOTHING"


@dataclass
class Report(runner.Report):
    fanned_out: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    dead: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if outcome == DELIVERED:
            self.delivered += 1
        elif outcome == FAILED:
            self.failed_attempts += 1
        elif outcome == DEAD:
            self.dead += 1


def retry_after(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt."""
    return RETRY_AFTER[min(attempts, len(RETRY_AFTER)) - 1]


# --- fan-out ---------------------------------------------------------------------------------------------


def _first(model: Any, pk: str) -> Any:
    return next(iter(model.query(pk, limit=1, consistent_read=True)), None)


def _wait_behind(item: Any, head: Any, now: datetime) -> str:
    """An item behind its partition's first waits until that one is due (then it is looked at again)."""
    later = max(str(head.due_sk or ""), due.stamp(now + timedelta(seconds=1)))
    update_if(item, [type(item).due_sk.set(later)], type(item).due_sk == item.due_sk)
    return WAITING


def fan_out(pk: str, sk: str, now: datetime) -> str:
    try:
        event = WebhookEvent.get(pk, sk, consistent_read=True)
    except WebhookEvent.DoesNotExist:
        return NOTHING
    head = _first(WebhookEvent, pk)
    if head is not None and head.sk != event.sk:
        return _wait_behind(event, head, now)
    merchant_id, member_id = str(event.merchant_id), str(event.member_id)
    tx = Transaction()
    tx.delete("event", event, condition=WebhookEvent.sk.exists())
    for endpoint in endpoints.listening(merchant_id):
        if not endpoint.enabled or event.type not in list(endpoint.events):
            continue
        _queue(tx, endpoint, member_id, str(event.event_id), str(event.type), str(event.payload), event.sk, now)
    try:
        tx.commit()
    except Cancelled:
        return BUSY  # another run fanned it out meanwhile
    return "FANNED_OUT"


def _queue(
    tx: Transaction,
    endpoint: WebhookEndpoint,
    member_id: str,
    event_id: str,
    type_: str,
    payload: str,
    sk: str,
    now: datetime,
) -> None:
    pk = queue_pk(str(endpoint.merchant_id), str(endpoint.endpoint_id), member_id)
    due_pk, due_sk = due.slot(SENDS_JOB, pk, now)
    send = WebhookSend(
        pk,
        sk,
        merchant_id=endpoint.merchant_id,
        endpoint_id=endpoint.endpoint_id,
        member_id=member_id,
        event_id=event_id,
        type=type_,
        payload=payload,
        attempts=0,
        created_at=now,
        due_pk=due_pk,
        due_sk=due_sk,
    )
    tx.put(f"send:{endpoint.endpoint_id}", send, condition=WebhookSend.sk.does_not_exist())


# --- one attempt -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    code: int | None
    latency_ms: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


def headers(secrets: Sequence[str], event_id: str, at: datetime, payload: str) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt, signed with each secret (space-separated)."""
    from standardwebhooks.webhooks import Webhook

    return {
        "content-type": "application/json",
        "user-agent": "kabao-webhooks/1",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(Webhook(secret).sign(event_id, at, payload.encode()) for secret in secrets),
    }


class _Watchdog:
    """Cuts an attempt at `seconds` in all: urllib3's read timeout is per read, so a receiver dripping its headers
    or body a byte at a time (inside it each time) held the attempt, its run and its lease as long as it liked. The
    cut shuts the connection's socket down from a timer thread, which ends the read blocked on it."""

    def __init__(self, pool: Any, seconds: float) -> None:
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        watchdog = self

        class Watched(pool.ConnectionCls):
            def connect(self) -> None:
                super().connect()
                watchdog._watch(self.sock)

        pool.ConnectionCls = Watched
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.fired:
                self._cut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                self._cut(sock)

    @staticmethod
    def _cut(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed

    def cancel(self) -> None:
        self._timer.cancel()


def post(endpoint: WebhookEndpoint, event_id: str, payload: str, at: datetime) -> Answer:
    """One POST to the endpoint's URL, checked again now and sent to the address checked; never raises for
    the endpoint's failures (they are the answer)."""
    import urllib3

    started = time.monotonic()

    def answer(code: int | None, error: str | None) -> Answer:
        return Answer(code, int((time.monotonic() - started) * 1000), error)

    try:
        target = endpoints.check_url(str(endpoint.url))
    except KabaoError as exc:
        return answer(None, f"{exc.code}: {exc.message}")
    sent = headers(endpoints.signing_secrets(endpoint, at), event_id, at, payload)
    default_port = 443 if target.scheme == "https" else 80
    sent["host"] = target.host if target.port == default_port else f"{target.host}:{target.port}"
    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT)
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        import certifi

        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=timeout,
            retries=False,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout, retries=False)
    watchdog = _Watchdog(pool, TOTAL_TIMEOUT)
    try:
        response = pool.urlopen(
            "POST", target.path, body=payload.encode(), headers=sent, redirect=False, preload_content=False
        )
        response.read(4096, decode_content=False)  # the receiver's answer is not ours to keep
        response.release_conn()
        code = int(response.status)
        if watchdog.fired:
            return answer(None, "TIMEOUT")  # the cut may read as an answer's end
        return answer(code, None if 200 <= code < 300 else f"HTTP {code}")
    except urllib3.exceptions.TimeoutError:
        return answer(None, "TIMEOUT")
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        if watchdog.fired:
            return answer(None, "TIMEOUT")
        return answer(None, f"CONNECTION: {type(exc).__name__}"[:_BODY_CHARS])
    finally:
        watchdog.cancel()
        pool.close()


def _delivery_id(now: datetime) -> str:
    """Sorts as the log's order: the attempt's time, then the real time in ns (attempts in one microsecond,
    or under a test's frozen clock)."""
    return f"{now.strftime('%Y%m%dT%H%M%S%f')}_{time.time_ns():016x}{uuid.uuid4().hex[:6]}"


def send(pk: str, sk: str, now: datetime) -> str:
    """Send a queue's first item (or make a later one wait behind it); returns what happened."""
    try:
        item = WebhookSend.get(pk, sk, consistent_read=True)
    except WebhookSend.DoesNotExist:
        return NOTHING
    if item.due_sk is None:
        return NOTHING
    head = _first(WebhookSend, pk)
    if head is not None and head.sk != item.sk:
        return _wait_behind(item, head, now)
    merchant_id, endpoint_id = str(item.merchant_id), str(item.endpoint_id)
    endpoint = endpoints.find(merchant_id, endpoint_id)
    if endpoint is None:  # removed: nobody to send to
        item.delete(condition=WebhookSend.sk.exists())
        return DROPPED
    if not endpoint.enabled:
        if now - item.created_at < WINDOW:
            update_if(
                item, [WebhookSend.due_sk.set(due.stamp(now + timedelta(hours=1)))], WebhookSend.due_sk == item.due_sk
            )
            return PAUSED
        return _finish(item, now, Answer(None, 0, "ENDPOINT_DISABLED"), DEAD)
    lease = now + LEASE
    if not update_if(
        item,
        [WebhookSend.lease_until.set(lease)],
        # It must still be there: an update of a key another run has just delivered (deleted) would create it.
        WebhookSend.sk.exists() & (WebhookSend.lease_until.does_not_exist() | (WebhookSend.lease_until < now)),
    ):
        return BUSY
    item.lease_until = lease
    result = post(endpoint, str(item.event_id), str(item.payload), clock.now())
    if result.ok:
        return _finish(item, now, result, DELIVERED)
    first = item.first_attempt_at or now
    if now - first >= WINDOW:
        return _finish(item, now, result, DEAD)
    attempts = int(item.attempts) + 1
    tx = Transaction()
    tx.update(
        "send",
        item,
        actions=[
            WebhookSend.attempts.set(attempts),
            WebhookSend.first_attempt_at.set(first),
            WebhookSend.due_sk.set(due.stamp(now + retry_after(attempts))),
            WebhookSend.due_error.set(str(result.error)[:_BODY_CHARS]),
            WebhookSend.lease_until.remove(),
        ],
        condition=WebhookSend.lease_until == lease,
    )
    tx.put("log", _attempt(item, now, result, FAILED, attempts))
    return _commit(tx, FAILED)


def _commit(tx: Transaction, outcome: str) -> str:
    """Commit an attempt's outcome, unless its lease was lost (it outlived LEASE, another run took the item):
    that run records its own attempt."""
    try:
        tx.commit()
    except Cancelled:
        return BUSY
    return outcome


def _attempt(item: WebhookSend, now: datetime, result: Answer, status: str, attempt: int) -> WebhookAttempt:
    delivery_id = _delivery_id(now)
    return WebhookAttempt(
        log_pk(str(item.merchant_id), str(item.endpoint_id)),
        delivery_id,
        delivery_id=delivery_id,
        endpoint_id=item.endpoint_id,
        event_id=item.event_id,
        type=item.type,
        member_id=item.member_id,
        status=status,
        response_code=result.code,
        latency_ms=result.latency_ms,
        attempt=attempt,
        error=result.error,
        at=now,
        expires_ttl=now + KEEP,
    )


def _finish(item: WebhookSend, now: datetime, result: Answer, status: str) -> str:
    """The item leaves its queue, delivered or dead-lettered, kept for a redeliver, logged: one transaction."""
    attempt = int(item.attempts) + 1
    tx = Transaction()
    held = WebhookSend.lease_until == item.lease_until if item.lease_until else WebhookSend.lease_until.does_not_exist()
    tx.delete("send", item, condition=WebhookSend.sk.exists() & held)
    tx.put(
        "sent",
        WebhookSent(
            sent_pk(str(item.merchant_id), str(item.endpoint_id)),
            str(item.event_id),
            merchant_id=item.merchant_id,
            endpoint_id=item.endpoint_id,
            member_id=item.member_id,
            event_id=item.event_id,
            type=item.type,
            payload=item.payload,
            status=status,
            at=now,
            expires_ttl=now + KEEP,
        ),
    )
    tx.put("log", _attempt(item, now, result, status, attempt))
    return _commit(tx, status)


# --- the admin's actions -----------------------------------------------------------------------------------


def send_test(merchant_id: str, endpoint_id: str) -> str:
    """Queue a `webhook.test` event to this endpoint alone (sent by the next run, logged like any other);
    returns its event id."""
    endpoint = endpoints.get(merchant_id, endpoint_id)
    now = clock.now()
    event_id = outbox.new_event_id()
    payload = events.body(events.TEST, now, {"endpoint_id": endpoint_id})
    tx = Transaction()
    _queue(tx, endpoint, TEST_MEMBER, event_id, events.TEST, payload, f"{due.stamp(now)}#{event_id}", now)
    tx.commit()
    return event_id


def redeliver(merchant_id: str, endpoint_id: str, event_id: str) -> str:
    """Put a delivered or dead-lettered event back at the end of its queue, with a fresh 24 h window; same
    `webhook-id`, same body."""
    endpoint = endpoints.get(merchant_id, endpoint_id)
    try:
        sent = WebhookSent.get(sent_pk(merchant_id, endpoint_id), event_id, consistent_read=True)
    except WebhookSent.DoesNotExist:
        raise KabaoError("WEBHOOK_EVENT_NOT_FOUND", "no delivered or dead-lettered event with that id") from None
    now = clock.now()
    tx = Transaction()
    _queue(
        tx,
        endpoint,
        str(sent.member_id),
        event_id,
        str(sent.type),
        str(sent.payload),
        f"{due.stamp(now)}#{event_id}",
        now,
    )
    tx.commit()
    return event_id


def attempts(merchant_id: str, endpoint_id: str, cursor: str | None, limit: int) -> Any:
    """The endpoint's delivery log, newest first, paged."""
    from mini_program_api.platform import paging

    endpoints.get(merchant_id, endpoint_id)
    return paging.query(
        WebhookAttempt.query, log_pk(merchant_id, endpoint_id), {"sk": ""}, cursor, limit, scan_index_forward=False
    )


# --- the job -----------------------------------------------------------------------------------------------


def _get(model: Any, key: tuple[str, str]) -> Any:
    try:
        return model.get(*key, consistent_read=True)
    except model.DoesNotExist:
        return None


def _endpoint_of(pk: str) -> str:
    return pk.split("#WHQ#", 1)[1].split("#", 1)[0]


def _sends(keys: list[tuple[str, str]], now: datetime, deadline: float | None) -> Report:
    """One endpoint's due sends, in order, stopping after FAILURES_PER_PASS failed attempts."""
    report = Report(SENDS_JOB)
    keys = sorted(keys, key=lambda key: key[1])  # by the events' times: a queue's first before those behind it

    def items() -> Iterator[tuple[str, str]]:
        for key in keys:
            if report.failed_attempts >= FAILURES_PER_PASS:
                report.more = True
                return
            yield key

    def handle(key: tuple[str, str]) -> None:
        report.count(send(*key, now))

    def failed(key: tuple[str, str], exc: Exception) -> str:
        return due.failed(SENDS_JOB, _get(WebhookSend, key), now, exc, key=key[0])

    report.due = len(keys)
    return runner.walk(report, items(), handle, failed, deadline)


def sweep(now: datetime | None = None, limit: int = BATCH, deadline: float | None = None) -> Report:
    """The scheduled run: fan out the outbox, then send what is due, each endpoint in its own thread."""
    at = now or clock.now()
    report = Report("webhooks")
    fanned = Report(EVENTS_JOB)
    # By the events' times (the due list orders by due time only): a member's first event before the next.
    events_due = sorted(due.owed(WebhookEvent, EVENTS_JOB, at, limit), key=lambda key: key[1])
    fanned.due = len(events_due)

    def fan_out_failed(key: tuple[str, str], exc: Exception) -> str:
        return due.failed(EVENTS_JOB, _get(WebhookEvent, key), at, exc, key=key[0])

    runner.walk(fanned, events_due, lambda key: fanned.count(fan_out(*key, at)), fan_out_failed, deadline)
    fanned.more = fanned.more or len(events_due) >= limit
    report.fanned_out = fanned.done
    report.failed += fanned.failed
    keys = list(due.owed(WebhookSend, SENDS_JOB, at, limit))
    per_endpoint: dict[str, list[tuple[str, str]]] = {}
    for key in keys:
        per_endpoint.setdefault(_endpoint_of(key[0]), []).append(key)
    report.due = fanned.due + len(keys)
    report.done = fanned.done
    if per_endpoint:
        with ThreadPoolExecutor(max_workers=min(WORKERS, len(per_endpoint))) as pool:
            parts = list(pool.map(lambda k: _sends(k, at, deadline), per_endpoint.values()))
        for part in parts:
            report.done += part.done
            report.failed += part.failed
            report.delivered += part.delivered
            report.failed_attempts += part.failed_attempts
            report.dead += part.dead
            report.stopped_early = report.stopped_early or part.stopped_early
            report.more = report.more or part.more
            for outcome, n in part.outcomes.items():
                report.outcomes[outcome] = report.outcomes.get(outcome, 0) + n
    report.stopped_early = report.stopped_early or fanned.stopped_early
    report.more = report.more or fanned.more or len(keys) >= limit
    return report
