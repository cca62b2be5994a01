"""A merchant's webhook receiver for the tests: a tiny threaded HTTP server on 127.0.0.1.

`decide(event, n)` says how to answer the n-th request (0-based) carrying `event` (the parsed body): a status
to answer at once, or `(seconds, status)` to answer late (longer than the sender's read timeout: a timeout).
Every request is recorded (headers, raw body, when it arrived)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Decide = Callable[[dict[str, Any], int], "int | tuple[float, int]"]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    decide: Decide
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/kabao"

    def types(self) -> list[str]:
        return [r.event["type"] for r in self.received]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    n = len(receiver.received)
                    receiver.received.append(Received(dict(self.headers.items()), body, time.monotonic()))
                answer = receiver.decide(json.loads(body), n)
                if isinstance(answer, tuple):
                    time.sleep(answer[0])
                    answer = answer[1]
                try:
                    self.send_response(answer)
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender gave up (its read timeout)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
