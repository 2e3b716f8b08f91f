"""Browser tests: Debian's Chromium driven by Playwright against a real threaded HTTP server.

These tests pin SQLite: the pages call the same services the API tests already run on both databases,
and the browser adds nothing database-specific, so a PostgreSQL copy would only double the run time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import bearer

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
WEB_DIST = Path(__file__).resolve().parents[3] / "web" / "static" / "dist"


@pytest.fixture
def backend() -> str:
    """Overrides the sqlite/postgres parametrization for browser tests (see the module docstring)."""
    return "sqlite"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Reviewers must read the writers' models; READ by default is a supported deployment setting.
    return {"default_permission": "READ"}


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    exe = os.environ.get("TETHER_TEST_CHROMIUM", "/usr/bin/chromium")
    if not Path(exe).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {exe}")
        pytest.skip(f"Chromium not found at {exe}")
    if not (WEB_DIST / "uPlot.iife.min.js").exists():
        pytest.fail("web assets are not built: run `npm ci && npm run build` in web/ (scripts/test does)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class Tab:
    """A browser page that records dialogs, page errors and CSP violations, with small helpers."""

    def __init__(self, page: Any, base: str) -> None:
        self.page, self.base = page, base
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def go(self, path: str) -> Any:
        resp = self.page.goto(self.base + path)
        return resp

    def login(self, name: str, password: str) -> None:
        self.go("/login")
        self.page.fill("input[name=username]", name)
        self.page.fill("input[name=password]", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state()
        assert "/login" not in self.page.url, self.page.content()[:500]

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{re.sub(r'[^a-z0-9_-]', '_', name)}.png"), full_page=True)


@contextmanager
def open_tab(chromium: Any, base: str, width: int = 1280) -> Iterator[Tab]:
    """A tab in a browser context of its own (a ``width`` x 900 window), closed afterwards. Its actions
    (click, fill, wait for a selector) give up after 10 s and its navigations after 30 s (Playwright's
    default). Speed lives in bench/, not here: the navigation limit only has to outlast a loaded 2-core
    CI machine starting a renderer, and a request that truly hangs still fails (the live server's
    fixture then prints where each request stopped)."""
    context = chromium.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.set_default_navigation_timeout(30_000)
        yield Tab(page, base)
    finally:
        context.close()


@pytest.fixture
def tab(chromium: Any, live_server: str) -> Iterator[Tab]:
    with open_tab(chromium, live_server) as t:
        yield t


@pytest.fixture
def second_tab(chromium: Any, live_server: str) -> Iterator[Tab]:
    with open_tab(chromium, live_server) as t:
        yield t


PASSWORD = "correct-horse-battery"


@pytest.fixture
def people(users: Any) -> dict[str, dict[str, Any]]:
    """A writer, a reviewer and an admin who can log in, each with an API token."""
    out = {}
    for name, role in (("wendy", "writer"), ("rita", "reviewer"), ("ada", "admin")):
        uid, token = users.create(name, role, PASSWORD)
        out[role] = {"id": uid, "name": name, "token": token, "headers": bearer(token)}
    return out


@pytest.fixture
def wide_tab(chromium: Any, live_server: str) -> Iterator[Tab]:
    """A 1440 x 900 window (a common laptop screen): the wide-layout pages must fit it."""
    with open_tab(chromium, live_server, width=1440) as t:
        yield t


def tab_to(tab: Tab, selector: str, limit: int = 80) -> None:
    """Press Tab until the focused element matches ``selector`` (so it is reachable by keyboard)."""
    for _ in range(limit):
        tab.page.keyboard.press("Tab")
        if tab.page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} is not reachable with the Tab key")
