"""Named networks: the packaged file, the home's file over it, `chaincrm deploy networks`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chaincrm.deploy.networks import find_network, load_networks
from chaincrm.errors import ConfigError
from tests.cli.conftest import Cli
from tests.deploy.conftest import LocalChain

PACKAGED = {
    "sepolia": (11155111, False),
    "hoodi": (560048, False),
    "base-sepolia": (84532, True),
    "op-sepolia": (11155420, True),
    "arbitrum-sepolia": (421614, False),
}


def test_the_packaged_networks_are_the_five_testnets_with_their_chain_ids() -> None:
    networks = load_networks()

    assert {name: (n.chain_id, n.op_stack) for name, n in networks.items()} == PACKAGED
    assert all(n.rpc_url.startswith("https://") and n.explorer.startswith("https://") for n in networks.values())


def test_the_homes_file_changes_a_network_and_adds_one(tmp_path: Path) -> None:
    (tmp_path / "networks.toml").write_text(
        '[networks.sepolia]\nrpc_url = "https://rpc.example.org/sepolia"\n\n'
        '[networks.devnet]\ntitle = "Our devnet"\nchain_id = 7777\nrpc_url = "http://10.0.0.5:8545"\nop_stack = true\n'
    )

    networks = load_networks(tmp_path)

    assert networks["sepolia"].rpc_url == "https://rpc.example.org/sepolia"
    assert networks["sepolia"].chain_id == 11155111
    assert networks["devnet"].chain_id == 7777
    assert networks["devnet"].op_stack is True


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[networks.sepolia\n", "is not valid TOML"),
        ('[networks.devnet]\nrpc_url = "http://x:1"\n', "networks.devnet has no chain_id"),
        ('[networks.sepolia]\nchain_id = "11155111"\n', "networks.sepolia.chain_id must be a int"),
        ('[networks.sepolia]\nrpcurl = "http://x:1"\n', "networks.sepolia has an unknown key 'rpcurl'"),
        ('[networks.sepolia]\nrpc_url = "sepolia"\n', "networks.sepolia.rpc_url 'sepolia' is not an RPC URL"),
        ('[networks."Main Net"]\nchain_id = 1\nrpc_url = "http://x:1"\n', "network name 'Main Net' is not"),
        ("[chains.x]\nchain_id = 1\n", "unknown top-level key 'chains'"),
    ],
)
def test_a_bad_networks_file_is_one_config_error_naming_the_key(tmp_path: Path, text: str, says: str) -> None:
    (tmp_path / "networks.toml").write_text(text)

    with pytest.raises(ConfigError) as raised:
        load_networks(tmp_path)

    assert says in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_name_is_found_whatever_its_case() -> None:
    assert find_network("Base-Sepolia").chain_id == 84532


def test_deploy_networks_lists_them(cli_on: Callable[[LocalChain | None], Cli], home: Path) -> None:
    (home / "networks.toml").write_text('[networks.devnet]\nchain_id = 7777\nrpc_url = "http://10.0.0.5:8545"\n')

    listed = cli_on(None)("deploy", "networks", "--json").json()

    assert {n["name"]: n["chain_id"] for n in listed} == {
        **{name: chain_id for name, (chain_id, _) in PACKAGED.items()},
        "devnet": 7777,
    }


def test_deploy_networks_for_people_is_a_table(cli_on: Callable[[LocalChain | None], Cli]) -> None:
    ran = cli_on(None)("deploy", "networks")

    assert ran.exit_code == 0, ran.stderr
    assert "OP Sepolia" in ran.stdout and "11155420" in ran.stdout
