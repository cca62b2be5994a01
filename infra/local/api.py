"""The API on loopback: Chalice's own local server (what `chalice local` runs), for `make dev` and the tests.

Not the `chalice local` command itself: its HTTP server listens with http.server's
backlog of 5, and 16 clients connecting at once (the soak, a load test) get their
connections reset. Here the same server class listens with a backlog of 128.

    python -m infra.local.api --port 8000     # with the stage's environment already set
"""
from __future__ import annotations

import threading
from typing import Any

from chalice.local import ChaliceRequestHandler, LocalDevServer, ThreadedHTTPServer


class _Server(ThreadedHTTPServer):
    request_queue_size = 128


class _QuietHandler(ChaliceRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def server(host: str, port: int, quiet: bool = True) -> LocalDevServer:
    from chalice.config import Config

    from app import app

    return LocalDevServer(app, Config.create(), host, port, handler_cls=_QuietHandler if quiet else ChaliceRequestHandler,
                          server_cls=_Server)


def serve_in_thread(host: str, port: int) -> LocalDevServer:
    api = server(host, port)
    threading.Thread(target=api.server.serve_forever, daemon=True).start()
    return api


def main() -> None:
    from .loopback import cli_port

    host, port = cli_port(__doc__.splitlines()[0], 8000)
    try:
        server(host, port, quiet=False).serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
