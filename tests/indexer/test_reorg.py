"""Reorgs (Anvil's `anvil_reorg`): provisional rows are rolled back and read again; a reorg deeper
than the confirmation depth is refused. On a chain of its own: a reorg rewrites history."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from web3 import HTTPProvider

from chaincrm.contracts.client import Crm
from chaincrm.errors import ChainError
from chaincrm.models import Purpose
from tests.indexer.conftest import (
    MakeIndexer,
    chain_over,
    crm_on_own_anvil,
    dump,
    entry,
    grant,
    register,
    reorg,
    signed_interaction,
)
from tests.sdk.conftest import Staff


@pytest.fixture(scope="module")
def own_crm(tmp_path_factory: pytest.TempPathFactory, staff: Staff) -> Iterator[Crm]:
    with crm_on_own_anvil(tmp_path_factory.mktemp("reorg"), staff) as deployed:
        yield deployed


def test_a_reorg_inside_the_confirmation_depth_is_rolled_back_and_read_again(
    own_crm: Crm, staff: Staff, make_indexer: MakeIndexer
) -> None:
    chain = own_crm.chain
    customer_id = register(own_crm, staff)
    grant(own_crm, customer_id, staff.agent2, Purpose.SUPPORT, staff.manager)  # the replacement's author
    own_crm.registry.log_interaction(entry(customer_id), staff.agent)
    own_crm.registry.log_interaction(entry(customer_id), staff.agent)
    indexer = make_indexer(chain, own_crm, confirmations=5)
    indexer.sync_once()
    replaced_from = chain.w3.eth.block_number - 1
    replacement = signed_interaction(own_crm, staff, customer_id)

    reorg(chain, 2, [replacement])
    report = indexer.sync_once()

    assert report.rolled_back_from == replaced_from
    assert [i.author for i in indexer.timeline(customer_id)] == [staff.agent2.address]
    assert dump(indexer.engine) == dump(_fresh(own_crm, make_indexer))


def test_a_reorg_deeper_than_the_confirmation_depth_is_refused(
    own_crm: Crm, staff: Staff, make_indexer: MakeIndexer
) -> None:
    chain = own_crm.chain
    customer_id = register(own_crm, staff)
    for _ in range(3):
        own_crm.registry.log_interaction(entry(customer_id), staff.agent)
    indexer = make_indexer(chain, own_crm, confirmations=1)
    indexer.sync_once()
    before = dump(indexer.engine)

    reorg(chain, 3, [])
    with pytest.raises(ChainError, match="deeper than 1 confirmations"):
        indexer.sync_once()

    assert dump(indexer.engine) == before


def _fresh(crm: Crm, make_indexer: MakeIndexer) -> Engine:
    indexer = make_indexer(crm.chain, crm, name="fresh", confirmations=5)
    indexer.sync_once()
    return indexer.engine


class _ReorgingProvider(HTTPProvider):
    """Reorganises the chain (`depth` blocks) just before the indexer asks for the range ending at
    `head`: blocks it has already read change under it."""

    def __init__(self, url: str, head: int, depth: int) -> None:
        super().__init__(url)
        self.head = head
        self.depth = depth
        self.done = False

    def make_request(self, method: Any, params: Any) -> Any:
        if method == "eth_getLogs" and not self.done and int(params[0]["toBlock"], 16) == self.head:
            self.done = True
            assert "error" not in super().make_request("anvil_reorg", [self.depth, []])
        return super().make_request(method, params)


def test_a_reorg_during_a_pass_is_caught_and_the_blocks_read_again(
    own_crm: Crm, staff: Staff, make_indexer: MakeIndexer
) -> None:
    customer_id = register(own_crm, staff)
    for _ in range(4):
        own_crm.registry.log_interaction(entry(customer_id), staff.agent)
    head = own_crm.chain.w3.eth.block_number
    provider = _ReorgingProvider(own_crm.chain.endpoint, head, depth=3)
    indexer = make_indexer(chain_over(provider), own_crm, confirmations=5, initial_range=2, max_range=2)

    report = indexer.sync_once()
    own_crm.chain.nonces.reset_all()

    assert provider.done
    assert report.rolled_back_from == head - 2
    assert dump(indexer.engine) == dump(_fresh(own_crm, make_indexer))
