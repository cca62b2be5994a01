"""The console in a real browser: Debian's chromium driven by pytest-playwright against the test stack, whose API
serves the built console under /console/ (routes/console.py; `make console` builds it, `make install` too).

Playwright's own browser download cannot work here, so the browser is the system's (`make debian` installs it
with a CJK font). Each journey saves a screenshot under build/screenshots/ for a person to look at, and runs
axe-core (console/node_modules/axe-core, a devDependency of the console) on the pages it visits.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "build" / "screenshots"
AXE = ROOT / "console" / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "correct horse battery"
# Assertions wait up to 10 s, not Playwright's 5: the machine runs other suites' servers on its 2 cores.
expect.set_options(timeout=10_000)
TIMINGS: dict[str, float] = {}  # measured by the journeys, printed at the end of the run (a benchmark, not a limit)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for name, seconds in TIMINGS.items():
        terminalreporter.write_line(f"console: {name}: {seconds * 1000:.0f} ms")


@pytest.fixture(scope="session")
def base_url() -> None:
    """Ours, not pytest-base-url's (its session fixture is an instance method, which pytest 9 refuses)."""
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ["--no-sandbox"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_context_args,
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
        "viewport": {"width": 1280, "height": 900},
    }


@pytest.fixture
def page(page: Any) -> Any:
    """pytest-playwright's page, on the test process's clock: a run at another date (KABAO_TEST_EPOCH, make
    test-dates) moves the browser's too, so its "today" and its session's expiry agree with the API's. Nothing
    leaves loopback (a logo URL typed in a form included)."""
    if os.environ.get("KABAO_TEST_EPOCH"):
        page.clock.set_system_time(datetime.now(UTC))
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())  # loopback only
    return page


@pytest.fixture(scope="session")
def console_url(stack: Any) -> str:
    """The console as the API serves it; a run without a build fails here, with what to run."""
    if not (ROOT / "console" / "dist" / "index.html").is_file():
        pytest.fail("console/dist is not built: run `make console` (make install and make test do)")
    return f"{stack.api_url}/console"


def account(api: Any, merchant: Any, role: str, store_id: str | None = None) -> str:
    """A real account made through the admin API; returns its username (password: PASSWORD)."""
    admin = api.admin_token(merchant)
    if store_id is not None:
        status, body = api.post("/v1/admin/stores", {"store_id": store_id, "name": f"门店 {store_id}"}, token=admin)
        assert status in (201, 409), body
    username = f"{role}-{uuid.uuid4().hex[:6]}"
    body: dict[str, Any] = {"username": username, "password": PASSWORD, "role": role}
    if store_id is not None:
        body["store_id"] = store_id
    status, answer = api.post("/v1/admin/staff", body, token=admin)
    assert status == 201, answer
    return username


def signed_in(page: Any, api: Any, merchant: Any, username: str) -> dict[str, Any]:
    """Signs the page in as the console does (its session in localStorage), from a real API login: the
    sign-in form has its own journey, the others need not pay for it."""
    status, login = api.post(
        "/v1/staff/login", {"merchant_id": merchant.merchant_id, "username": username, "password": PASSWORD}
    )
    assert status == 200, login
    import time

    session = {
        "token": login["token"],
        "role": login["role"],
        "storeId": login["store_id"],
        "merchantId": merchant.merchant_id,
        "username": username,
        "expiresAt": int(time.time() * 1000) + login["expires_in"] * 1000,
    }
    page.add_init_script(f"localStorage.setItem('kabao.console.session', {json.dumps(json.dumps(session))})")
    return login


def _settled(page: Any) -> None:
    """Wait until nothing is fading in or out (a closing dialog, a tag zooming in) and no finite animation runs: a
    screenshot showed a dialog's ghost, and axe measured a half-transparent tag's contrast against what is behind
    it (the till's member card, under load). Endless ones (a spinner) are not waited for."""
    page.wait_for_function(
        """() => !document.querySelector('[class*="-leave-active"], [class*="-enter-active"]')
                 && document.getAnimations().every(a => a.playState !== 'running'
                                                        || a.effect?.getComputedTiming().iterations === Infinity)""",
        timeout=5_000,
    )


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    _settled(page)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def assert_accessible(page: Any) -> None:
    """axe-core on the page as it stands: no serious or critical violation. Toasts (ElMessage) are left out: they
    fade in and out, and axe measures a half-transparent one's contrast against what is behind it."""
    _settled(page)
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run({exclude: [['.el-message']]}, {resultTypes: ['violations']})")
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], bad


def no_horizontal_overflow(page: Any) -> None:
    """Nothing wider than the window; when something is, the failure names the outermost elements that stick out."""
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    if width[0] > width[1]:
        wide = page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                .filter(e => !e.parentElement || e.parentElement.getBoundingClientRect().right <= window.innerWidth + 1)
                .slice(0, 5)
                .map(e => `${e.tagName.toLowerCase()}.${[...e.classList].join('.')}[${e.getAttribute('data-test') || ''}]`
                          + ` right=${Math.round(e.getBoundingClientRect().right)}`)"""
        )
        raise AssertionError(f"{width}: {wide}")
