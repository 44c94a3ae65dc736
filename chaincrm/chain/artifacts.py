"""Compiled contracts: ABIs and bytecode, shipped with the package and read from Brownie's build.

The SDK needs no Brownie and no compiler at run time. `./run setup` compiles the contracts with
`brownie compile` and exports the ABI and bytecode of each contract in :data:`CONTRACT_NAMES` into
the package (``chaincrm/contracts/artifacts/<name>.json``, git-ignored), so a wheel built from the
checkout carries them and an installed chaincrm works anywhere. An artifact is read from, in order:

1. ``$CHAINCRM_BUILD_DIR/<name>.json``, when that variable is set (and nowhere else);
2. in a checkout, Brownie's ``build/contracts/<name>.json`` when it is newer than the exported
   copy (a `brownie compile` since the last export), or the only one there (test contracts);
3. the package's exported copy.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from chaincrm.errors import ConfigError

CONTRACT_NAMES = ("CrmRegistry", "DealPipeline", "InvoiceEscrow")
"""The CRM's three core contracts, whose events the index follows."""
EXPORTED_NAMES = (
    *CONTRACT_NAMES,
    "BranchDirectory",
    "LoyaltyPoints",
    "TestStablecoin",
    "RootEmitter",
    "MerkleReference",
)
"""Every artifact the package carries: the core, the branch directory, the loyalty points token,
the test stablecoin that local chains and the demo deploy, and the two references `chaincrm bench
gas` measures anchoring and proof checks against."""
BUILD_DIR_VARIABLE = "CHAINCRM_BUILD_DIR"
PACKAGE_ARTIFACTS = ("contracts", "artifacts")
"""Where the exported artifacts sit inside the ``chaincrm`` package."""
_SOURCE_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: str
    deployed_bytecode: str = ""  # the runtime code, immutables as zero placeholders (deploy checks)


def checkout_build_dir() -> Path | None:
    """Brownie's build folder when this package runs from a checkout (not from an installed wheel)."""
    if not (_SOURCE_ROOT / "brownie-config.yaml").is_file():
        return None
    return _SOURCE_ROOT / "build" / "contracts"


def _configured_build_dir() -> Path | None:
    configured = os.environ.get(BUILD_DIR_VARIABLE)
    return Path(configured) if configured else None


def _packaged(name: str) -> Traversable:
    return resources.files("chaincrm").joinpath(*PACKAGE_ARTIFACTS, f"{name}.json")


def _source(name: str, build_dir: Path | None) -> Path | Traversable:
    chosen = build_dir or _configured_build_dir()
    if chosen is not None:
        return chosen / f"{name}.json"
    packaged = _packaged(name)
    checkout = checkout_build_dir()
    built = checkout / f"{name}.json" if checkout is not None else None
    if built is None or not built.is_file():
        return packaged
    if isinstance(packaged, Path) and packaged.is_file() and packaged.stat().st_mtime >= built.stat().st_mtime:
        return packaged  # exported since the last `brownie compile`, and a fraction of the build's size
    return built


def read_json(path: Path | Traversable, *, what: str, missing: str) -> Any:
    """The JSON in a file the SDK reads (a build artifact, a deployment record); a ConfigError
    saying `missing` when there is no such file, or that the `what` is not valid JSON."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(missing) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} {path} is not valid JSON: {exc}") from None


@cache
def load_artifact(name: str, build_dir: Path | None = None) -> Artifact:
    path = _source(name, build_dir)
    missing = f"contract {name} is not compiled ({path} is missing): run `brownie compile` or the README's main command"
    data = read_json(path, what="build artifact", missing=missing)
    return Artifact(
        name=name,
        abi=tuple(data["abi"]),
        bytecode=data.get("bytecode", ""),
        deployed_bytecode=data.get("deployedBytecode", ""),
    )


def all_abis(build_dir: Path | None = None) -> list[tuple[dict[str, Any], ...]]:
    return [load_artifact(name, build_dir).abi for name in CONTRACT_NAMES]


def export_artifacts(build_dir: Path, target: Path) -> list[Path]:
    """Write the ABI and bytecode of each of :data:`EXPORTED_NAMES` from Brownie's ``build_dir``
    into ``target`` (the package's artifacts folder), for a wheel to carry."""
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in EXPORTED_NAMES:
        source = build_dir / f"{name}.json"
        try:
            data = json.loads(source.read_text())
        except FileNotFoundError:
            raise ConfigError(f"contract {name} is not compiled ({source} is missing): run `brownie compile`") from None
        exported = {
            "contractName": name,
            "abi": data["abi"],
            "bytecode": data["bytecode"],
            "deployedBytecode": data["deployedBytecode"],  # `chaincrm deploy` checks the code it deployed
        }
        path = target / f"{name}.json"
        path.write_text(json.dumps(exported, separators=(",", ":")) + "\n")
        written.append(path)
    return written
