"""Stopping and starting again: the index continues after its last written block."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from chaincrm.chain import Chain
from chaincrm.contracts.client import Crm
from chaincrm.index import schema as db
from chaincrm.index.indexer import SyncProgress
from tests.indexer.conftest import MakeIndexer, dump, entry, register
from tests.sdk.conftest import Staff


def test_a_restarted_indexer_continues_without_gap_or_duplicate(
    chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    customer_id = register(crm, staff)
    crm.registry.log_interaction(entry(customer_id), staff.agent)
    make_indexer(chain, crm).sync_once()
    crm.registry.log_interactions([entry(customer_id), entry(customer_id)], staff.agent)
    crm.registry.log_interaction(entry(customer_id), staff.agent)

    resumed = make_indexer(chain, crm)  # a new process on the same file
    resumed.sync_once()

    assert dump(resumed.engine) == dump(_fresh(chain, crm, make_indexer))
    assert len(resumed.timeline(customer_id)) == 4


def test_ctrl_c_between_ranges_keeps_every_range_written_and_nothing_else(
    chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    customer_id = register(crm, staff)
    for _ in range(6):
        crm.registry.log_interaction(entry(customer_id), staff.agent)
    reached: list[int] = []

    def interrupt(progress: SyncProgress) -> None:
        reached.append(progress.block)
        if len(reached) == 2:
            raise KeyboardInterrupt

    interrupted = make_indexer(chain, crm, initial_range=2, max_range=2, on_progress=interrupt)
    with pytest.raises(KeyboardInterrupt):
        interrupted.sync_once()
    state = interrupted.state()

    assert state is not None and state.last_block == reached[-1]
    with interrupted.engine.connect() as conn:
        newest = conn.execute(select(func.max(db.customer_events.c.block_number))).scalar()
    assert newest is None or newest <= reached[-1]
    make_indexer(chain, crm, initial_range=2, max_range=2).sync_once()
    assert dump(interrupted.engine) == dump(_fresh(chain, crm, make_indexer))


def _fresh(chain: Chain, crm: Crm, make_indexer: MakeIndexer) -> Engine:
    indexer = make_indexer(chain, crm, name="fresh")
    indexer.sync_once()
    return indexer.engine
