"""Chalice's local API Gateway answering unknown routes as the deployed gateway does.

`chalice local` and chalice.test.Client route requests through
`chalice.local.LocalGateway`. For a path no route matches it raises a 403 whose
body quotes the caller's Authorization header, mimicking API Gateway's default
answer. Deployed, the template's MISSING_AUTHENTICATION_TOKEN gateway response
answers instead (mini_program_api/routes/gateway.py); `install()` makes the local
gateway give that same answer. kabao has no Chalice authorizers, so every 403 the
local gateway raises is "no route".

infra/local/api.py installs it for `make dev`, the test stack and every
chalice.test.Client in the process.
"""

from __future__ import annotations

import json
from typing import Any

from chalice import local

from mini_program_api.routes.gateway import GATEWAY_RESPONSES

_UNKNOWN_ROUTE = GATEWAY_RESPONSES["MISSING_AUTHENTICATION_TOKEN"]


class UnknownRoute(local.LocalGatewayException):
    CODE = _UNKNOWN_ROUTE.status or 404


def install() -> None:
    """Wrap LocalGateway.handle_request once per process (every local server and test client uses it)."""
    original = local.LocalGateway.handle_request
    if getattr(original, "kabao_gateway", False):
        return

    def handle_request(
        self: local.LocalGateway, method: str, path: str, headers: dict[str, Any], body: bytes | None
    ) -> Any:
        try:
            return original(self, method, path, headers, body)
        except local.ForbiddenError:
            raise UnknownRoute(
                {"Content-Type": "application/json"}, json.dumps(_UNKNOWN_ROUTE.body()).encode()
            ) from None

    handle_request.kabao_gateway = True  # type: ignore[attr-defined]
    local.LocalGateway.handle_request = handle_request  # type: ignore[method-assign]
