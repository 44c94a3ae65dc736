"""Fixtures for anchored interaction batches: the SDK's real Anvil and module deployment, the
session's real embedded IPFS node, and a queue file per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chaincrm.batches import Batcher, InteractionQueue, QueueScope
from chaincrm.contracts.client import Crm
from chaincrm.storage import KuboStore
from tests.sdk.conftest import Staff, anvil_node, chain, crm, snapshot, staff  # noqa: F401 - fixtures
from tests.sdk.ipfs_fixtures import document_store, ipfs_node, pytest_configure  # noqa: F401 - fixtures


@pytest.fixture
def queue(tmp_path: Path, crm: Crm, staff: Staff) -> Iterator[InteractionQueue]:  # noqa: F811
    """The agent's queue in a fresh file."""
    scope = QueueScope(crm.chain.chain_id, crm.registry.address, staff.agent.address)
    with InteractionQueue(tmp_path / "state" / "interaction-queue.sqlite", scope) as opened:
        yield opened


@pytest.fixture
def batcher(
    queue: InteractionQueue,
    crm: Crm,  # noqa: F811
    document_store: KuboStore,  # noqa: F811
    staff: Staff,  # noqa: F811
) -> Batcher:
    """The agent's batcher: batches of 10."""
    return Batcher(queue, crm.registry, document_store, staff.agent, every=10, from_block=crm.deployment.block_number)
