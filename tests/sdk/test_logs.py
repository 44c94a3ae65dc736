"""Reads that work on nodes that refuse wide log ranges, and list reads in one JSON-RPC batch."""

from __future__ import annotations

import os
from typing import Any

import pytest
from web3 import HTTPProvider

from chaincrm.chain import batch_request
from chaincrm.chain.reverts import revert_type
from chaincrm.contracts.client import Crm
from chaincrm.contracts.registry import InteractionEntry
from chaincrm.errors import ChainError
from chaincrm.models import InteractionKind, Outcome, Stage
from chaincrm.services.anvil import AnvilNode
from chaincrm.views.timeline import customer_timeline
from tests.indexer.conftest import RefusingProvider, chain_over, register
from tests.sdk.conftest import Staff

MAX_SPAN = 3  # blocks per eth_getLogs the refusing node accepts


class CountingProvider(HTTPProvider):
    """A node that records the HTTP requests it answers (a batch is one request), but for web3's
    own chain id checks."""

    def __init__(self, url: str) -> None:
        super().__init__(url, exception_retry_configuration=None)
        self.requests: list[str] = []

    def make_request(self, method: Any, params: Any) -> Any:
        if method != "eth_chainId":  # web3 asks for it around each single call on its own
            self.requests.append(str(method))
        return super().make_request(method, params)

    def make_batch_request(self, batch_requests: Any) -> Any:
        self.requests.append("batch")
        return super().make_batch_request(batch_requests)


class UnbatchedProvider(HTTPProvider):
    """A provider without batch support: no `make_batch_request`."""

    def __getattribute__(self, name: str) -> Any:
        if name == "make_batch_request":
            raise AttributeError(name)
        return super().__getattribute__(name)


class ErrorProvider(HTTPProvider):
    """A node that answers eth_getLogs with one fixed error."""

    def __init__(self, url: str, code: int, message: str) -> None:
        super().__init__(url, exception_retry_configuration=None)
        self.error = {"code": code, "message": message}
        self.get_logs = 0

    def make_request(self, method: Any, params: Any) -> Any:
        if method == "eth_getLogs":
            self.get_logs += 1
            return {"jsonrpc": "2.0", "id": 1, "error": self.error}
        return super().make_request(method, params)


def _log_interactions(crm: Crm, staff: Staff, customer_id: int, count: int) -> None:
    for _ in range(count):  # one block each: the history spans more than MAX_SPAN blocks
        entry = InteractionEntry(customer_id, InteractionKind.CALL, Outcome.POSITIVE, os.urandom(32))
        crm.registry.log_interaction(entry, staff.agent)


@pytest.mark.parametrize("timeout", [False, True], ids=["refused", "timed-out"])
def test_interactions_are_read_whole_from_a_node_that_refuses_wide_ranges(
    anvil_node: AnvilNode, crm: Crm, staff: Staff, snapshot: None, timeout: bool
) -> None:
    customer_id = register(crm, staff)
    _log_interactions(crm, staff, customer_id, 2 * MAX_SPAN)
    provider = RefusingProvider(anvil_node.url, MAX_SPAN, timeout=timeout)
    narrow = Crm.attach(chain_over(provider), crm.deployment)

    found = narrow.registry.interactions(customer_id, from_block=crm.deployment.block_number)

    assert found == crm.registry.interactions(customer_id, from_block=crm.deployment.block_number)
    assert len(found) == 2 * MAX_SPAN
    assert max(provider.spans) > MAX_SPAN  # a wide range was asked for first, and refused
    assert narrow.chain.logs.range <= MAX_SPAN  # the range the node accepts is remembered


def test_a_timeline_is_the_same_from_a_node_that_refuses_wide_ranges(
    anvil_node: AnvilNode, crm: Crm, staff: Staff, snapshot: None
) -> None:
    customer_id = register(crm, staff)
    _log_interactions(crm, staff, customer_id, MAX_SPAN)
    deal_id = crm.pipeline.open_deal(customer_id, staff.agent.address, 10**18, staff.agent)
    crm.pipeline.move(deal_id, Stage.QUALIFIED, staff.agent)
    narrow = Crm.attach(chain_over(RefusingProvider(anvil_node.url, MAX_SPAN)), crm.deployment)

    entries = customer_timeline(narrow, customer_id, from_block=crm.deployment.block_number)

    assert entries == customer_timeline(crm, customer_id, from_block=crm.deployment.block_number)
    assert [e.detail for e in entries if e.what == f"deal {deal_id}"] == ["opened at Lead", "Lead -> Qualified"]


