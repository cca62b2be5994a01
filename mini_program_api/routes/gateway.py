"""Answers no kabao handler gives, in kabao's error shape and never echoing the request.

Three things answer around our handlers, each in a shape of its own until now:

- API Gateway in AWS answers unknown routes and methods itself (403 "Missing
  Authentication Token", or a message quoting the caller's Authorization header),
  throttling and timeouts: its gateway responses are in the deploy template,
  from `GATEWAY_RESPONSES` (infra/deploy/template.py).
- Chalice inside the Lambda answers 405, 415 and, for an exception escaping a
  view, 500 as `{"Code", "Message"}`: `bp`'s middleware rewrites them. A
  blueprint's middleware applies to the whole app, so registering `bp` in app.py
  installs it.
- Chalice's stand-in for API Gateway (`chalice local`, chalice.test.Client)
  answers unknown routes as API Gateway would: infra/local/gateway.py gives the
  same answer as the deployed gateway response.

Messages are fixed texts: nothing of the request (headers, body, exception) is echoed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from chalice import Blueprint, Response

from mini_program_api.platform.errors import error_body

bp = Blueprint(__name__)


class Answer(NamedTuple):
    status: int | None  # None: keep the status API Gateway chose
    code: str
    message: str

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message)


NOT_FOUND = Answer(404, "NOT_FOUND", "no route matches this method and path")
INTERNAL_ERROR = Answer(500, "INTERNAL_ERROR", "an internal error occurred; it has been logged")

# API Gateway response type -> our answer. DEFAULT_4XX/5XX cover every type not listed.
GATEWAY_RESPONSES: dict[str, Answer] = {
    "MISSING_AUTHENTICATION_TOKEN": NOT_FOUND,  # what API Gateway calls an unknown route or method
    "THROTTLED": Answer(429, "RATE_LIMITED", "too many requests, retry later"),
    "REQUEST_TOO_LARGE": Answer(413, "REQUEST_TOO_LARGE", "the request body is too large"),
    "UNSUPPORTED_MEDIA_TYPE": Answer(415, "UNSUPPORTED_MEDIA_TYPE", "send application/json"),
    "DEFAULT_4XX": Answer(None, "BAD_REQUEST", "the request was refused before it reached the service"),
    "DEFAULT_5XX": Answer(None, "INTERNAL_ERROR", "the service did not answer, retry later"),
}

# What Chalice's own error responses become, by status.
_CHALICE: dict[int, Answer] = {
    404: NOT_FOUND,
    405: Answer(405, "METHOD_NOT_ALLOWED", "this path does not take this method"),
    413: GATEWAY_RESPONSES["REQUEST_TOO_LARGE"],
    415: GATEWAY_RESPONSES["UNSUPPORTED_MEDIA_TYPE"],
}


# What a server refuses before routing (the local one, infra/local/api.py: http.server's own errors), by status.
_SERVER: dict[int, Answer] = {
    414: Answer(414, "URI_TOO_LONG", "the URL is too long"),
    431: Answer(431, "HEADERS_TOO_LARGE", "the request's headers are too large"),
    501: _CHALICE[405],  # a method no route has
}


def refusal(status: int) -> Answer:
    """The answer to a request the server could not take; anything unlisted cannot be read at all (400)."""
    return _SERVER.get(status, Answer(400, "BAD_REQUEST", "the request cannot be read"))


def chalice_answer(status: int) -> Answer:
    if status >= 500:
        return INTERNAL_ERROR
    return _CHALICE.get(status, Answer(status, "BAD_REQUEST", "the request cannot be served"))


def _ours(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("error"), dict)


@bp.middleware("http")
def error_shape(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice's own 4xx/5xx (`{"Code", "Message"}`, or a traceback in debug mode) in our shape."""
    response = get_response(event)
    if response.status_code < 400 or _ours(response.body):
        return response
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}  # Allow, CORS
    return Response(
        body=chalice_answer(response.status_code).body(),
        status_code=response.status_code,
        headers={**headers, "Content-Type": "application/json"},
    )
