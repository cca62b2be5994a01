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

    python -m infra.local.api --port 8000     # with the stage's environment already set
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from typing import Any

from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer, ThreadedHTTPServer


class _Server(ThreadedHTTPServer):
    request_queue_size = 128


class _QuietHandler(ChaliceRequestHandler):
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
    if not isinstance(app, LocalChalice):
        CustomLocalChalice.__bases__ = (LocalChalice, type(app))
        app.__class__ = CustomLocalChalice
    return app


def server(host: str, port: int, quiet: bool = True) -> LocalDevServer:
    from chalice.config import Config

    app = local_app()
    return LocalDevServer(
        app,
        Config.create(),
        host,
        port,
        handler_cls=_QuietHandler if quiet else ChaliceRequestHandler,
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
