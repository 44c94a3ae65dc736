"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, pages of the real portal
(the real app on a free port, following a real Anvil), with the test wallet injected as an
extension is (see wallet.py).

Every page a test opens is watched: every URL it loads must be on the portal's origin (no CDN, no
node: the wallet talks to Anvil, not the page), and it must log no console error nor throw, except
the ones a test declares it expects. The checks run when the test ends.

Chromium is /usr/bin/chromium (or $CHAINCRM_CHROMIUM). When it is missing the tests skip with the
reason, except under CI=true, where they fail: a CI run must not pass without having run them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from eth_account.signers.local import LocalAccount
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Request,
    ViewportSize,
)

from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.models import Purpose
from chaincrm.privacy.customers import CustomerData
from chaincrm.storage import KuboStore
from tests.browser.wallet import TestWallet, install
from tests.cli.conftest import Accounts, accounts, crm, pytest_configure, settings, store
from tests.portal.conftest import PortalServer, _no_unexpected_errors, commerce, new_invoice, portal_server, relayer

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 375, "height": 740}
ACTION_TIMEOUT_MS = 10_000
# Every run takes the screenshots into build/screenshots (git-ignored: a test run leaves the checkout
# clean); CHAINCRM_UPDATE_SCREENSHOTS=1 writes them over the README's copies in docs/screenshots.
SCREENSHOTS = Path(__file__).resolve().parents[2] / (
    "docs/screenshots" if os.environ.get("CHAINCRM_UPDATE_SCREENSHOTS") == "1" else "build/screenshots"
)
INVOICE_VALUE_WEI = 175 * 10**16  # 1.75 ETH: below the approval threshold, so the agent closes it as won
INDEX_WAIT_SECONDS = 15.0
REPO = Path(__file__).resolve().parents[2]

# The portal's HTTP tests' fixtures, imported so that pytest finds them here too (with the check
# that no request reached the app's last-resort 500 handler).
__all__ = [
    "_no_unexpected_errors",
    "accounts",
    "commerce",
    "crm",
    "portal_server",
    "pytest_configure",
    "relayer",
    "settings",
    "store",
]


# ------------------------------------------------------------------ the browser


@pytest.fixture(scope="session", autouse=True)
def _chromium_first(chromium: Path) -> Path:
    """The browser, looked for before anything else is started (one browser for the whole run:
    tests/chromium.py)."""
    return chromium


# ------------------------------------------------------------------ the portal


@dataclass(frozen=True)
class Portal:
    """What the tests use of the running portal."""

    url: str  # its origin, http://127.0.0.1:PORT
    settings: Settings
    crm: Crm
    customer: LocalAccount  # the customer's accepted wallet, funded
    customer_id: int
    customer_keystore: Path
    password: str
    invoice_id: int
    agent: LocalAccount
    manager: LocalAccount
    stranger: LocalAccount  # another customer's wallet, funded; never the payer of these invoices
    granted_staff: str  # holds an active grant on the customer the customer may revoke

    def api(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10)

    def invoice(self, invoice_id: int) -> dict[str, Any]:
        response = self.api(f"/api/invoices/{invoice_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_for_invoice(self, invoice_id: int, status: str) -> dict[str, Any]:
        """The index's view of an invoice once it has `status` (the follower polls the chain)."""
        deadline = time.monotonic() + INDEX_WAIT_SECONDS
        while True:
            response = self.api(f"/api/invoices/{invoice_id}")
            if response.status_code == 200 and response.json()["status"] == status:
                return dict(response.json())
            if time.monotonic() > deadline:
                raise AssertionError(f"invoice {invoice_id} not {status} in the index: {response.text}")
            time.sleep(0.1)

    def wait_for_index(self, block: int) -> None:
        """Until the index has read `block`."""
        deadline = time.monotonic() + INDEX_WAIT_SECONDS
        while (self.api("/api/config").json()["as_of_block"] or 0) < block:
            assert time.monotonic() < deadline, f"the index did not reach block {block}"
            time.sleep(0.1)

    def new_invoice(self, value_wei: int = INVOICE_VALUE_WEI) -> int:
        """A fresh open invoice for the customer: a deal the agent opens and wins; indexed."""
        invoice_id = new_invoice(self.crm, self.customer_id, self.agent, value_wei)
        self.wait_for_invoice(invoice_id, "open")
        return invoice_id

    def balance(self, address: str) -> int:
        return int(self.crm.chain.w3.eth.get_balance(address))  # type: ignore[arg-type]

    def nonce(self, address: str) -> int:
        return int(self.crm.chain.w3.eth.get_transaction_count(address))  # type: ignore[arg-type]

    def rpc(self, method: str, params: Sequence[Any]) -> Any:
        return self.crm.chain.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`chaincrm ARGS` as a user runs it, against the portal's home and chain."""
        command = [
            str(Path(sys.executable).with_name("chaincrm")),
            "--home",
            str(self.settings.home),
            "--rpc-url",
            self.settings.rpc_url,
            *args,
        ]
        env = {**os.environ, "CHAINCRM_PASSWORD": self.password, "CHAINCRM_IPFS_API": self.settings.ipfs_api}
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False, cwd=REPO)


