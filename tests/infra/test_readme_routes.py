"""The README's API table lists every route the app serves (issue 13: "the README's API table lists every route").

Table cells name routes as `METHOD[·METHOD] /path` (a query after `?` is ignored, path parameters match
whatever their name) and `.../tail` for a sibling of the route named just before it."""
from __future__ import annotations

import os
import re

from tests.conftest import ROOT

_ROUTE = re.compile(r"`([A-Z]+(?:·[A-Z]+)*) (/[^`\s]+)[^`]*`|`\.\.\.(/[^`\s]+)`")


def _normal(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path.split("?")[0])


def readme_routes(text: str) -> set[tuple[str, str]]:
    """(method, path) pairs in the README's `## HTTP API` tables."""
    section = text.split("## HTTP API", 1)[1].split("\n## ", 1)[0]
    found: set[tuple[str, str]] = set()
    for line in section.splitlines():
        if not line.startswith("|"):
            continue
        methods: list[str] = []
        path = ""
        for match in _ROUTE.finditer(line):
            if match.group(3):  # `.../tail`: the previous route's parent + tail, same methods
                path = path.rsplit("/", 1)[0] + match.group(3)
            else:
                methods, path = match.group(1).split("·"), match.group(2)
            found.update((m, _normal(path)) for m in methods)
    return found


def app_routes() -> set[tuple[str, str]]:
    from app import app

    return {(method, _normal(path)) for path, entries in app.routes.items() for method in entries}


def test_every_route_is_in_the_readme_table() -> None:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        listed = readme_routes(f.read())
    served = app_routes()
    assert sorted(served - listed) == [], "routes missing from the README's API table"
    assert sorted(listed - served) == [], "the README lists routes the app does not serve"


def test_the_parser_reads_shorthand_and_would_notice_a_missing_route() -> None:
    table = ("## HTTP API\n| `GET·PUT /v1/a/{id}?x=` · `.../b` | x |\n| `POST /v1/c` `{body}` | y |\n## Next\n"
             "| `GET /v1/ignored` | z |")
    assert readme_routes(table) == {("GET", "/v1/a/{}"), ("PUT", "/v1/a/{}"), ("GET", "/v1/a/b"),
                                    ("PUT", "/v1/a/b"), ("POST", "/v1/c")}
