"""Issue 23, item 10: what the local API server refuses before any route sees the request (a URL or a header too
long, a request line it cannot read) is answered in the error shape, not http.server's HTML page.

Over real HTTP, on raw sockets: the point is the server's own parsing, which chalice.test.Client never reaches.
"""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

from infra.local.api import MAX_URL


def _send(api_url: str, head: bytes) -> tuple[int, dict[str, str], Any]:
    """Send a request head as it stands; the status, headers and JSON body of the answer."""
    where = urlsplit(api_url)
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        sock.sendall(head)
        sock.shutdown(socket.SHUT_WR)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    top, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = top.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, json.loads(body[: int(headers["content-length"])])


def _get(path: str, *extra: str) -> bytes:
    return "\r\n".join([f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *extra, "", ""]).encode()


@pytest.mark.parametrize("length", [MAX_URL + 1, 70_000])  # over the deployed limit; over http.server's own
def test_a_url_too_long_is_414_in_the_error_shape(api_url: str, length: int) -> None:
    path = "/v1/me?cursor=" + "a" * (length - len("/v1/me?cursor="))
    status, headers, body = _send(api_url, _get(path))
    assert (status, headers["content-type"], body["error"]["code"]) == (414, "application/json", "URI_TOO_LONG")
    assert "aaaa" not in body["error"]["message"]


def test_a_url_at_the_limit_reaches_the_route(api_url: str) -> None:
    path = "/v1/me?cursor=" + "a" * (MAX_URL - len("/v1/me?cursor="))
    status, _, body = _send(api_url, _get(path))
    assert (status, body["error"]["code"]) == (401, "UNAUTHENTICATED")


def test_headers_too_large_a_broken_request_or_an_unknown_method_are_in_the_error_shape(api_url: str) -> None:
    status, headers, body = _send(api_url, _get("/v1/me", "X-Long: " + "b" * 70_000))
    assert (status, headers["content-type"], body["error"]["code"]) == (431, "application/json", "HEADERS_TOO_LARGE")
    many = [f"X-H{i}: 1" for i in range(120)]
    assert _send(api_url, _get("/v1/me", *many))[2]["error"]["code"] == "HEADERS_TOO_LARGE"
    for head in (b"GET /v1/me HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n", b"NONSENSE\r\n\r\n"):
        status, headers, body = _send(api_url, head)
        assert (status, headers["content-type"], body["error"]["code"]) == (400, "application/json", "BAD_REQUEST")
    status, _, body = _send(api_url, b"BREW /v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert (status, body["error"]["code"]) == (405, "METHOD_NOT_ALLOWED")
