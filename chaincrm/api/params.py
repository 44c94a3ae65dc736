"""Query parameters shared by the list endpoints, and turning them into filters."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Query
from sqlalchemy import ColumnElement, false

from chaincrm.api.answers import DEFAULT_LIMIT, MAX_LIMIT
from chaincrm.api.errors import ApiError
from chaincrm.api.models import MAX_ID, names_of
from chaincrm.chain.addresses import AddressProblem, parse_address
from chaincrm.errors import ConfigError
from chaincrm.models import ChainCode
from chaincrm.reports.filters import BRANCHES_FILE, agents_for, load_branches

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
    list[str], Query(description=f"A branch of <home>/{BRANCHES_FILE}, as `chaincrm report --branch` (repeatable).")
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


def agents_chosen(agents: Sequence[str], branches: Sequence[str], home: Path) -> frozenset[str] | None:
    """The agents named plus each branch's (as `chaincrm report`); None when neither is given."""
    for text in agents:
        try:
            parse_address(text)
        except AddressProblem:
            raise ApiError(400, "invalid_request", "agent must be an address (0x and 40 hex digits)") from None
    try:
        return agents_for(agents, branches, load_branches(home / BRANCHES_FILE) if branches else {})
    except ConfigError as problem:
        raise ApiError(400, "invalid_request", str(problem)) from None


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
    "code_named",
    "id_is",
    "window",
]
