"""Branches in the index: the BranchDirectory's events as rows, the branch state folded from them,
and the roster reports by branch read back.

``branch_events`` holds one row per event (``BranchCreated``, ``BranchManagerSet``,
``StaffJoinedBranch``, ``StaffLeftBranch``, ``CustomerAssignedToBranch``). Three state tables are
folded from it, as the other entities are (:mod:`chaincrm.index.entities` rebuilds them from
these folds whenever one of their events arrives or is rolled back, so a rebuild from the chain
equals an index kept up to date pass by pass):

- ``branches``: id, name (bytes32 as emitted), manager, creator and creation;
- ``branch_staff``: each stay of an account in a branch, joined at a block and time, left at a
  block and time (None while it stays), rebuilt per branch;
- ``branch_customers``: each customer's current branch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, RowMapping, Table, select

from chaincrm.contracts.branches import Branch, BranchRoster, StaffPeriod, decode_branch_name
from chaincrm.errors import ConfigError
from chaincrm.index import schema as db
from chaincrm.models import ZERO_ADDRESS

if TYPE_CHECKING:
    from chaincrm.index.decode import Batch, _Log

Rows = dict[int, dict[str, Any]]

# ---------------------------------------------------------------------- logs to rows


def _event(kind: str) -> Callable[[Batch, _Log, dict[str, Any]], None]:
    def handle(b: Batch, log: _Log, a: dict[str, Any]) -> None:
        values: dict[str, Any] = {"branch_id": a["branchId"], "kind": kind, "actor": a["by"], "at": log.at}
        if kind == "created":
            values["name"] = a["name"]
        elif kind == "manager_set":
            values["account"] = None if a["manager"] == ZERO_ADDRESS else a["manager"]
        elif kind in ("staff_joined", "staff_left"):
            values["account"] = a["account"]
        elif kind == "customer_assigned":
            values["customer_id"] = a["customerId"]
        b.add(db.branch_events, log, **values)

    return handle


BRANCH_HANDLERS: dict[str, Callable[[Batch, _Log, dict[str, Any]], None]] = {
    "BranchCreated": _event("created"),
    "BranchManagerSet": _event("manager_set"),
    "StaffJoinedBranch": _event("staff_joined"),
    "StaffLeftBranch": _event("staff_left"),
    "CustomerAssignedToBranch": _event("customer_assigned"),
}
"""The directory's events and the handler that makes each a ``branch_events`` row."""

# ---------------------------------------------------------------------- folds (see chaincrm.index.entities)


def fold_branch(rows: Rows, _source: Table, e: RowMapping) -> None:
    """``branches``, one row per branch id."""
    branch_id = e["branch_id"]
    if e["kind"] == "created":
        rows[branch_id] = {
            "id": branch_id,
            "name": e["name"],
            "manager": None,
            "creator": e["actor"],
            "created_at": e["at"],
            "block_number": e["block_number"],
        }
    elif e["kind"] == "manager_set" and branch_id in rows:
        rows[branch_id]["manager"] = e["account"]


def fold_staff(rows: Rows, _source: Table, e: RowMapping) -> None:
    """``branch_staff``, the stays of one branch's staff (rows keyed by their order: one branch has many)."""
    if e["kind"] == "staff_joined":
        rows[len(rows)] = {
            "branch_id": e["branch_id"],
            "account": e["account"],
            "joined_block": e["block_number"],
            "joined_log_index": e["log_index"],
            "joined_at": e["at"],
            "added_by": e["actor"],
            "left_block": None,
            "left_at": None,
            "removed_by": None,
        }
    elif e["kind"] == "staff_left":
        for row in reversed(rows.values()):
            if row["account"] == e["account"] and row["branch_id"] == e["branch_id"] and row["left_block"] is None:
                row |= {"left_block": e["block_number"], "left_at": e["at"], "removed_by": e["actor"]}
                break


def fold_customer(rows: Rows, _source: Table, e: RowMapping) -> None:
    """``branch_customers``: the last assignment of each customer."""
    if e["kind"] == "customer_assigned":
        rows[e["customer_id"]] = {
            "customer_id": e["customer_id"],
            "branch_id": e["branch_id"],
            "assigned_by": e["actor"],
            "assigned_at": e["at"],
            "block_number": e["block_number"],
        }


# ---------------------------------------------------------------------- reading back


def roster_of(conn: Connection, *, to_block: int | None = None) -> BranchRoster:
    """The branches and the stays of staff in the index (up to `to_block`, default all it holds)."""
    if to_block is None:
        b, s = db.branches.c, db.branch_staff.c
        branches = tuple(
            Branch(int(r.id), decode_branch_name(r.name), r.manager)
            for r in conn.execute(select(b.id, b.name, b.manager).order_by(b.id))
        )
        periods = tuple(
            StaffPeriod(
                int(r.branch_id),
                r.account,
                int(r.joined_block),
                int(r.joined_at),
                None if r.left_block is None else int(r.left_block),
                None if r.left_at is None else int(r.left_at),
            )
            for r in conn.execute(
                select(s.branch_id, s.account, s.joined_block, s.joined_at, s.left_block, s.left_at).order_by(
                    s.joined_block, s.joined_log_index
                )
            )
        )
        return BranchRoster(branches, periods)
    return _roster_from_events(conn, to_block)


def _roster_from_events(conn: Connection, to_block: int) -> BranchRoster:
    """The roster as of `to_block`, folded from the event rows (the state tables hold the newest state)."""
    e = db.branch_events
    events = conn.execute(select(e).where(e.c.block_number <= to_block).order_by(e.c.block_number, e.c.log_index))
    branch_rows: Rows = {}
    staff_rows: Rows = {}
    for row in events.mappings():
        fold_branch(branch_rows, e, row)
        fold_staff(staff_rows, e, row)
    branches = tuple(
        Branch(int(r["id"]), decode_branch_name(r["name"]), r["manager"]) for _, r in sorted(branch_rows.items())
    )
    periods = tuple(
        StaffPeriod(r["branch_id"], r["account"], r["joined_block"], r["joined_at"], r["left_block"], r["left_at"])
        for r in staff_rows.values()
    )
    return BranchRoster(branches, periods)


def roster_from_database(database: str | Path | None, *, home: Path, to_block: int | None = None) -> BranchRoster:
    """The roster in the index database (a URL, a SQLite file, or None for <home>/index.sqlite)."""
    from chaincrm.index.database import database_errors, describe_database, open_database, read_state

    engine = open_database(database, home=home)
    try:
        if read_state(engine) is None:
            raise ConfigError(f"no index at {describe_database(engine)}: build it first (`chaincrm index`)")
        with database_errors(engine), engine.connect() as conn:
            return roster_of(conn, to_block=to_block)
    finally:
        engine.dispose()


__all__ = [
    "BRANCH_HANDLERS",
    "fold_branch",
    "fold_customer",
    "fold_staff",
    "roster_from_database",
    "roster_of",
]
