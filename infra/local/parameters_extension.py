"""A loopback stand-in for the AWS Parameters and Secrets Lambda Extension, so `ssm:` references resolve locally
through the same code as in AWS (mini_program_api/platform/secrets.py), with no AWS.

It answers what the product asks the real extension (docs.aws.amazon.com, "Using Parameter Store parameters in
AWS Lambda functions"): `GET /systemsmanager/parameters/get?name=<url-encoded name>&withDecryption=true` (with or
without a slash before `?`) with the header `X-Aws-Parameters-Secrets-Token` set to the function's session token,
and GetParameter's JSON, `{"Parameter": {"Name", "Type", "Value", "Version", ...}}`. Its refusals:

- no token, or another one: 401 (the real extension refuses a request that does not come from the function);
- no `name`: 400; a name it does not hold: 400 with SSM's `ParameterNotFound` in the text, as the extension
  passes on what GetParameter answered (an error text, never a value);
- any other path or method: 404.

A SecureString read without `withDecryption=true` is its cipher, as SSM answers: a client that forgets the flag
reads something that is not the secret. `put` stores or rotates a value (a new version); `reads` lists the
names asked for, for the tests that count loopback calls. The stack gives it the stage's parameters
(infra/local/stack.py); it listens on 127.0.0.1 on a port of its own, which the product reads from
`PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` as the real extension does.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

PATHS = ("/systemsmanager/parameters/get", "/systemsmanager/parameters/get/")
TOKEN_HEADER = "HTTP_X_AWS_PARAMETERS_SECRETS_TOKEN"


class ParametersExtension:
    """The WSGI app (serve it with infra/local/loopback.py's LoopbackServer)."""

    def __init__(self, token: str, parameters: dict[str, str] | None = None, region: str = "cn-north-1") -> None:
        self.token, self.region = token, region
        self._lock = threading.Lock()
        self._parameters: dict[str, tuple[str, int, datetime]] = {}
        self.reads: list[str] = []
        for name, value in (parameters or {}).items():
            self.put(name, value)

    def put(self, name: str, value: str) -> int:
        """Store a SecureString parameter, or overwrite it (a rotation): its new version."""
        with self._lock:
            version = self._parameters[name][1] + 1 if name in self._parameters else 1
            self._parameters[name] = (value, version, datetime.now(UTC))
        return version

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def answer(status: str, body: bytes, kind: str = "text/plain") -> list[bytes]:
            start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
            return [body]

        if environ["REQUEST_METHOD"] != "GET" or environ.get("PATH_INFO") not in PATHS:
            return answer("404 Not Found", b"not found")
        if not self.token or environ.get(TOKEN_HEADER) != self.token:
            return answer("401 Unauthorized", b"not authorized")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        name = (query.get("name") or [""])[0]
        if not name:
            return answer("400 Bad Request", b"name is required")
        with self._lock:
            self.reads.append(name)
            held = self._parameters.get(name)
        if held is None:
            return answer("400 Bad Request", b"an error occurred (ParameterNotFound) when calling GetParameter")
        value, version, modified = held
        if (query.get("withDecryption") or ["false"])[0].lower() != "true":
            value = base64.b64encode(f"cipher:{version}:{len(value)}".encode()).decode()
        parameter = {
            "ARN": f"arn:aws-cn:ssm:{self.region}:000000000000:parameter{name}",
            "DataType": "text",
            "LastModifiedDate": modified.isoformat(),
            "Name": name,
            "Selector": None,
            "SourceResult": None,
            "Type": "SecureString",
            "Value": value,
            "Version": version,
        }
        body = json.dumps({"Parameter": parameter, "ResultMetadata": {}}).encode()
        return answer("200 OK", body, "application/json")


def main() -> None:
    """`make dev`: the stand-in as a process, its token and parameters from the environment it is started with
    (`KABAO_EXTENSION_PARAMETERS`, a JSON object of name to value; `AWS_SESSION_TOKEN`)."""
    import os

    from .loopback import LoopbackServer, cli_port

    host, port = cli_port(__doc__.splitlines()[0], 2773)
    parameters = json.loads(os.environ.get("KABAO_EXTENSION_PARAMETERS", "{}"))
    app = ParametersExtension(os.environ.get("AWS_SESSION_TOKEN", ""), parameters)
    LoopbackServer(app, host, port, quiet=False).serve_forever("Parameters and Secrets extension stand-in")


if __name__ == "__main__":
    main()
