"""Real concurrent HTTP requests at the served API (not the in-process test client), all let go at once."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def post_at_once(
    barrier: threading.Barrier,
    url: str,
    body: Any,
    token: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    """POST `body` once every thread reached `barrier`; (status, error code or "")."""
    headers = {"content-type": "application/json", **(extra_headers or {})}
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)
    barrier.wait()
    for _ in range(20):  # the server's listen backlog is 5: a refused connection is tried again
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, ""
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())["error"]["code"]
        except (ConnectionError, urllib.error.URLError):
            time.sleep(0.05)
    raise AssertionError("the server never took the request")


def guess_at_once(
    monkeypatch: Any, module: Any, url: str, bodies: list[Any], token: str | None = None
) -> tuple[list[str], list[tuple[int, str]]]:
    """POST every body at once, with a spy on `module.check_password` (the real scrypt check still decides):
    the passwords actually checked, and each request's (status, error code)."""
    checked: list[str] = []
    lock, real_check = threading.Lock(), module.check_password

    def counting(password: str, stored: str) -> bool:
        with lock:
            checked.append(password)
        return bool(real_check(password, stored))

    monkeypatch.setattr(module, "check_password", counting)
    barrier = threading.Barrier(len(bodies))
    with ThreadPoolExecutor(len(bodies)) as pool:
        outcomes = list(pool.map(lambda body: post_at_once(barrier, url, body, token), bodies))
    return checked, outcomes
