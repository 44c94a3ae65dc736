"""What a report covers: its window and agents (:class:`ReportFilter`), and the branches, named
groups of agents in ``<home>/branches.json`` (``{"lisbon": ["0x...", "0x..."]}``; there is no
branch on chain)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_utils import is_hex_address, to_checksum_address

from chaincrm.errors import ConfigError

BRANCHES_FILE = "branches.json"


@dataclass(frozen=True)
class ReportFilter:
    """The window (inclusive Unix seconds, None for open-ended) and the agents to keep (None: all)."""

    since: int | None = None
    until: int | None = None
    agents: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ConfigError("the report's start (--since) is after its end (--until)")

    def in_window(self, at: int) -> bool:
        return (self.since is None or at >= self.since) and (self.until is None or at <= self.until)

    def keeps(self, agent: str) -> bool:
        return self.agents is None or agent in self.agents


def load_branches(path: Path) -> dict[str, tuple[str, ...]]:
    """Branches from a JSON file `{"lisbon": ["0x..", ...]}`; no file means no branches."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"branch file {path} is not readable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f'branch file {path} must map branch names to address lists: {{"lisbon": ["0x.."]}}')
    branches: dict[str, tuple[str, ...]] = {}
    for name, members in data.items():
        if not isinstance(members, list) or not all(isinstance(m, str) and is_hex_address(m) for m in members):
            raise ConfigError(f"branch {name!r} in {path} must be a list of addresses")
        branches[str(name)] = tuple(to_checksum_address(m) for m in members)
    return branches


def agents_for(
    agents: Iterable[str], branch_names: Iterable[str], branches: Mapping[str, Sequence[str]]
) -> frozenset[str] | None:
    """The agents named directly plus the members of each named branch; None when neither is given."""
    chosen = {to_checksum_address(agent) for agent in agents}
    names = list(branch_names)
    for name in names:
        if name not in branches:
            known = ", ".join(sorted(branches)) or f"none: create {BRANCHES_FILE} in the home folder"
            raise ConfigError(f"unknown branch {name!r} (branches: {known})")
        chosen.update(to_checksum_address(agent) for agent in branches[name])
    if not chosen and not names:
        return None
    return frozenset(chosen)


__all__ = ["BRANCHES_FILE", "ReportFilter", "agents_for", "load_branches"]
