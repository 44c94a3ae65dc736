"""Reads that use the index when there is one for this deployment, and the chain otherwise.

The index is a copy of the chain kept reorg-safe by the indexer, up to the last block it read. A
command that lists events reads it when the index follows the same chain and contracts as the
deployment record; otherwise (no index, an index of another deployment, or the caller asks for the
chain) it reads the chain in block ranges the node accepts. Either way it says which it used and up
to which block, and both give the same rows for the same blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chaincrm.contracts.client import Crm
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
        if state.start_block > start or state.last_block < state.start_block:
            return None  # it does not hold the blocks since the deployment (or none yet)
        with database_errors(engine), engine.connect() as connection:
            found = interactions_in_order(connection, customer_id, start, state.last_block)
        return Read(found, INDEX, state.last_block)
    finally:
        engine.dispose()


__all__ = ["CHAIN", "INDEX", "Read", "read_interactions"]
