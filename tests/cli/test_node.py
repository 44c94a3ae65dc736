"""`chaincrm node up|down|status`: each test runs its own stack in its own home, on free ports."""

from __future__ import annotations

import re
import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.index.indexer import Indexer
from chaincrm.models import Purpose
from chaincrm.privacy.customers import CustomerData
from chaincrm.services import stack
from chaincrm.services.anvil import free_port
from chaincrm.services.supervisor import port_in_use
from chaincrm.storage import KuboStore
from chaincrm.storage.node import KUBO_VERSION, api_address
from tests.cli.conftest import PROFILE, Accounts, Cli, Run, cli_for, environment_for, settings_for, two_free_ports


@dataclass(frozen=True)
class Home:
    settings: Settings
    cli: Cli
    chain_port: int
    ipfs_port: int


@pytest.fixture
def home(tmp_path) -> Iterator[Home]:
    """An empty home whose settings point at free ports; whatever a test starts is stopped."""
    chain_port, ipfs_port = two_free_ports()
    settings = settings_for(tmp_path / "home", chain_port, ipfs_port)
    try:
        yield Home(settings, cli_for(environment_for(settings)), chain_port, ipfs_port)
    finally:
        stack.down(settings)


def _listening(port: int) -> socket.socket:
    busy = socket.socket()
    busy.bind(("127.0.0.1", port))
    busy.listen()
    return busy


def _mine(url: str) -> None:
    requests.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": []}, timeout=5
    ).raise_for_status()


def test_node_up_starts_anvil_and_the_ipfs_node_on_the_configured_ports(home: Home) -> None:
    started = home.cli("node", "up", "--json").json()

    assert started["chain"]["running"] and started["chain"]["started"]
    assert started["chain"]["url"] == f"http://127.0.0.1:{home.chain_port}"
    assert started["chain"]["block_number"] == 0
    assert started["ipfs"]["running"] and started["ipfs"]["started"]
    assert started["ipfs"]["url"] == api_address(home.ipfs_port)
    assert started["ipfs"]["version"] == KUBO_VERSION


def test_node_up_keeps_the_chain_state_and_the_ipfs_repository_in_the_home(home: Home) -> None:
    home.cli("node", "up")

    assert (home.settings.state_dir / "anvil.pid").is_file()
    assert (home.settings.home / "ipfs" / "config").is_file()


def test_node_up_uses_the_ports_given_as_options(home: Home) -> None:
    chain_port, ipfs_port = two_free_ports()

    started = home.cli("node", "up", "--chain-port", chain_port, "--ipfs-port", ipfs_port, "--json").json()

    assert started["chain"]["url"] == f"http://127.0.0.1:{chain_port}"
    assert started["ipfs"]["url"] == api_address(ipfs_port)


def test_node_status_reports_each_service_with_its_block_number_or_version(home: Home) -> None:
    home.cli("node", "up")
    _mine(f"http://127.0.0.1:{home.chain_port}")

    status = home.cli("node", "status", "--json").json()

    assert set(status) == {"chain", "ipfs"}
    assert set(status["chain"]) == {"running", "url", "pid", "block_number", "started", "stopped"}
    assert set(status["ipfs"]) == {"running", "url", "pid", "version", "started", "stopped"}
    assert status["chain"]["running"] and status["chain"]["block_number"] == 1
    assert status["ipfs"]["running"] and status["ipfs"]["version"] == KUBO_VERSION


def test_node_status_prints_a_table_of_the_services(home: Home) -> None:
    home.cli("node", "up")

    shown = home.cli("node", "status")

    assert shown.exit_code == 0
    assert "running" in shown.stdout and "block 0" in shown.stdout and f"kubo {KUBO_VERSION}" in shown.stdout


def test_node_status_of_a_stack_never_started_says_stopped(home: Home) -> None:
    status = home.cli("node", "status", "--json").json()

    assert status["chain"] == {
        "running": False,
        "url": None,
        "pid": None,
        "block_number": None,
        "started": False,
        "stopped": False,
    }
    assert status["ipfs"] == {
        "running": False,
        "url": None,
        "pid": None,
        "version": None,
        "started": False,
        "stopped": False,
    }


def test_node_up_twice_leaves_the_running_services_alone(home: Home) -> None:
    first = home.cli("node", "up", "--json").json()

    second = home.cli("node", "up", "--json").json()

    assert not second["chain"]["started"] and not second["ipfs"]["started"]
    assert second["chain"]["pid"] == first["chain"]["pid"]
    assert second["ipfs"]["pid"] == first["ipfs"]["pid"]


def test_node_down_stops_both_services_and_frees_their_ports(home: Home) -> None:
    home.cli("node", "up")

    stopped = home.cli("node", "down", "--json").json()

    assert stopped["chain"] == {
        "running": False,
        "url": None,
        "pid": None,
        "block_number": None,
        "started": False,
        "stopped": True,
    }
    assert stopped["ipfs"] == {
        "running": False,
        "url": None,
        "pid": None,
        "version": None,
        "started": False,
        "stopped": True,
    }
    assert not port_in_use(home.chain_port) and not port_in_use(home.ipfs_port)
    assert home.cli("node", "status", "--json").json()["chain"]["running"] is False


