"""What a report covers: its window and agents (:class:`ReportFilter`), and the agents a branch
stands for (:func:`agents_for`).

Branches are on chain (the BranchDirectory contract): a report by branch keeps the agents who were
staff of the branch at some moment of the report's window, read from the directory's
StaffJoinedBranch/StaffLeftBranch events (the index's ``branch_staff`` table or the chain's logs).
All the window's activity of those agents counts for the branch, not only what they did while in
it (see :data:`BRANCH_MEMBERSHIP`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_utils import to_checksum_address

from chaincrm.errors import ConfigError

if TYPE_CHECKING:
    from chaincrm.contracts.branches import BranchRoster

BRANCH_MEMBERSHIP = (
    "the agents who were staff of the branch at any moment of the window (on-chain StaffJoinedBranch/"
    "StaffLeftBranch); all their activity in the window counts"
)
"""How a branch filter picks its agents, for help texts."""


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


def agents_for(
    agents: Iterable[str],
    branch_names: Iterable[str],
    roster: BranchRoster | None,
    *,
    since: int | None = None,
    until: int | None = None,
) -> frozenset[str] | None:
    """The agents named directly plus, for each branch named (by name or id), the accounts that
    were its staff at some moment of the window [since, until] (from the directory's
    StaffJoinedBranch/StaffLeftBranch events); None when neither agents nor branches are given.
    A branch not on chain is one ConfigError line listing the known names."""
    chosen: set[str] = {to_checksum_address(agent) for agent in agents}
    names = list(branch_names)
    if not names:
        return frozenset(chosen) if chosen else None
    if roster is None:
        raise ConfigError("a report by branch needs the branch roster (the directory's events)")
    for name in names:
        branch = roster.find(name)
        chosen.update(roster.members(branch.branch_id, since, until))
    return frozenset(chosen)


__all__ = ["BRANCH_MEMBERSHIP", "ReportFilter", "agents_for"]
