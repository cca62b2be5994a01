"""The API on loopback: Chalice's own local server (what `chalice local` runs), for `make dev` and the tests.

Not the `chalice local` command itself: its HTTP server listens with http.server's
backlog of 5, and 16 clients connecting at once (the soak, a load test) get their
connections reset. Here the same server class listens with a backlog of 128.

`server()` also does what `chalice local` does to the app: requests are served on
many threads locally (one at a time per Lambda container in AWS), so the app's
`current_request` becomes per thread, as chalice.local.create_local_server makes it;
without that, two concurrent requests can read each other's headers and token. And
unknown routes answer as the deployed API Gateway does (gateway.py). Both hold for
every chalice.test.Client in the process too.

And every module of the app is imported before the first request. A handler imports the domain
modules it calls on its first call (routes/endpoint.py), which a Lambda container does one request
at a time, while this server takes many at once: the first requests of a test or a load run then pay no
import, and should an import cycle ever slip past `make lint` (.importlinter forbids them), two threads
importing it from opposite ends cannot be handed a half-initialized module.

What http.server itself refuses before any route sees the request (a request line or header over 64 KiB, too
many headers, a request it cannot read) is answered in the error shape, not its HTML page; and a URL longer than
API Gateway takes in AWS (`MAX_URL`) is refused here too, so a client meets that limit in development.

    python -m infra.local.api --port 8000     # with the stage's environment already set
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import threading
from typing import Any

from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer, ThreadedHTTPServer

from . import heat

# Characters of a URL API Gateway takes for a regional REST API (chalice.json's prod stage; 8192 for an
# edge-optimized one): it refuses a longer one itself, before the Lambda, in a body of its own (docs/contract.md).
MAX_URL = 10_240


class _Server(ThreadedHTTPServer):
    request_queue_size = 128


class _Handler(ChaliceRequestHandler):
    """Chalice's handler with http.server's own refusals in the error shape, and API Gateway's URL limit."""

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if len(self.path) > MAX_URL:
            self.send_error(414)
            return False
        if heat.installed():  # bench/heat.py: book this request's DynamoDB calls to its route
            heat.set_request(str(self.command), self.path)
            heat.installed().count_request(str(self.command), self.path)  # type: ignore[union-attr]
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        from mini_program_api.routes.gateway import refusal

        answer = refusal(code)
        body = json.dumps(answer.body()).encode()
        self.close_connection = True  # the rest of what was sent is unread: this connection cannot go on
        if getattr(self, "request_version", None) == "HTTP/0.9":  # none read (`NONSENSE`): answer with a status line
            self.request_version = str(self.protocol_version)
        self.send_response(answer.status or code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _QuietHandler(_Handler):
    def log_message(self, *args: Any) -> None:
        pass


def local_app() -> Any:
    """The app, with a request per thread and the deployed gateway's answers (see above)."""
    import mini_program_api
    from app import app

    from .gateway import install

    install()
    for module in pkgutil.walk_packages(mini_program_api.__path__, "mini_program_api."):
        importlib.import_module(module.name)
    # PyJWT too, which a handler imports on its first token with cryptography hidden for that moment
    # (platform/auth.py): a request importing cryptography on another thread must never meet that moment.
    from mini_program_api.platform.auth import jwt_module

    jwt_module()
    if not isinstance(app, LocalChalice):
        CustomLocalChalice.__bases__ = (LocalChalice, type(app))
        app.__class__ = CustomLocalChalice
    return app


def server(host: str, port: int, quiet: bool = True) -> LocalDevServer:
    from chalice.config import Config

    app = local_app()
    heat.install_from_env()
    return LocalDevServer(
        app,
        Config.create(),
        host,
        port,
        handler_cls=_QuietHandler if quiet else _Handler,
        server_cls=_Server,
    )


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
