"""Reads that use the index when there is one for this deployment, and the chain otherwise.

The index is a copy of the chain kept reorg-safe by the indexer, up to the last block it read. A
command that lists events reads it when the index follows the same chain and contracts as the
deployment record; otherwise (no index, an index of another deployment, or the caller asks for the
chain) it reads the chain in block ranges the node accepts. Either way it says which it used and up
to which block, and both give the same rows for the same blocks.

The block the index reached and the rows up to it are read in one transaction, one snapshot of the
database: an indexer that rolls back a reorg in between cannot make them disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, select

from chaincrm.contracts.client import Crm
from chaincrm.index import schema as db
from chaincrm.index.database import database_errors, open_database, read_state
from chaincrm.index.queries import interactions_in_order
from chaincrm.models import Interaction

INDEX = "index"
CHAIN = "chain"


@dataclass(frozen=True)
class Read:
    """What a read found, where (`source`: "index" or "chain") and up to which block."""

    interactions: list[Interaction]
    source: str
    as_of_block: int


def read_interactions(
    crm: Crm,
    customer_id: int | None,
    *,
    database: str | Path | None,
    home: Path,
    from_chain: bool = False,
) -> Read:
    """Interactions (one customer's, or all) since the deployment block, in chain order: from the
    index when it follows this deployment, else from the chain up to its latest block."""
    start = crm.deployment.block_number
    if not from_chain:
        found = _from_index(crm, customer_id, start, database, home)
        if found is not None:
            return found
    end = crm.chain.block_number("latest")
    return Read(crm.registry.interactions(customer_id, from_block=start, to_block=end), CHAIN, end)


def _from_index(crm: Crm, customer_id: int | None, start: int, database: str | Path | None, home: Path) -> Read | None:
    deployment = crm.deployment
    engine = open_database(database, home=home)
    try:
        state = read_state(engine)
        if state is None:
            return None
        followed = (state.chain_id, state.registry, state.pipeline, state.escrow)
        if followed != (deployment.chain_id, deployment.registry, deployment.pipeline, deployment.escrow):
            return None
        if state.start_block > start:
            return None  # it does not hold the blocks since the deployment
        with database_errors(engine), _snapshot(engine.connect()) as connection:
            last_block = _last_block(connection)
            if last_block < state.start_block:
                return None  # it holds no block yet
            found = interactions_in_order(connection, customer_id, start, last_block)
        return Read(found, INDEX, last_block)
    finally:
        engine.dispose()


def _snapshot(connection: Connection) -> Connection:
    """`connection`, reading in one snapshot until it closes: a transaction (SQLite in WAL mode
    keeps its first read's snapshot for the transaction; PostgreSQL needs REPEATABLE READ for that)."""
    if connection.engine.url.get_backend_name() == "postgresql":
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
    connection.begin()
    return connection


def _last_block(connection: Connection) -> int:
    """The last block the index holds, read in the caller's transaction."""
    query = select(db.sync_state.c.last_block).where(db.sync_state.c.id == 1)
    return int(connection.execute(query).scalar_one())


__all__ = ["CHAIN", "INDEX", "Read", "read_interactions"]
