"""One Chromium for the whole test run, shared by the portal's and the staff console's browser
tests (tests/conftest.py makes these fixtures visible everywhere).

Playwright's sync API allows one running instance per process: a second `sync_playwright()` while
the first is open fails with "using Playwright Sync API inside the asyncio loop", so the browser
is a session fixture defined once, at the root.

Chromium is Debian's (/usr/bin/chromium, or $CHAINCRM_CHROMIUM): Playwright's own browser download
needs a CDN. Missing, the browser tests skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path(os.environ.get("CHAINCRM_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="session")
def chromium() -> Path:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium, or set CHAINCRM_CHROMIUM)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium))
        try:
            yield launched
        finally:
            launched.close()
