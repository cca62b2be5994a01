"""Embedded DynamoDB endpoint for `make dev` and the tests: moto's server, one request at a time.

moto's DynamoDB backend is not atomic under concurrent requests: measured here, it
loses updates, lets two conditional writes both succeed, answers TransactWriteItems
with 500s and leaves phantom rows. Real DynamoDB serialises writes per item, so a
global lock around each request is the simplest faithful model of it.

Known gaps, which the product must not depend on: ClientRequestToken is ignored
(idempotency comes from our own ledger keys) and TTL never deletes anything
(expiry is always checked at read time).

Run it alone with ``python -m infra.local_dynamodb --port 8001``.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .loopback import LoopbackServer, WSGIApp, cli_port


class Serialized:
    """WSGI middleware that runs the wrapped app for one request at a time.

    The body is materialised inside the lock so that a streamed response cannot
    interleave with the next request's reads of the backend.
    """

    def __init__(self, app: WSGIApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            result = self._app(environ, start_response)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


def dynamodb_app() -> WSGIApp:
    from moto.moto_server.werkzeug_app import create_backend_app

    return Serialized(create_backend_app("dynamodb"))


def main() -> None:
    host, port = cli_port(__doc__.splitlines()[0], 8001)
    LoopbackServer(dynamodb_app(), host, port).serve_forever("local DynamoDB")


if __name__ == "__main__":
    main()
