"""The index's writes: each in one transaction that first checks no other indexer moved the index.

A range of blocks is written together with the block it reached (:meth:`IndexStore.write_range`),
so a restart, Ctrl-C or a crash continues after the last written block: no gap, no duplicate
(event rows are also unique on their block and log index). The hashes of the provisional blocks,
and of the last final one, are kept for the reorg check (``chaincrm.index.reorgs``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from eth_utils import to_checksum_address
from sqlalchemy import Connection, Engine, delete, insert, select, update

from chaincrm.errors import ConfigError
from chaincrm.index import schema as db
from chaincrm.index.database import (
    IndexState,
    database_errors,
    describe_database,
    lock_state,
    read_state,
    sqlite_file,
    writing,
)
from chaincrm.index.decode import Batch
from chaincrm.index.entities import rebuild_all, touched_from
from chaincrm.index.rpc import Header
from chaincrm.models import Deployment


class IndexStore:
    """The database side of one indexer."""

    def __init__(self, engine: Engine, confirmations: int) -> None:
        self.engine = engine
        self.confirmations = confirmations

    @property
    def where(self) -> str:
        return describe_database(self.engine)

    def state(self) -> IndexState:
        state = read_state(self.engine)
        if state is None:
            raise ConfigError(f"the index at {self.where} disappeared while indexing")
        return state

    def stored_hashes(self) -> dict[int, str]:
        """Block number -> hash of the kept blocks (the provisional ones and the last final one)."""
        with database_errors(self.engine), self.engine.connect() as conn:
            return dict(conn.execute(select(db.blocks.c.number, db.blocks.c.hash)).all())  # type: ignore[arg-type]

    def create(self, chain_id: int, deployment: Deployment, start: int) -> IndexState:
        """The tables and the bookkeeping row of a new index that starts at block `start`."""
        file = sqlite_file(self.engine)
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
        with database_errors(self.engine), writing(self.engine) as conn:
            db.metadata.create_all(conn)
            if conn.execute(select(db.sync_state.c.id)).first() is None:
                conn.execute(
                    insert(db.sync_state).values(
                        id=1,
                        schema_version=db.SCHEMA_VERSION,
                        chain_id=chain_id,
                        registry=to_checksum_address(deployment.registry),
                        pipeline=to_checksum_address(deployment.pipeline),
                        escrow=to_checksum_address(deployment.escrow),
                        start_block=start,
                        last_final_block=start - 1,
                        last_block=start - 1,
                        confirmations=self.confirmations,
                        updated_at=int(time.time()),
                    )
                )
        return self.state()

    def write_range(
        self, batch: Batch, kept: Iterable[Header], *, expected_last: int, last_block: int, last_final: int
    ) -> None:
        """A range's rows, the state rows they change, the headers kept for the reorg check, and
        the block reached: all or nothing."""
        with database_errors(self.engine), writing(self.engine) as conn:
            lock_state(conn, expected_last)
            for table in db.EVENT_TABLES:
                rows = batch.rows.get(table.name)
                if rows:
                    conn.execute(insert(table), rows)
            rebuild_all(conn, batch.touched)
            blocks = [
                {
                    "number": header.number,
                    "hash": header.hash,
                    "parent_hash": header.parent_hash,
                    "timestamp": header.timestamp,
                    "final": header.number <= last_final,
                }
                for header in kept
            ]
            if blocks:
                conn.execute(delete(db.blocks).where(db.blocks.c.number.in_([block["number"] for block in blocks])))
                conn.execute(insert(db.blocks), blocks)
            self._move(conn, last_block=last_block, last_final_block=last_final, confirmations=self.confirmations)

    def roll_back(self, fork: int, expected_last: int) -> None:
        """Delete the rows of every block from `fork` on and rebuild the entities they touched."""
        with database_errors(self.engine), writing(self.engine) as conn:
            lock_state(conn, expected_last)
            touched = touched_from(conn, fork)
            for table in db.EVENT_TABLES:
                conn.execute(delete(table).where(table.c.block_number >= fork))
            rebuild_all(conn, touched)
            conn.execute(delete(db.blocks).where(db.blocks.c.number >= fork))
            self._move(conn, last_block=fork - 1)

    def finalise(self, last_final: int) -> None:
        """Move the final mark up and forget block hashes no reorg check needs any more."""
        with database_errors(self.engine), writing(self.engine) as conn:
            current = conn.execute(select(db.sync_state.c.last_final_block).where(db.sync_state.c.id == 1)).scalar_one()
            last_final = max(int(current), last_final)
            conn.execute(update(db.blocks).where(db.blocks.c.number <= last_final).values(final=True))
            conn.execute(delete(db.blocks).where(db.blocks.c.number < last_final))
            self._move(conn, last_final_block=last_final, confirmations=self.confirmations)

    @staticmethod
    def _move(conn: Connection, **values: int) -> None:
        conn.execute(update(db.sync_state).where(db.sync_state.c.id == 1).values(**values, updated_at=int(time.time())))


__all__ = ["IndexStore"]
