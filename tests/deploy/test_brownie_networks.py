"""scripts/networks.py gives Brownie the same named networks as `chaincrm deploy --network`.

Checked on a copy of Brownie's packaged network config (the user's ~/.brownie is not touched). The
whole path, `python -m scripts.networks` then `brownie run scripts/deploy.py --network sepolia`
against an Anvil started with Sepolia's chain id, was run by hand (Brownie in a fresh HOME takes
about two minutes to start, too slow for the suite).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from chaincrm.deploy.networks import load_networks
from scripts.networks import ENVIRONMENT, merge

BROWNIE_DEFAULTS = Path(__import__("brownie").__file__).parent / "data" / "network-config.yaml"


def _by_id(config: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {entry["id"]: entry for group in config["live"] for entry in group.get("networks", [])}


def test_every_named_network_becomes_a_brownie_network_with_its_url_and_chain_id() -> None:
    config = yaml.safe_load(BROWNIE_DEFAULTS.read_text())

    touched = merge(config, load_networks())

    brownie = _by_id(config)
    for name, network in load_networks().items():
        assert name in touched
        assert brownie[name]["host"] == network.rpc_url
        assert brownie[name]["chainid"] == network.chain_id


def test_brownies_own_sepolia_is_pointed_at_our_url_not_duplicated() -> None:
    config = yaml.safe_load(BROWNIE_DEFAULTS.read_text())
    explorer = _by_id(config)["sepolia"]["explorer"]

    merge(config, load_networks())

    ids = [entry["id"] for group in config["live"] for entry in group.get("networks", [])]
    assert ids.count("sepolia") == 1
    assert _by_id(config)["sepolia"]["explorer"] == explorer  # Brownie's API URL, left alone
    ours = next(group for group in config["live"] if group["name"] == ENVIRONMENT)
    assert {entry["id"] for entry in ours["networks"]} == {"hoodi", "base-sepolia", "op-sepolia", "arbitrum-sepolia"}


def test_a_network_added_in_the_home_reaches_brownie(tmp_path: Path) -> None:
    (tmp_path / "networks.toml").write_text('[networks.devnet]\nchain_id = 7777\nrpc_url = "http://10.0.0.5:8545"\n')
    config = yaml.safe_load(BROWNIE_DEFAULTS.read_text())

    merge(config, load_networks(tmp_path))

    assert _by_id(config)["devnet"]["chainid"] == 7777