def test_down_says_it_stopped_each_service_and_leaves_started_unset(home: Home) -> None:
    stack.up(home.settings, chain_port=home.chain_port, ipfs_port=home.ipfs_port)

    state = stack.down(home.settings)

    assert (state.chain.stopped, state.ipfs.stopped) == (True, True)
    assert (state.chain.running, state.ipfs.running) == (False, False)
    assert (state.chain.started, state.ipfs.started) == (False, False)


def test_node_up_down_and_status_print_the_same_json_shape(home: Home) -> None:
    started = home.cli("node", "up", "--json").json()
    status = home.cli("node", "status", "--json").json()
    stopped = home.cli("node", "down", "--json").json()

    shapes = [{name: set(service) for name, service in shown.items()} for shown in (started, status, stopped)]
    assert shapes[0] == shapes[1] == shapes[2]
    assert (started["chain"]["started"], status["chain"]["started"], stopped["chain"]["stopped"]) == (True, False, True)


def test_node_down_when_nothing_runs_is_fine(home: Home) -> None:
    stopped = home.cli("node", "down")

    assert stopped.exit_code == 0
    assert stopped.stdout.splitlines() == ["chain: was not running", "ipfs: was not running"]


def test_the_chain_keeps_its_state_across_down_and_up(home: Home) -> None:
    home.cli("node", "up")
    for _ in range(3):
        _mine(f"http://127.0.0.1:{home.chain_port}")
    home.cli("node", "down")

    restarted = home.cli("node", "up", "--json").json()

    assert restarted["chain"]["block_number"] == 3


def test_a_chain_port_in_use_by_another_program_is_one_line_and_starts_nothing(home: Home) -> None:
    with _listening(home.chain_port):
        refused = home.cli("node", "up")

    assert f"port {home.chain_port} on 127.0.0.1 is already in use" in refused.error
    status = home.cli("node", "status", "--json").json()
    assert not status["chain"]["running"] and not status["ipfs"]["running"]


def test_an_ipfs_port_in_use_is_one_line_and_stops_the_chain_it_started(home: Home) -> None:
    with _listening(home.ipfs_port):
        refused = home.cli("node", "up")

    assert f"port {home.ipfs_port} on 127.0.0.1 is already in use" in refused.error
    assert home.cli("node", "status", "--json").json()["chain"]["running"] is False
    assert not port_in_use(home.chain_port)


def test_the_chain_and_the_ipfs_node_cannot_share_a_port(home: Home) -> None:
    refused = home.cli("node", "up", "--chain-port", home.chain_port, "--ipfs-port", home.chain_port)

    assert "cannot share port" in refused.error
    assert not port_in_use(home.chain_port)


# ------------------------------------------------------------------ branch nodes


def _swarm_key(home: Home) -> Path:
    key = home.settings.home.parent / "swarm.key"
    assert home.cli("node", "swarm-key", "new", "--out", key).exit_code == 0
    return key


def _branch_up(home: Home, key: Path) -> Run:
    return home.cli("node", "up", "--branch", "lisbon", "--swarm-key", key, "--listen", LISTEN, "--json")


LISTEN = "/ip4/127.0.0.1/tcp/4999"


def test_swarm_key_new_writes_a_key_only_its_owner_can_read_and_never_prints_it(home: Home, tmp_path: Path) -> None:
    key = tmp_path / "swarm.key"

    made = home.cli("node", "swarm-key", "new", "--out", key)

    lines = key.read_text().splitlines()
    assert lines[:2] == ["/key/swarm/psk/1.0.0/", "/base16/"] and re.fullmatch(r"[0-9a-f]{64}", lines[2])
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert made.exit_code == 0 and lines[2] not in made.stdout + made.stderr
    assert "mode 0600" in made.stdout


def test_swarm_key_new_does_not_replace_an_existing_file(home: Home, tmp_path: Path) -> None:
    key = tmp_path / "swarm.key"
    key.write_text("keep me\n")

    refused = home.cli("node", "swarm-key", "new", "--out", key)

    assert "already exists" in refused.error
    assert key.read_text() == "keep me\n"


