"""The merchant console (console/, a Vue app) served by the API itself under /console/: same origin, so no CORS,
and the console always ships with the API version it was built against.

These routes are not API operations: they are declared with a bare `bp.route`, not `endpoint()`, so they stay out
of `ROUTES`, openapi.json and the contract checks (`PATHS` names them for the tests that compare the app's routes
with the spec). Nothing is read or imported at import time: an API request's cold start pays nothing for them.

A path that names a file of the build answers that file; any other path answers index.html, so a deep link
(/console/members/m-1) reaches the app's router. Hashed assets are cached for a year, index.html never (it names
the assets of the current build).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint, Response

if TYPE_CHECKING:
    from pathlib import Path

bp = Blueprint(__name__)

# Fixed depths, not a greedy {proxy+}: Chalice's local server (make dev, the tests) matches segment by segment.
# Three levels hold the build (assets/<file>) and every deep link of the app's router (members/<id>).
PATHS = ("/console", "/console/{first}", "/console/{first}/{second}", "/console/{first}/{second}/{third}")
# Lambda's zip and the repository alike: <root>/console/dist beside mini_program_api/ (infra/deploy/package.py).
DIST_PARTS = ("console", "dist")
_TEXT = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
_BINARY = {".png": "image/png", ".ico": "image/x-icon", ".woff2": "font/woff2", ".woff": "font/woff"}
_IMMUTABLE = "public, max-age=31536000, immutable"


def dist() -> Path:
    from pathlib import Path

    return Path(__file__).resolve().parents[2].joinpath(*DIST_PARTS)


_TYPES = ["application/json", "text/plain"]


@bp.route(PATHS[0], methods=["GET"], content_types=_TYPES)
def index() -> Response:
    return _serve()


@bp.route(PATHS[1], methods=["GET"], content_types=_TYPES)
def page(first: str) -> Response:
    return _serve(first)


@bp.route(PATHS[2], methods=["GET"], content_types=_TYPES)
def nested(first: str, second: str) -> Response:
    return _serve(first, second)


@bp.route(PATHS[3], methods=["GET"], content_types=_TYPES)
def deeper(first: str, second: str, third: str) -> Response:
    return _serve(first, second, third)


def _serve(*segments: str) -> Response:
    root = dist()
    target = _inside(root, segments)
    if target is None:
        return _not_found()
    if target.is_file():
        return _file(target, immutable=target.parent.name == "assets")
    if "." in target.name:  # a file that is not there (a stale asset): no index.html in its place
        return _not_found()
    shell = root / "index.html"
    if not shell.is_file():
        return Response(
            body="The console is not built: run `make install` (npm ci and vite build in console/).",
            status_code=503,
            headers={"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"},
        )
    return _file(shell, immutable=False)


def _inside(root: Path, segments: tuple[str, ...]) -> Path | None:
    """The file the path's segments name under `root`, or None when it would leave it (.., an encoded slash)."""
    from urllib.parse import unquote

    name = "/".join(unquote(s) for s in segments)
    if "\x00" in name or "\\" in name:
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    target = root.joinpath(*parts).resolve() if parts else root
    if target != root and root.resolve() not in target.parents:
        return None
    return target


def _file(path: Path, immutable: bool) -> Response:
    suffix = path.suffix.lower()
    headers: dict[str, str | list[str]] = {
        "Cache-Control": _IMMUTABLE if immutable else "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if suffix in _TEXT:
        headers["Content-Type"] = _TEXT[suffix]
        return Response(body=path.read_text(encoding="utf-8"), status_code=200, headers=headers)
    headers["Content-Type"] = _BINARY.get(suffix, "application/octet-stream")
    return Response(body=path.read_bytes(), status_code=200, headers=headers)


def _not_found() -> Response:
    return Response(
        body='{"error": {"code": "NOT_FOUND", "message": "no such file in the console"}}',
        status_code=404,
        headers={"Content-Type": "application/json", "Cache-Control": "no-store"},
    )