def test_stage_changes_and_grants_are_read_from_a_node_that_refuses_wide_ranges(
    anvil_node: AnvilNode, crm: Crm, staff: Staff, snapshot: None
) -> None:
    customer_id = register(crm, staff)
    deal_id = crm.pipeline.open_deal(customer_id, staff.agent.address, 10**18, staff.agent)
    _log_interactions(crm, staff, customer_id, MAX_SPAN)
    crm.pipeline.move(deal_id, Stage.QUALIFIED, staff.agent)
    narrow = Crm.attach(chain_over(RefusingProvider(anvil_node.url, MAX_SPAN)), crm.deployment)
    start = crm.deployment.block_number

    changes = narrow.pipeline.stage_changes(deal_id, from_block=start)
    grants = narrow.registry.grants_of(customer_id, from_block=start)

    assert [(c.from_stage, c.to_stage) for c in changes] == [(Stage.NONE, Stage.LEAD), (Stage.LEAD, Stage.QUALIFIED)]
    assert [g.staff for g in grants] == [staff.agent.address]


def test_a_node_that_refuses_even_one_block_is_one_chain_error(anvil_node: AnvilNode, crm: Crm) -> None:
    refusing = Crm.attach(chain_over(ErrorProvider(anvil_node.url, -32005, "query exceeds limit")), crm.deployment)

    with pytest.raises(ChainError) as raised:
        refusing.registry.interactions(from_block=crm.deployment.block_number)

    assert "refused eth_getLogs even for one block" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_an_error_that_is_not_about_the_range_is_not_retried(anvil_node: AnvilNode, crm: Crm) -> None:
    provider = ErrorProvider(anvil_node.url, -32602, "invalid argument 0: hex string without 0x prefix")
    broken = Crm.attach(chain_over(provider), crm.deployment)

    with pytest.raises(ChainError) as raised:
        broken.pipeline.stage_changes(from_block=crm.deployment.block_number)

    assert str(raised.value).endswith("refused eth_getLogs: invalid argument 0: hex string without 0x prefix")
    assert provider.get_logs == 1


def test_deals_and_invoices_are_listed_in_one_batch_whatever_their_number(
    anvil_node: AnvilNode, crm: Crm, staff: Staff, snapshot: None
) -> None:
    customer_id = register(crm, staff, wallet=staff.customer)
    for value in (1, 2, 3):
        deal_id = crm.pipeline.open_deal(customer_id, staff.agent.address, value * 10**17, staff.agent)
        for stage in (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON):
            crm.pipeline.move(deal_id, stage, staff.agent)
    provider = CountingProvider(anvil_node.url)
    counted = Crm.attach(chain_over(provider), crm.deployment)
    provider.requests.clear()

    deals = counted.pipeline.deals()
    deal_requests = list(provider.requests)
    provider.requests.clear()
    invoices = counted.escrow.invoices()

    assert deals == [crm.pipeline.deal(i) for i in range(1, crm.pipeline.deal_count() + 1)]
    assert invoices == [crm.escrow.invoice(i) for i in range(1, crm.escrow.invoice_count() + 1)]
    assert len(deals) >= 3 and len(invoices) >= 3
    assert deal_requests == ["eth_blockNumber", "eth_call", "batch"]
    assert provider.requests == ["eth_blockNumber", "eth_call", "batch"]


def test_a_batched_call_that_reverts_raises_its_named_error(crm: Crm) -> None:
    unknown = crm.pipeline.deal_count() + 1_000

    with pytest.raises(revert_type("DealUnknown")) as raised:
        crm.chain.call_many([crm.pipeline.contract.functions.dealOf(unknown)])

    assert raised.value.args_by_name == {"dealId": unknown}


def test_a_provider_without_batches_gets_the_calls_one_by_one_in_order(anvil_node: AnvilNode) -> None:
    calls = [("eth_chainId", []), ("eth_getBlockByNumber", ["0x0", False]), ("eth_chainId", [])]

    unbatched = batch_request(UnbatchedProvider(anvil_node.url), calls)
    batched = batch_request(HTTPProvider(anvil_node.url), calls)

    assert [a["result"] for a in unbatched] == [b["result"] for b in batched]
    assert unbatched[1]["result"]["number"] == "0x0"


def test_a_call_the_node_refuses_in_a_batch_is_handed_back_as_its_error(anvil_node: AnvilNode) -> None:
    answers = batch_request(HTTPProvider(anvil_node.url), [("eth_chainId", []), ("no_such_method", [])])

    assert "result" in answers[0]
    assert "error" in answers[1]
