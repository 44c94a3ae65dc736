"""`chaincrm node up|down|status`: each test runs its own stack in its own home, on free ports."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from chaincrm.config import Settings
from chaincrm.services import stack
from chaincrm.services.supervisor import port_in_use
from chaincrm.storage.node import KUBO_VERSION, api_address
from tests.cli.conftest import Cli, cli_for, environment_for, settings_for, two_free_ports


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
