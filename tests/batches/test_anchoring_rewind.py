"""Anchors lost when the chain rewinds under the batcher: Anvil, saving its state with ``--state`` and
``--state-interval``, killed with SIGKILL after the anchor and started again from the older state."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaincrm.batches import ANCHORED, Batcher, InteractionQueue, QueueScope, RecordEntry
from chaincrm.contracts.client import Crm, connect
from chaincrm.services import supervisor
from chaincrm.services.supervisor import free_port
from chaincrm.storage import KuboStore
from chaincrm_tools.faults.services import ChainService, Processes
from tests.batches.test_anchoring import anchored_record_ids
from tests.sdk.conftest import Staff
from tests.writer.conftest import deployed

NO_DUMP_SECONDS = 3600.0  # no dump of the state between the clean stop and the kill


@pytest.fixture
def rewinding_chain(tmp_path: Path) -> Iterator[ChainService]:
    """Anvil of this test's own, mining each transaction at once, its state saved in a file."""
    processes = Processes()
    service = ChainService(processes, tmp_path / "anvil", free_port(), state_interval=NO_DUMP_SECONDS)
    try:
        service.start(automine=True)
        yield service
    finally:
        processes.close()


def restart_cleanly(service: ChainService) -> None:
    """SIGTERM: Anvil saves its state as it exits; then start it again from that state."""
    assert service.process is not None
    supervisor.stop(service.process.pid)
    service.process.wait()
    service.process = None
    service.start(automine=True)


def test_an_anchor_lost_to_a_restart_from_older_state_is_anchored_again_exactly_once(
    tmp_path: Path, rewinding_chain: ChainService, document_store: KuboStore, staff: Staff
) -> None:
    chain = connect(rewinding_chain.url)
    chain.keep_journal(tmp_path / "home" / "state")
    crm: Crm = deployed(chain, staff)
    restart_cleanly(rewinding_chain)  # the deployment is in the saved state; what follows is not
    scope = QueueScope(chain.chain_id, crm.registry.address, staff.agent.address)
    with InteractionQueue(tmp_path / "home" / "state" / "interaction-queue.sqlite", scope) as queue:
        batcher = Batcher(
            queue, crm.registry, document_store, staff.agent, every=5, within=3600,
            from_block=crm.deployment.block_number, recheck_seconds=0,
        )  # fmt: skip
        ids = queue.enqueue_many(RecordEntry(1 + i, 1, 0, os.urandom(32)) for i in range(5))
        (first,) = batcher.step()

        rewinding_chain.kill()  # SIGKILL: the anchor's block was never saved
        rewinding_chain.start(automine=True)
        assert crm.registry.find_anchor(first.root, from_block=crm.deployment.block_number) is None

        (again,) = batcher.step()  # nothing asked: the step looks its recent anchors up

        assert (again.batch_id, again.root) == (first.batch_id, first.root)
        assert again.tx_hash == first.tx_hash  # the journaled transaction itself, sent again
        records, roots = anchored_record_ids(crm, document_store, staff.agent.address, crm.deployment.block_number)
        assert records == Counter(ids) and roots == Counter({first.root: 1})
        assert {queue.record(i).state for i in ids} == {ANCHORED}
        assert batcher.step() == [] and batcher.recheck() == []
        assert roots == anchored_record_ids(crm, document_store, staff.agent.address, 0)[1]
