"""Sending, receipts and revert decoding against a real Anvil."""

from __future__ import annotations

import os
from typing import Any

import pytest
from web3 import HTTPProvider, Web3

from chaincrm.chain import Chain
from chaincrm.chain.reverts import revert_type
from chaincrm.contracts.client import Crm, connect
from chaincrm.contracts.registry import InteractionEntry
from chaincrm.errors import ChainError, ContractRevert, PartiallyLanded, TransactionError
from chaincrm.models import InteractionKind, Outcome, Purpose
from chaincrm.privacy import readers_hash
from chaincrm.services.anvil import AnvilNode
from tests.sdk.conftest import Staff


def _entry(customer_id: int) -> InteractionEntry:
    return InteractionEntry(customer_id, InteractionKind.CALL, Outcome.POSITIVE, os.urandom(32))


def _readers(staff: Staff) -> bytes:
    """The readers a customer registered by `agent` has: the agent and the manager."""
    return readers_hash([staff.agent.address, staff.manager.address])


def _register(crm: Crm, staff: Staff) -> int:
    return crm.registry.register_customer(
        os.urandom(32), os.urandom(32), _readers(staff), None, Purpose.SALES, staff.agent
    )


def test_a_revert_is_raised_as_its_named_error_with_arguments(crm: Crm, staff: Staff, snapshot: None) -> None:
    with pytest.raises(revert_type("CustomerUnknown")) as raised:
        crm.registry.log_interaction(_entry(999), staff.agent)

    assert raised.value.name == "CustomerUnknown"
    assert raised.value.args_by_name == {"customerId": 999}
    assert str(raised.value) == "CustomerUnknown(customerId=999)"


def test_a_revert_sends_nothing_and_keeps_the_nonce(crm: Crm, staff: Staff, snapshot: None) -> None:
    before = crm.chain.w3.eth.get_transaction_count(staff.agent.address)

    with pytest.raises(ContractRevert):
        crm.registry.log_interaction(_entry(999), staff.agent)
    customer_id = _register(crm, staff)

    assert customer_id == crm.registry.customer_count()
    assert crm.chain.w3.eth.get_transaction_count(staff.agent.address) == before + 1


def test_an_access_control_refusal_names_the_account_and_role(crm: Crm, staff: Staff, snapshot: None) -> None:
    from chaincrm.models import Role

    with pytest.raises(revert_type("AccessControlUnauthorizedAccount")) as raised:
        crm.registry.register_customer(
            os.urandom(32), os.urandom(32), _readers(staff), None, Purpose.SALES, staff.stranger
        )

    assert raised.value.args_by_name == {"account": staff.stranger.address, "neededRole": Role.AGENT.role_id}


def test_pipelined_transactions_from_one_signer_are_all_mined_in_order(crm: Crm, staff: Staff, snapshot: None) -> None:
    customer_id = _register(crm, staff)
    entries = [_entry(customer_id) for _ in range(250)]

    receipts = crm.registry.log_interactions_pipelined(entries, staff.agent)

    assert [r.status for r in receipts] == [1] * 250
    logged = crm.registry.interactions(customer_id)
    assert [i.content_hash for i in logged] == [e.content_hash for e in entries]


def test_a_pipelined_transaction_that_fails_on_chain_is_decoded_and_the_others_are_reported_landed(
    crm: Crm, staff: Staff, snapshot: None
) -> None:
    first = _register(crm, staff)
    calls = [
        (crm.registry.contract.functions.logInteraction(first, 1, 1, os.urandom(32)), 0),
        (crm.registry.contract.functions.logInteraction(first + 50, 1, 1, os.urandom(32)), 0),
    ]
    with pytest.raises(PartiallyLanded) as raised:
        crm.chain.send_many(calls, staff.agent, gas=100_000)

    assert raised.value.landed_at == [0]
    assert [tx.status for tx in raised.value.landed] == [1]
    failure = raised.value.not_landed[1]
    assert isinstance(failure, revert_type("CustomerUnknown"))
    assert failure.args_by_name == {"customerId": first + 50}


def test_an_unreachable_node_is_one_chain_error() -> None:
    chain = connect("http://127.0.0.1:9")

    with pytest.raises(ChainError) as raised:
        _ = chain.chain_id

    assert "not reachable" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_confirmations_wait_for_later_blocks(crm: Crm, staff: Staff, snapshot: None) -> None:
    waiting = Chain(crm.chain.w3, crm.chain.decoder, confirmations=3, timeout=1.0)
    tx_hash = waiting.send(crm.registry.contract.functions.customerCount(), staff.agent, gas=30_000)  # type: ignore[arg-type]
    crm.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    crm.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    receipt = waiting.wait(tx_hash)

    assert crm.chain.w3.eth.block_number >= receipt["blockNumber"] + 2


class _BrokenReceipts(HTTPProvider):
    """A node whose receipt queries fail with a bug (not with "not found")."""

    def make_request(self, method: Any, params: Any) -> Any:
        if method == "eth_getTransactionReceipt":
            raise RuntimeError("a bug in the transport")
        return super().make_request(method, params)


def test_a_failure_while_waiting_for_a_receipt_surfaces_at_once(
    anvil_node: AnvilNode, crm: Crm, staff: Staff, snapshot: None
) -> None:
    broken = Chain(Web3(_BrokenReceipts(anvil_node.url)), crm.chain.decoder, timeout=30.0)
    tx_hash = crm.chain.send(crm.registry.contract.functions.customerCount(), staff.agent, gas=30_000)  # type: ignore[arg-type]

    with pytest.raises(RuntimeError, match="a bug in the transport"):
        broken.wait(tx_hash)


def test_a_transaction_that_is_never_mined_is_a_transaction_error(crm: Crm) -> None:
    waiting = Chain(crm.chain.w3, crm.chain.decoder, timeout=0.2)
    unknown = "0x" + "ab" * 32

    with pytest.raises(TransactionError) as raised:
        waiting.wait(unknown)

    assert str(raised.value) == f"transaction {unknown} was not mined in 0 s"
