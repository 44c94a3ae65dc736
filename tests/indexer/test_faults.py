"""Faults: a node that goes away mid-catch-up, a locked or damaged database, an index for another
chain or other contracts, an address without code. One clear error, nothing half-written."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_utils import to_checksum_address
from web3 import HTTPProvider
from web3._utils.http_session_manager import HTTPSessionManager

from chaincrm.chain import Chain
from chaincrm.contracts.client import Crm, connect
from chaincrm.contracts.deployment import deploy
from chaincrm.errors import ChainError, ConfigError
from chaincrm.index.indexer import Indexer
from chaincrm.models import Role
from chaincrm.services.anvil import AnvilOptions, anvil, free_port, start_anvil, stop_process
from tests.indexer.conftest import MakeIndexer, chain_over, dump, entry, register
from tests.sdk.conftest import Staff

RESTART_DELAY_SECONDS = 0.6


@dataclasses.dataclass
class _Node:
    options: AnvilOptions
    pid: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.options.port}"


@pytest.fixture(scope="module")
def persisted(tmp_path_factory: pytest.TempPathFactory, staff: Staff) -> Iterator[tuple[_Node, Crm]]:
    """An Anvil that keeps its chain in a state file across restarts, with 24 blocks of events."""
    folder = tmp_path_factory.mktemp("persisted")
    options = AnvilOptions(port=free_port(), state_file=folder / "state.json", log_file=folder / "anvil.log")
    started, process = start_anvil(options)
    node = _Node(options, process.pid)
    try:
        chain = connect(started.url)
        crm = Crm.attach(chain, deploy(chain, staff.admin, treasury=staff.treasury.address))
        crm.registry.grant_role(Role.AGENT, staff.agent.address, staff.admin)
        customer_id = register(crm, staff)
        for _ in range(20):
            crm.registry.log_interaction(entry(customer_id), staff.agent)
        yield node, crm
    finally:
        stop_process(node.pid)


class _DroppingProvider(HTTPProvider):
    """Stops the node (which saves its state) before the `at`-th eth_getLogs, and starts it again
    from the saved state a little later: the indexer sees connections refused in between."""

    def __init__(self, node: _Node, at: int) -> None:
        super().__init__(node.url, exception_retry_configuration=None)
        self.node = node
        self.at = at
        self.calls = 0
        self.restarted = threading.Event()
        self.failure: BaseException | None = None

    def make_request(self, method: Any, params: Any) -> Any:
        if method == "eth_getLogs":
            self.calls += 1
            if self.calls == self.at:
                stop_process(self.node.pid)
                threading.Thread(target=self._restart, daemon=True).start()
        return super().make_request(method, params)

    def _restart(self) -> None:
        time.sleep(RESTART_DELAY_SECONDS)
        try:
            # detached: a child started from a thread would otherwise die with the thread (PDEATHSIG)
            _, process = start_anvil(self.node.options, detach=True)
        except BaseException as exc:
            self.failure = exc
            raise
        self.node.pid = process.pid
        self.restarted.set()


def test_a_node_restarted_mid_catch_up_gives_the_same_index(
    persisted: tuple[_Node, Crm], make_indexer: MakeIndexer
) -> None:
    node, crm = persisted
    uninterrupted = make_indexer(crm.chain, crm, name="uninterrupted", initial_range=4, max_range=4)
    uninterrupted.sync_once()
    provider = _DroppingProvider(node, at=3)

    interrupted = make_indexer(
        chain_over(provider), crm, name="interrupted", initial_range=4, max_range=4, retry_seconds=10
    )
    try:
        report = interrupted.sync_once()
    finally:
        assert provider.failure is None, provider.failure
    assert provider.restarted.is_set()
    assert report.retries >= 1
    assert dump(interrupted.engine) == dump(uninterrupted.engine)


def test_a_node_that_stays_down_fails_after_bounded_retries(crm: Crm, tmp_path: Path) -> None:
    dead = chain_over(HTTPProvider(f"http://127.0.0.1:{free_port()}", exception_retry_configuration=None))
    waited: list[float] = []
    indexer = Indexer(dead, crm.deployment, tmp_path / "index.sqlite", retry_seconds=5, sleep=waited.append)

    with pytest.raises(ChainError, match="did not answer for 5 s"):
        indexer.sync_once()

    assert waited == [0.25, 0.5, 1.0, 2.0]
    assert not (tmp_path / "index.sqlite").exists()


def test_a_dropped_request_is_retried_by_the_indexer_alone_not_inside_web3s_retries(
    crm: Crm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = connect(f"http://127.0.0.1:{free_port()}")  # a plain HTTPProvider, web3's retries on
    posts: list[bytes] = []

    def refused(_manager: object, _uri: str, data: bytes, **_kwargs: object) -> bytes:
        posts.append(data)
        raise requests.ReadTimeout("read timed out")  # web3 retries timeouts, not refused connections

    monkeypatch.setattr(HTTPSessionManager, "make_post_request", refused)
    waited: list[float] = []
    indexer = Indexer(dead, crm.deployment, tmp_path / "index.sqlite", retry_seconds=5, sleep=waited.append)

    with pytest.raises(ChainError, match="did not answer for 5 s"):
        indexer.sync_once()

    assert len(posts) == len(waited) + 1  # one request per attempt of the indexer's own backoff
    assert dead.w3.provider.exception_retry_configuration is not None  # the chain's provider is left as it was


def test_a_locked_database_is_one_clear_error_and_nothing_is_written(
    chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, tmp_path: Path, snapshot: None
) -> None:
    indexer = make_indexer(chain, crm, lock_timeout=0.1)
    indexer.sync_once()
    crm.registry.log_interaction(entry(register(crm, staff)), staff.agent)
    before = dump(indexer.engine)
    holder = sqlite3.connect(tmp_path / "index.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ConfigError, match="is locked by another process"):
            indexer.sync_once()
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert dump(indexer.engine) == before


def test_a_damaged_database_file_is_one_clear_error(
    chain: Chain, crm: Crm, make_indexer: MakeIndexer, tmp_path: Path
) -> None:
    (tmp_path / "index.sqlite").write_bytes(b"this is not a database, " * 100)

    with pytest.raises(ConfigError, match="damaged or not a SQLite database"):
        make_indexer(chain, crm).sync_once()


def test_an_index_made_for_another_chain_is_refused(
    chain: Chain, crm: Crm, make_indexer: MakeIndexer, tmp_path: Path
) -> None:
    make_indexer(chain, crm).sync_once()
    with anvil(AnvilOptions(port=free_port(), chain_id=1337)) as other:
        elsewhere = dataclasses.replace(crm, deployment=dataclasses.replace(crm.deployment, chain_id=1337))

        with pytest.raises(ChainError, match="was built for chain 31337.*serves chain 1337"):
            make_indexer(connect(other.url), elsewhere).sync_once()


def test_an_index_of_other_contracts_is_refused(chain: Chain, crm: Crm, make_indexer: MakeIndexer) -> None:
    make_indexer(chain, crm).sync_once()
    other = dataclasses.replace(crm, deployment=dataclasses.replace(crm.deployment, registry=crm.deployment.escrow))

    with pytest.raises(ConfigError, match="follows the registry at"):
        make_indexer(chain, other).sync_once()


def test_an_address_without_code_is_refused_before_anything_is_written(
    chain: Chain, crm: Crm, make_indexer: MakeIndexer, tmp_path: Path
) -> None:
    nowhere = to_checksum_address("0x000000000000000000000000000000000000dead")
    other = dataclasses.replace(crm, deployment=dataclasses.replace(crm.deployment, escrow=nowhere))

    with pytest.raises(ChainError, match=f"no escrow contract at {nowhere}"):
        make_indexer(chain, other).sync_once()

    assert not (tmp_path / "index.sqlite").exists()