@pytest.fixture(scope="session")
def portal(portal_server: PortalServer, store: KuboStore, accounts: Accounts) -> Portal:  # noqa: F811
    """The HTTP tests' portal, plus a grant for the customer to revoke: the marketer's, for support
    (the agent's sales grant stays: the agent needs it to open the deals of fresh invoices)."""
    CustomerData(portal_server.crm, store).grant(
        portal_server.customer_id, accounts.marketer.address, Purpose.SUPPORT, portal_server.manager
    )
    return Portal(
        url=portal_server.url,
        settings=portal_server.settings,
        crm=portal_server.crm,
        customer=portal_server.customer,
        customer_id=portal_server.customer_id,
        customer_keystore=portal_server.customer_keystore,
        password=portal_server.password,
        invoice_id=portal_server.invoice_id,
        agent=portal_server.agent,
        manager=portal_server.manager,
        stranger=portal_server.stranger,
        granted_staff=accounts.marketer.address,
    )


# ------------------------------------------------------------------ pages, watched


@dataclass
class Watch:
    """What one page loaded and logged."""

    origin: str
    urls: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)
    wallets: list[TestWallet] = field(default_factory=list)

    def on_request(self, request: Request) -> None:
        self.urls.append(request.url)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            if where.endswith("/favicon.ico"):
                return  # the browser's own request, not the page's
            self.console_errors.append(f"{message.text} ({where})" if where else message.text)

    def on_page_error(self, error: Error) -> None:
        self.console_errors.append(f"uncaught: {error.message}")

    def expect_console_error(self, pattern: str) -> None:
        """A console error the test expects (a regular expression searched in its text)."""
        self.expected.append(re.compile(pattern))

    def foreign_urls(self) -> list[str]:
        return [url for url in self.urls if not _same_origin(url, self.origin)]

    def unexpected_errors(self) -> list[str]:
        return [text for text in self.console_errors if not any(p.search(text) for p in self.expected)]

    def check(self) -> None:
        assert self.foreign_urls() == [], "the page loaded from outside the portal's origin"
        assert self.unexpected_errors() == [], "the page logged console errors"
        for wallet in self.wallets:
            assert wallet.internal_errors == [], "the test wallet failed"


def _same_origin(url: str, origin: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True  # inline content, not a request
    return f"{parts.scheme}://{parts.netloc}".lower() == origin.lower()


class Browsing:
    """Fresh browser profiles with test wallets installed, each page watched."""

    def __init__(self, browser: Browser, origin: str) -> None:
        self.browser, self.origin = browser, origin
        self.opened: list[tuple[BrowserContext, Page, Watch]] = []
        self.after_close: list[Callable[[], None]] = []  # e.g. a wallet's node connection: pages may still use it

    def open(
        self, wallets: Sequence[TestWallet], *, viewport: ViewportSize | None = None, ethereum: int | None = 0
    ) -> Page:
        """A page in a new profile with `wallets` installed (each announced through EIP-6963,
        wallets[ethereum] also window.ethereum)."""
        context = self.browser.new_context(viewport=viewport or DESKTOP)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        page = context.new_page()
        watch = Watch(origin=self.origin, wallets=list(wallets))
        page.on("request", watch.on_request)
        page.on("console", watch.on_console)
        page.on("pageerror", watch.on_page_error)
        install(page, wallets, ethereum=ethereum)
        self.opened.append((context, page, watch))
        return page

    def watch(self, page: Page) -> Watch:
        return next(watch for _, opened, watch in self.opened if opened is page)

    def close_and_check(self) -> None:
        for context, _, _ in self.opened:
            context.close()
        while self.after_close:
            self.after_close.pop()()
        for _, _, watch in self.opened:
            watch.check()


@pytest.fixture
def browsing(browser: Browser, portal: Portal) -> Iterator[Browsing]:
    made = Browsing(browser, portal.url)
    yield made
    made.close_and_check()


@pytest.fixture
def wallet(portal: Portal) -> Iterator[TestWallet]:
    """The customer's wallet extension: on the local chain, the customer's account selected, the
    stranger's as a second account."""
    chain_id = portal.crm.chain.chain_id
    made = TestWallet([portal.customer, portal.stranger], rpc_url=portal.settings.rpc_url, chain_id=chain_id)
    yield made
    made.close()


@pytest.fixture
def page(browsing: Browsing, wallet: TestWallet) -> Page:
    """A desktop-sized page with the customer's wallet installed."""
    return browsing.open([wallet])


@pytest.fixture
def watch(browsing: Browsing, page: Page) -> Watch:
    return browsing.watch(page)


def screenshot(page: Page, name: str) -> None:
    """SCREENSHOTS/NAME.png, the viewport only (small files for the README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
