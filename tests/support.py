"""Helpers the web tests share (API, console, portal, webhooks): polling, and the autouse guard
that no request reached a server's last-resort 500 handler."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

WAIT_SECONDS = 20.0
POLL_SECONDS = 0.02


def wait_for(check: Callable[[], T | None], what: str, seconds: float = WAIT_SECONDS) -> T:
    """Poll `check` until it returns something truthy."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(POLL_SECONDS)


def no_unexpected_errors(server_fixture: str) -> Any:
    """An autouse fixture for a conftest: in every test that uses `server_fixture` (anything with a
    ``portal``), the app's last-resort 500 handler was not reached while it ran."""

    @pytest.fixture(autouse=True)
    def _no_unexpected_errors(request: pytest.FixtureRequest) -> Iterator[None]:
        if server_fixture not in request.fixturenames:
            yield
            return
        server = request.getfixturevalue(server_fixture)
        before = server.portal.unexpected_errors
        yield
        assert server.portal.unexpected_errors == before, "a request reached the last-resort 500 handler"

    return _no_unexpected_errors


__all__ = ["WAIT_SECONDS", "no_unexpected_errors", "wait_for"]


def forget_reverted_transactions(chain: Any, base: Any) -> None:
    """After an evm_revert: every transaction journal of a home under `base` (the worker's temporary
    folder) forgets the transactions the revert undid, as `chain.nonces.reset_all()` does for the
    chain's own. A revert is a deliberate rewind; left alone, the journal would take it for a chain
    that lost them (a node restarted from older state) and send them again."""
    from chaincrm.chain.journal import JOURNAL_FILE, Journal
    from chaincrm.chain.nonces import NonceManager

    for path in sorted(base.rglob(JOURNAL_FILE)):
        NonceManager(chain, Journal(path)).reset_all()
