"""Serve a WSGI app on loopback: in a daemon thread (tests) or in the foreground (`make dev`)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class LoopbackServer:
    def __init__(self, app: WSGIApp, host: str = "127.0.0.1", port: int = 0, quiet: bool = True) -> None:
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_Quiet if quiet else WSGIRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()

    def serve_forever(self, banner: str) -> None:
        print(f"{banner} on {self.url}", flush=True)
        try:
            self._server.serve_forever()
        except KeyboardInterrupt:
            pass


def free_port(preferred: int = 0, host: str = "127.0.0.1") -> int:
    """`preferred` if it is free, else any free port on the loopback host."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free loopback port")


def cli_port(description: str, default: int) -> tuple[str, int]:
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default)
    args = parser.parse_args()
    return args.host, args.port
