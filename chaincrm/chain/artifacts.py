"""Compiled contracts: ABIs and bytecode read from Brownie's build folder.

The SDK needs no Brownie at run time; it reads the JSON artifacts that `brownie compile` writes.
The folder is ``$CHAINCRM_BUILD_DIR`` or ``build/contracts`` beside this package.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from chaincrm.errors import ConfigError

CONTRACT_NAMES = ("CrmRegistry", "DealPipeline", "InvoiceEscrow")
BUILD_DIR_VARIABLE = "CHAINCRM_BUILD_DIR"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: str


def default_build_dir() -> Path:
    configured = os.environ.get(BUILD_DIR_VARIABLE)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "build" / "contracts"


@cache
def load_artifact(name: str, build_dir: Path | None = None) -> Artifact:
    folder = build_dir or default_build_dir()
    path = folder / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"contract {name} is not compiled ({path} is missing): run `brownie compile` or the README's main command"
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"build artifact {path} is not valid JSON: {exc}") from None
    return Artifact(name=name, abi=tuple(data["abi"]), bytecode=data.get("bytecode", ""))


def all_abis(build_dir: Path | None = None) -> list[tuple[dict[str, Any], ...]]:
    return [load_artifact(name, build_dir).abi for name in CONTRACT_NAMES]
