"""python -m scripts.networks: give Brownie the networks `chaincrm deploy --network` knows.

Reads the same files as the CLI (chaincrm/deploy/networks.toml, then <home>/networks.toml over it)
and writes each network into Brownie's network config (``~/.brownie/network-config.yaml``): a
network whose id Brownie already has (Brownie ships ``sepolia`` on Infura) gets our RPC URL and
chain id; the others are added under the live environment "chaincrm". Then

    brownie run scripts/deploy.py --network sepolia

deploys there. Run it again after editing <home>/networks.toml. Explorer fields are left to
Brownie (it wants the explorer's API URL, for source verification).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from chaincrm.config import Settings
from chaincrm.deploy.networks import Network, load_networks
from chaincrm.errors import ChainCrmError

ENVIRONMENT = "chaincrm"


def merge(config: dict[str, Any], networks: dict[str, Network]) -> list[str]:
    """Put `networks` into Brownie's network config (changed in place); the ids touched, in order."""
    live = config.setdefault("live", [])
    existing = {entry["id"]: entry for group in live for entry in group.get("networks", [])}
    ours = next((group for group in live if group.get("name") == ENVIRONMENT), None)
    touched = []
    for network in sorted(networks.values(), key=lambda n: n.name):
        entry = existing.get(network.name)
        if entry is None:
            if ours is None:
                ours = {"name": ENVIRONMENT, "networks": []}
                live.append(ours)
            entry = {"id": network.name}
            ours["networks"].append(entry)
        entry.update({"name": network.title or network.name, "host": network.rpc_url, "chainid": network.chain_id})
        touched.append(network.name)
    return touched


def brownie_config_file() -> Path:
    from brownie._config import _get_data_folder

    return Path(_get_data_folder()) / "network-config.yaml"


def main() -> None:
    import yaml

    try:
        networks = load_networks(Settings.from_env().home)
    except ChainCrmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    path = brownie_config_file()
    config = yaml.safe_load(path.read_text()) or {}
    touched = merge(config, networks)
    path.write_text(yaml.dump(config))
    for name in touched:
        network = networks[name]
        print(f"{name}: chain {network.chain_id} at {network.rpc_url}")
    print(f"written to {path}: `brownie run scripts/deploy.py --network NAME`")


if __name__ == "__main__":
    main()
