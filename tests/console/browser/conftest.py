"""Fixtures for the staff console in Chromium: the browser of ``tests.browser.conftest`` (Debian's
Chromium through Playwright; missing, the tests skip, or fail under CI=true) and the console of
``tests.console.conftest``.

Every page is watched as the portal's are: each URL it loads must be on the console's origin and it
must log no console error nor throw, except what a test declares it expects; checked at the end.
The board's screenshot goes where ``tests.browser.conftest.SCREENSHOTS`` says (build/screenshots, or
docs/screenshots with CHAINCRM_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.browser.conftest import ACTION_TIMEOUT_MS, Watch
from tests.console.conftest import ConsoleServer, open_url

WIDE: ViewportSize = {"width": 1440, "height": 900}  # the board's seven columns side by side


@pytest.fixture(scope="session", autouse=True)
def _chromium_first(chromium: Path) -> Path:
    """The browser (tests/chromium.py), looked for before the console's chain is started."""
    return chromium


@pytest.fixture
def watch(console_server: ConsoleServer) -> Watch:
    return Watch(origin=console_server.url)


@pytest.fixture
def page(browser: Browser, console_server: ConsoleServer, watch: Watch) -> Iterator[Page]:  # noqa: F811
    """A fresh browser profile, watched, that has not opened the console yet."""
    context = browser.new_context(viewport=WIDE)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    opened = context.new_page()
    opened.on("request", watch.on_request)
    opened.on("console", watch.on_console)
    opened.on("pageerror", watch.on_page_error)
    yield opened
    context.close()
    watch.check()


@pytest.fixture
def board(page: Page, console_server: ConsoleServer) -> Page:
    """The page after opening the URL `chaincrm serve --staff` prints: the board, signed in."""
    page.goto(open_url(console_server))
    expect(page.locator(".stage-column")).to_have_count(7)
    return page
