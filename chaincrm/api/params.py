"""Query parameters shared by the list endpoints, and turning them into filters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Query
from sqlalchemy import ColumnElement, false

from chaincrm.api.answers import DEFAULT_LIMIT, MAX_LIMIT
from chaincrm.api.errors import ApiError
from chaincrm.api.models import MAX_ID, names_of
from chaincrm.chain.addresses import AddressProblem, parse_address
from chaincrm.errors import ConfigError
from chaincrm.models import ChainCode
from chaincrm.reports.filters import BRANCH_MEMBERSHIP, agents_for

if TYPE_CHECKING:
    from chaincrm.contracts.branches import BranchRoster
    from chaincrm.portal.state import Portal

C = TypeVar("C", bound=ChainCode)
MAX_SECONDS = 2**63 - 1
MAX_INDEXED_ID = 2**63 - 1

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
Cursor = Annotated[str | None, Query(max_length=200, description="The `next_cursor` of the previous page.")]
Since = Annotated[int | None, Query(ge=0, le=MAX_SECONDS, description="From this Unix time (inclusive).")]
Until = Annotated[int | None, Query(ge=0, le=MAX_SECONDS, description="Up to this Unix time (inclusive).")]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Agents = Annotated[list[str], Query(description="An agent's address (repeatable).")]
Branches = Annotated[
    list[str],
    Query(
        description=f"An on-chain branch by name or id, as `chaincrm report --branch` (repeatable): "
        f"{BRANCH_MEMBERSHIP}.",
    ),
]
DEFAULT = DEFAULT_LIMIT


def id_is(column: ColumnElement[Any], value: int) -> ColumnElement[bool]:
    """`column == value`, or false for an id the index cannot hold: ids are uint64 on chain, the
    index's columns signed 64-bit, and no id near 2**63 was ever issued."""
    return column == value if value <= MAX_INDEXED_ID else false()


def code_named(enum: type[C], text: str | None, what: str) -> C | None:
    if text is None:
        return None
    names = names_of(enum)
    member = names.get(text.replace("-", "_"))
    if member is None:
        raise ApiError(400, "invalid_request", f"{what} must be one of {', '.join(names)}")
    return member


def agents_chosen(
    agents: Sequence[str],
    branches: Sequence[str] = (),
    roster: BranchRoster | None = None,
    *,
    since: int | None = None,
    until: int | None = None,
) -> frozenset[str] | None:
    """The agents named plus each branch's staff in the window (as `chaincrm report`, `roster`
    from :func:`branch_roster`); None when neither is given."""
    for text in agents:
        try:
            parse_address(text)
        except AddressProblem:
            raise ApiError(400, "invalid_request", "agent must be an address (0x and 40 hex digits)") from None
    try:
        return agents_for(agents, branches, roster, since=since, until=until)
    except ConfigError as problem:
        raise ApiError(400, "invalid_request", str(problem)) from None


async def branch_roster(portal: Portal, branches: Sequence[str]) -> BranchRoster | None:
    """The branches and their staff in the portal's index, read only when a branch is asked for."""
    from chaincrm.index.branches import roster_of

    if not branches:
        return None
    if not portal.crm.deployment.branches:
        raise ApiError(400, "invalid_request", "this deployment has no branch directory: branch cannot be used")
    return await portal.read(roster_of)


def window(since: int | None, until: int | None) -> None:
    if since is not None and until is not None and since > until:
        raise ApiError(400, "invalid_request", "since is after until")


__all__ = [
    "DEFAULT",
    "Agents",
    "Branches",
    "Cursor",
    "IdFilter",
    "Limit",
    "Since",
    "Until",
    "agents_chosen",
    "branch_roster",
    "code_named",
    "id_is",
    "window",
]
