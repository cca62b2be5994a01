"""The typed mini-program client (client/): its types are current with openapi.json, it compiles against them,
and node runs the member journey through it against this stack (wx.request shimmed by fetch).

`npm ci` installs the client's pinned toolchain (client/package-lock.json) on a clean clone; later runs reuse it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from tests.conftest import ROOT

CLIENT = os.path.join(ROOT, "client")


def _npm() -> str:
    npm = shutil.which("npm")
    assert npm is not None, "npm is needed for the client test (Debian package: npm)"
    return npm


def _install(npm: str) -> None:
    """`npm ci` when node_modules is missing or older than the lock file."""
    stamp = os.path.join(CLIENT, "node_modules", ".package-lock.json")
    lock = os.path.join(CLIENT, "package-lock.json")
    if os.path.exists(stamp) and os.path.getmtime(stamp) >= os.path.getmtime(lock):
        return
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=CLIENT, check=True, capture_output=True, timeout=300)


def test_member_journey_through_the_typed_client(stack: Any, merchant: Any) -> None:
    npm = _npm()
    _install(npm)
    env = {
        **os.environ,
        "KABAO_API_URL": stack.api_url,
        "KABAO_SANDBOX_URL": stack.sandbox_server.url,
        "KABAO_APPID": merchant.appid,
    }
    run = subprocess.run([npm, "test"], cwd=CLIENT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "# pass 2\n" in run.stdout and "# fail 0" in run.stdout, run.stdout[-2000:]
