"""`python -m bench.console_size`: what the console ships per route, JS + CSS gzipped, from vite's manifest.

A route loads the entry (index.html's script and its static imports), then its lazy view and that view's static
imports. Issue 24's budgets: sign-in + dashboard <= 300 KB, the till <= 200 KB (gzipped). Run after `make console`.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

DIST = Path(__file__).resolve().parents[1] / "console" / "dist"
ROUTES = {
    "sign-in + dashboard": ["src/views/login/LoginView.vue", "src/components/AppLayout.vue",
                            "src/views/dashboard/DashboardView.vue"],
    "till": ["src/components/AppLayout.vue", "src/views/till/TillView.vue"],
    "members": ["src/components/AppLayout.vue", "src/views/members/MembersView.vue",
                "src/views/members/MemberView.vue"],
}
BUDGETS = {"sign-in + dashboard": 300 * 1024, "till": 200 * 1024}


def files(manifest: dict[str, dict], start: str, seen: set[str]) -> set[str]:
    """The chunk `start`, its CSS and every chunk it imports statically (what loading it downloads)."""
    if start in seen:
        return set()
    seen.add(start)
    chunk = manifest[start]
    out = {chunk["file"], *chunk.get("css", [])}
    for imported in chunk.get("imports", []):
        out |= files(manifest, imported, seen)
    return out


def main() -> None:
    manifest = json.loads((DIST / ".vite" / "manifest.json").read_text())
    entry = next(key for key, chunk in manifest.items() if chunk.get("isEntry"))
    print(f"{'route':<22}{'files':>6}{'gzipped KB':>12}{'budget KB':>11}")
    for route, views in ROUTES.items():
        seen: set[str] = set()
        shipped = files(manifest, entry, seen)
        for view in views:
            shipped |= files(manifest, view, seen)
        size = sum(len(gzip.compress((DIST / name).read_bytes(), 9)) for name in shipped)
        budget = BUDGETS.get(route)
        print(f"{route:<22}{len(shipped):>6}{size / 1024:>12.1f}{budget / 1024 if budget else float('nan'):>11.0f}"
              + ("  OVER" if budget and size > budget else ""))


if __name__ == "__main__":
    main()
