"""The API serves the built console under /console/ over real HTTP: the app for deep links, assets with their
types and a year's cache, nothing outside console/dist, and nothing for a path that is not in the build."""

from __future__ import annotations

import http.client
import re
from typing import Any
from urllib.parse import urlparse

from .conftest import ROOT


def _get(api_url: str, raw_path: str) -> tuple[int, dict[str, str], bytes]:
    """A request with the path sent exactly as written (urllib would normalise `..` away)."""
    where = urlparse(api_url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    connection.putrequest("GET", raw_path, skip_accept_encoding=True)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_deep_links_get_the_app_and_assets_their_type_and_cache(console_url: str, stack: Any) -> None:
    index = (ROOT / "console" / "dist" / "index.html").read_bytes()
    for path in ("/console", "/console/", "/console/login", "/console/members/m-123"):
        status, headers, body = _get(stack.api_url, path)
        assert (status, body) == (200, index), path
        assert headers["content-type"] == "text/html; charset=utf-8" and headers["cache-control"] == "no-cache"
    script = re.search(rb'src="/console/(assets/[^"]+\.js)"', index)
    style = re.search(rb'href="/console/(assets/[^"]+\.css)"', index)
    assert script and style
    status, headers, body = _get(stack.api_url, f"/console/{script.group(1).decode()}")
    assert status == 200 and headers["content-type"] == "text/javascript; charset=utf-8"
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert body == (ROOT / "console" / "dist" / script.group(1).decode()).read_bytes()
    status, headers, _ = _get(stack.api_url, f"/console/{style.group(1).decode()}")
    assert status == 200 and headers["content-type"] == "text/css; charset=utf-8"


def test_no_path_leaves_the_build(console_url: str, stack: Any) -> None:
    for path in (
        "/console/../app.py",
        "/console/assets/../../../app.py",
        "/console/..%2F..%2Fapp.py",
        "/console/%2e%2e/%2e%2e/app.py",
        "/console/assets/..%2f..%2f..%2fapp.py",
        "/console/%2e%2e%2f%2e%2e%2fchalice.json",
        "/console/assets/%5c..%5c..%5capp.py",
        "/console/..%2F..%2Fopenapi.json",  # a type served as text: would answer 200 with the file
        "/console/assets/..%2F..%2F..%2Fopenapi.json",
    ):
        status, _, body = _get(stack.api_url, path)
        assert b"Chalice" not in body and b"import" not in body and b"openapi" not in body, path
        assert status in (403, 404), (path, status)


def test_a_missing_asset_is_a_404_not_the_app(console_url: str, stack: Any) -> None:
    status, headers, body = _get(stack.api_url, "/console/assets/gone-1234.js")
    assert status == 404 and headers["content-type"] == "application/json" and b"NOT_FOUND" in body
