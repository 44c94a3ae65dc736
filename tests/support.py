"""Helpers the tests share: polling, the autouse guard that no request reached a web server's
last-resort 500 handler, a session's own Anvil, and undoing a test's transactions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from chaincrm.chain import Chain
    from chaincrm.services.anvil import AnvilNode

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


__all__ = [
    "WAIT_SECONDS",
    "forget_reverted_transactions",
    "no_unexpected_errors",
    "rewound",
    "running_anvil",
    "wait_for",
]


def forget_reverted_transactions(chain: Any, base: Any) -> None:
    """After an evm_revert: every transaction journal of a home under `base` (the worker's temporary
    folder) forgets the transactions the revert undid, as `chain.nonces.reset_all()` does for the
    chain's own. A revert is a deliberate rewind; left alone, the journal would take it for a chain
    that lost them (a node restarted from older state) and send them again.

    Only the journals of homes on this very node are touched: every Anvil of the session has chain
    id 31337 and the same development accounts, so a journal is matched by the genesis hash it
    recorded (read without writing; `Journal.same_chain` would re-home it)."""
    import sqlite3

    from chaincrm.chain.journal import JOURNAL_FILE, Journal
    from chaincrm.chain.nonces import NonceManager

    genesis = str(chain.request("eth_getBlockByNumber", ["0x0", False])["hash"])
    for path in sorted(base.rglob(JOURNAL_FILE)):
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            try:
                row = db.execute("SELECT genesis FROM chains WHERE chain_id = ?", (chain.chain_id,)).fetchone()
            except sqlite3.OperationalError:  # a journal not written yet
                row = None
        if row is not None and row[0] == genesis:
            NonceManager(chain, Journal(path)).reset_all()


@contextmanager
def running_anvil(folder: Path) -> Iterator[AnvilNode]:
    """A real Anvil on a free port, logging to `folder`/anvil.log, stopped on the way out."""
    from chaincrm.services.anvil import AnvilOptions, free_port, start_anvil, stop_process

    node, process = start_anvil(AnvilOptions(port=free_port(), log_file=folder / "anvil.log"))
    try:
        yield node
    finally:
        stop_process(process.pid)


@contextmanager
def rewound(chain: Chain, base: Path) -> Iterator[None]:
    """Undo the transactions sent inside (Anvil's evm_snapshot / evm_revert): the chain's nonces and
    every home's journal under `base` forget them too (see `forget_reverted_transactions`)."""
    snapshot_id = chain.request("evm_snapshot", [])
    try:
        yield
    finally:
        chain.request("evm_revert", [snapshot_id])
        chain.nonces.reset_all()  # a revert rewinds every account's nonce
        forget_reverted_transactions(chain, base)
