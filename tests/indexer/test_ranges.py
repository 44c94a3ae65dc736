"""Adaptive eth_getLogs ranges: halve when the node refuses, double again after successes."""

from __future__ import annotations

from chaincrm.chain import Chain
from chaincrm.contracts.client import Crm
from chaincrm.services.anvil import AnvilNode
from tests.indexer.conftest import MakeIndexer, RefusingProvider, chain_over, dump, entry, register
from tests.sdk.conftest import Staff


def _some_blocks(crm: Crm, staff: Staff) -> None:
    customer_id = register(crm, staff)
    for _ in range(8):
        crm.registry.log_interaction(entry(customer_id), staff.agent)


def test_ranges_the_node_refuses_shrink_until_it_answers(
    anvil_node: AnvilNode, chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    _some_blocks(crm, staff)
    provider = RefusingProvider(anvil_node.url, max_span=3)

    refused = make_indexer(chain_over(provider), crm, name="refused", initial_range=64)
    report = refused.sync_once()

    assert report.range_refusals >= 1
    assert report.last_block == chain.w3.eth.block_number
    assert min(provider.spans) >= 1 and any(span <= 3 for span in provider.spans)
    plain = make_indexer(chain, crm, name="plain")
    plain.sync_once()
    assert dump(refused.engine) == dump(plain.engine)


def test_ranges_that_time_out_shrink_like_refused_ones(
    anvil_node: AnvilNode, chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    _some_blocks(crm, staff)
    provider = RefusingProvider(anvil_node.url, max_span=2, timeout=True)

    report = make_indexer(chain_over(provider), crm, initial_range=16).sync_once()

    assert report.range_refusals >= 1
    assert report.last_block == chain.w3.eth.block_number


def test_the_range_grows_back_after_successes(
    anvil_node: AnvilNode, chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    _some_blocks(crm, staff)
    provider = RefusingProvider(anvil_node.url, max_span=10**9)

    make_indexer(chain_over(provider), crm, initial_range=1, max_range=8).sync_once()

    assert provider.spans[:4] == [1, 2, 4, 8]
    assert max(provider.spans) == 8