def test_node_up_with_a_branch_starts_the_ipfs_node_in_the_private_swarm_and_shows_its_peer_address(
    home: Home,
) -> None:
    key = _swarm_key(home)

    started = _branch_up(home, key).json()
    status = home.cli("node", "status", "--json").json()
    shown = home.cli("node", "status")
    peers = home.cli("node", "peers", "--json").json()

    assert started["ipfs"]["started"] and not started["chain"]["running"]  # the chain branches share is elsewhere
    branch = status["branch"]
    assert (branch["name"], branch["listen"], branch["peers"]) == ("lisbon", LISTEN, [])
    assert branch["addresses"] == [f"{LISTEN}/p2p/{branch['peer_id']}"]
    assert f"peer address: {LISTEN}/p2p/{branch['peer_id']}" in shown.stdout
    assert peers == {"branch": "lisbon", "peers": []}
    repo = home.settings.home / "ipfs"
    assert (repo / "swarm.key").read_bytes() == key.read_bytes()
    assert stat.S_IMODE((repo / "swarm.key").stat().st_mode) == 0o600

    bad = home.cli("node", "join", "/ip4/127.0.0.1/tcp/4001/p2p/QmNotAPeer")

    assert (
        bad.error
        == "error: peer address '/ip4/127.0.0.1/tcp/4001/p2p/QmNotAPeer' does not parse: Invalid CID: QmNotAPeer"
    )
    after = home.cli("node", "status", "--json").json()
    assert after["ipfs"]["pid"] == status["ipfs"]["pid"] and after["branch"]["peers"] == []


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (None, "does not exist"),
        ("not a key\n", "is not a swarm key"),
        ("/key/swarm/psk/1.0.0/\n/base64/\n" + "ab" * 32 + "\n", "uses /base64/, not /base16/"),
        ("/key/swarm/psk/1.0.0/\n/base16/\n" + "zz" * 32 + "\n", "does not hold a key of 64 hex digits"),
        ("/key/swarm/psk/1.0.0/\n" + "ab" * 32 + "\n/base16/\n", "uses another encoding, not /base16/"),
    ],
)
def test_a_missing_or_wrong_swarm_key_is_one_line_and_changes_nothing(
    home: Home, tmp_path: Path, content: str | None, complaint: str
) -> None:
    key = tmp_path / "swarm.key"
    if content is not None:
        key.write_text(content)

    refused = home.cli("node", "up", "--branch", "lisbon", "--swarm-key", key, "--listen", LISTEN)

    assert complaint in refused.error and "ab" * 32 not in refused.error
    assert not (home.settings.home / "ipfs").exists()
    assert not port_in_use(home.ipfs_port)


def test_a_listen_address_that_does_not_parse_is_one_line_and_changes_nothing(home: Home) -> None:
    key = _swarm_key(home)

    refused = home.cli("node", "up", "--branch", "lisbon", "--swarm-key", key, "--listen", "/ip4/127.0.0.1/udp/4001")

    assert "listen address '/ip4/127.0.0.1/udp/4001' is not /ip4/<ip>/tcp/<port>" in refused.error
    assert not (home.settings.home / "ipfs").exists()


def test_a_branch_node_needs_its_name_key_and_listen_address_together(home: Home) -> None:
    refused = home.cli("node", "up", "--branch", "lisbon")

    assert "--swarm-key, --listen missing" in refused.usage_error


def test_join_on_a_node_that_is_not_a_branch_node_is_one_line(home: Home) -> None:
    refused = home.cli("node", "join", "/ip4/127.0.0.1/tcp/4001/p2p/QmZq4juv481H4GjMxkVCJuZbNQ4K21pwfEtShiv6ajdguj")

    assert "is not a branch node" in refused.error
    assert not (home.settings.home / "ipfs").exists()


def test_two_branch_homes_join_replicate_and_read_a_profile_after_the_first_goes_down(
    tmp_path: Path, crm: Crm, accounts: Accounts, snapshot: None
) -> None:
    homes = [settings_for(tmp_path / name, *two_free_ports()) for name in ("lisbon", "porto")]
    lisbon, porto = (cli_for(environment_for(home)) for home in homes)
    key = tmp_path / "swarm.key"
    lisbon("node", "swarm-key", "new", "--out", key, "--json").json()
    try:
        addresses = []
        for name, cli in (("lisbon", lisbon), ("porto", porto)):
            listen = f"/ip4/127.0.0.1/tcp/{free_port()}"
            started = cli("node", "up", "--branch", name, "--swarm-key", key, "--listen", listen, "--json").json()
            addresses.append(started["branch"]["addresses"][0])
        joined = porto("node", "join", addresses[0], "--json").json()
        lisbon("node", "join", addresses[1], "--json").json()
        with KuboStore(homes[0].ipfs_api) as at_lisbon:  # the profile is written at lisbon
            customer_id = (
                CustomerData(crm, at_lisbon)
                .add(PROFILE, wallet=None, purpose=Purpose.SALES, agent=accounts.agent)
                .customer_id
            )
        index = tmp_path / "index.sqlite"
        with Indexer(crm.chain, crm.deployment, index, confirmations=0) as indexer:
            indexer.sync_once()

        replicated = porto(
            "node", "replicate", "--no-sync", "--database", index, "--fetch-timeout", "1", "--json"
        ).json()
        lisbon("node", "down")

        assert joined == {"restarted": False, "peers": [joined["peers"][0] | {"connected": True, "reason": None}]}
        peers = porto("node", "peers", "--json").json()["peers"]
        assert [(p["address"], p["listed"]) for p in peers] == [(addresses[0], True)]
        assert replicated["pinned"] and replicated["unpinned"] == []
        with KuboStore(homes[1].ipfs_api) as at_porto:  # offline: porto's own copy, lisbon is down
            assert CustomerData(crm, at_porto).read(customer_id, accounts.agent) == PROFILE
    finally:
        for home in homes:
            stack.down(home)
