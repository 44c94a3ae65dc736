"""Named networks: the packaged ``networks.toml``, then ``<home>/networks.toml`` over it.

Each network is a TOML table ``[networks.NAME]`` with ``chain_id`` and ``rpc_url`` (and optionally
``title``, ``explorer``, ``op_stack``). A table in the home's file replaces the fields it gives of
a packaged network of the same name, or adds a network. `chaincrm deploy --network NAME` and
Brownie (scripts/networks.py) read the same files.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from chaincrm.config import check_rpc_url
from chaincrm.errors import ConfigError

NETWORKS_FILE = "networks.toml"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
FIELDS = {"title": str, "chain_id": int, "rpc_url": str, "explorer": str, "op_stack": bool}


@dataclass(frozen=True)
class Network:
    name: str
    chain_id: int
    rpc_url: str
    title: str = ""
    explorer: str = ""
    op_stack: bool = False  # an OP-stack chain: transactions also pay an L1 data fee


def packaged_networks_file() -> Traversable:
    return resources.files("chaincrm").joinpath("deploy", NETWORKS_FILE)


def home_networks_file(home: Path) -> Path:
    return home / NETWORKS_FILE


def load_networks(home: Path | None = None) -> dict[str, Network]:
    """Every named network, by name: the packaged ones, with ``<home>/networks.toml`` over them."""
    tables = dict(_tables(packaged_networks_file()))
    if home is not None and home_networks_file(home).is_file():
        for name, fields in _tables(home_networks_file(home)).items():
            tables[name] = {**tables.get(name, {}), **fields}
    source = home_networks_file(home) if home is not None else packaged_networks_file()
    return {name: _network(name, fields, source) for name, fields in tables.items()}


def find_network(name: str, home: Path | None = None) -> Network:
    """The network called `name`; a ConfigError listing the known names otherwise."""
    networks = load_networks(home)
    found = networks.get(name.strip().lower())
    if found is None:
        where = f"{packaged_networks_file()}" + (f" or {home_networks_file(home)}" if home is not None else "")
        raise ConfigError(f"no network named {name!r} in {where}: known networks are {', '.join(sorted(networks))}")
    return found


def _tables(path: Path | Traversable) -> dict[str, dict[str, Any]]:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    unknown = sorted(set(data) - {"networks"})
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key {unknown[0]!r} (networks go in [networks.NAME] tables)")
    networks = data.get("networks", {})
    if not isinstance(networks, dict) or not all(isinstance(table, dict) for table in networks.values()):
        raise ConfigError(f"{path}: each network is a table [networks.NAME]")
    for name, table in networks.items():
        if not NAME_PATTERN.match(name):
            raise ConfigError(f"{path}: network name {name!r} is not lower-case letters, digits, '-' or '_'")
        for key, value in table.items():
            expected = FIELDS.get(key)
            if expected is None:
                raise ConfigError(f"{path}: networks.{name} has an unknown key {key!r} (known: {', '.join(FIELDS)})")
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ConfigError(f"{path}: networks.{name}.{key} must be a {expected.__name__}")
    return networks


def _network(name: str, fields: dict[str, Any], source: Path | Traversable) -> Network:
    for key in ("chain_id", "rpc_url"):
        if key not in fields:
            raise ConfigError(f"{source}: networks.{name} has no {key}")
    if fields["chain_id"] <= 0:
        raise ConfigError(f"{source}: networks.{name}.chain_id must be a positive whole number")
    try:
        check_rpc_url(fields["rpc_url"])
    except ConfigError:
        raise ConfigError(f"{source}: networks.{name}.rpc_url {fields['rpc_url']!r} is not an RPC URL") from None
    return Network(name=name, **fields)


__all__ = ["NETWORKS_FILE", "Network", "find_network", "home_networks_file", "load_networks", "packaged_networks_file"]
