"""Transactions tracked until final against a real Anvil: dropped ones re-sent, timeouts that are
not failures, retries that send nothing twice, explicit cancels, fee bumps, partial pipelines."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from chaincrm.chain import Chain, TxState
from chaincrm.contracts.client import Crm, connect
from chaincrm.contracts.interactions import InteractionEntry, interaction_key
from chaincrm.errors import PartiallyLanded, TransactionCancelled, TransactionPending
from tests.sdk.conftest import Staff
from tests.support import wait_for
from tests.writer.conftest import entry, interactions_logged, mining, rpc


def _impatient(crm: Crm, seconds: float) -> Crm:
    """The same deployment through another connection sharing the journal (as another process
    with the same home would), giving up after `seconds`."""
    original = crm.chain
    chain = connect(original.endpoint)
    chain.receipts.timeout = seconds
    assert original.journal.path is not None
    chain.keep_journal(original.journal.path.parent)
    chain.tracking.probe_seconds = 0.2
    return Crm.attach(chain, crm.deployment, check=False)


def _log_call(crm: Crm, e: InteractionEntry) -> object:
    return crm.registry.contract.functions.logInteraction(e.customer_id, int(e.kind), int(e.outcome), e.content_hash)


@contextmanager
def _mined_once_cancelled(crm: Crm, e: InteractionEntry) -> Iterator[None]:
    """Mine a block as soon as the node holds a cancel of the record's transaction."""
    key = interaction_key(crm.registry.address, e)

    def cancel_sent() -> bool:
        row = crm.chain.journal.by_record(crm.chain.chain_id, [key]).get(key)
        hashes = crm.chain.journal.hashes(row.id) if row is not None else {}
        return any(kind == "cancel" and rpc(crm.chain, "eth_getTransactionByHash", h) for h, kind in hashes.items())

    def mine() -> None:
        wait_for(cancel_sent, "a cancel in the pool")
        rpc(crm.chain, "evm_mine")

    thread = threading.Thread(target=mine)
    thread.start()
    try:
        yield
    finally:
        thread.join()


@contextmanager
def _mined_later(chain: Chain, seconds: float, *, blocks: int = 1) -> Iterator[None]:
    """Mine `blocks` blocks after `seconds`, while the body waits."""

    def mine() -> None:
        for _ in range(blocks):
            rpc(chain, "evm_mine")

    timer = threading.Timer(seconds, mine)
    timer.start()
    try:
        yield
    finally:
        timer.join()


def test_a_dropped_transaction_is_sent_again_and_lands_once(crm: Crm, staff: Staff, customer: int) -> None:
    e = entry(customer)
    mining(crm.chain, auto=False)
    tx_hash = crm.chain.send(_log_call(crm, e), staff.agent, record_key=interaction_key(crm.registry.address, e))  # type: ignore[arg-type]
    rpc(crm.chain, "anvil_dropTransaction", tx_hash.to_0x_hex())
    assert rpc(crm.chain, "eth_getTransactionByHash", tx_hash.to_0x_hex()) is None
    mining(crm.chain, auto=True)

    receipt = crm.chain.wait(tx_hash)

    assert receipt["status"] == 1
    assert interactions_logged(crm, customer) == [e.content_hash]


def test_a_receipt_timeout_is_not_a_failure_and_the_retry_sends_nothing_twice(
    crm: Crm, staff: Staff, customer: int
) -> None:
    e = entry(customer)
    key = interaction_key(crm.registry.address, e)
    mining(crm.chain, auto=False)
    tx_hash = crm.chain.send(_log_call(crm, e), staff.agent, record_key=key)  # type: ignore[arg-type]

    with pytest.raises(TransactionPending) as pending:
        crm.chain.tracking.wait(tx_hash, timeout=0.3, give_up="keep")
    for _ in range(3):  # the caller retries, as the SDK once made it: nothing is sent again
        with pytest.raises(TransactionPending):
            _impatient(crm, 0.3).chain.tracking.wait(tx_hash, timeout=0.3, give_up="keep")
    with _mined_later(crm.chain, 0.5):
        receipt = crm.registry.log_interaction(e, staff.agent)

    assert pending.value.tx_hash == tx_hash.to_0x_hex()
    assert receipt["transactionHash"] == tx_hash
    rpc(crm.chain, "evm_mine")
    assert interactions_logged(crm, customer) == [e.content_hash]


def test_a_record_already_on_chain_is_recognised_without_the_journal(crm: Crm, staff: Staff, customer: int) -> None:
    e = entry(customer)
    first = crm.registry.log_interaction(e, staff.agent)
    elsewhere = connect(crm.chain.endpoint)  # another process, its journal lost
    other = Crm.attach(elsewhere, crm.deployment, check=False)
    nonce_before = crm.chain.w3.eth.get_transaction_count(staff.agent.address)

    again = other.registry.log_interaction(e, staff.agent)
    pipelined = other.registry.log_interactions_pipelined([e], staff.agent)

    assert again["transactionHash"] == first["transactionHash"]
    assert [tx.tx_hash for tx in pipelined] == [first["transactionHash"].to_0x_hex()]
    assert crm.chain.w3.eth.get_transaction_count(staff.agent.address) == nonce_before
    assert interactions_logged(crm, customer) == [e.content_hash]


def test_a_caller_giving_up_gets_the_transaction_cancelled_and_it_never_lands_later(
    crm: Crm, staff: Staff, customer: int
) -> None:
    e = entry(customer)
    impatient = _impatient(crm, 0.3)
    impatient.chain.tracking.probe_seconds = 1.0  # the cancel is awaited for 3 probes
    mining(crm.chain, auto=False)

    with _mined_once_cancelled(crm, e), pytest.raises(TransactionCancelled) as cancelled:
        impatient.registry.log_interaction(e, staff.agent)
    for _ in range(2):
        rpc(crm.chain, "evm_mine")

    assert interactions_logged(crm, customer) == []
    row = crm.chain.journal.by_hash(cancelled.value.tx_hash)
    assert row is not None and row.state is TxState.CANCELLED
    mining(crm.chain, auto=True)
    crm.registry.log_interaction(e, staff.agent)  # a new attempt lands, once
    assert interactions_logged(crm, customer) == [e.content_hash]


def test_a_transaction_mined_before_the_cancel_is_reported_landed(crm: Crm, staff: Staff, customer: int) -> None:
    e = entry(customer)
    mining(crm.chain, auto=False)
    tx_hash = crm.chain.send(_log_call(crm, e), staff.agent)  # type: ignore[arg-type]
    rpc(crm.chain, "evm_mine")

    mined = crm.chain.tracking.cancel(tx_hash, timeout=2.0)

    assert mined.tx_hash == tx_hash.to_0x_hex()
    assert interactions_logged(crm, customer) == [e.content_hash]


def test_a_transaction_stuck_on_fees_is_replaced_with_higher_fees_and_lands_once(
    crm: Crm, staff: Staff, customer: int
) -> None:
    e = entry(customer)
    mining(crm.chain, auto=False)
    tx_hash = crm.chain.send(_log_call(crm, e), staff.agent)  # type: ignore[arg-type]
    sent = crm.chain.journal.by_hash(tx_hash.to_0x_hex())
    assert sent is not None
    rpc(crm.chain, "anvil_setNextBlockBaseFeePerGas", hex(sent.max_fee * 4))
    rpc(crm.chain, "evm_mine")  # the base fee is now above the transaction's cap: it cannot be mined
    assert rpc(crm.chain, "eth_getTransactionReceipt", tx_hash.to_0x_hex()) is None
    crm.chain.tracking.stall_seconds = 0.5
    crm.chain.tracking.probe_seconds = 0.3
    rpc(crm.chain, "evm_setIntervalMining", 1)
    try:
        receipt = crm.chain.wait(tx_hash)
    finally:
        rpc(crm.chain, "evm_setIntervalMining", 0)
        crm.chain.tracking.stall_seconds = 3.0
        crm.chain.tracking.probe_seconds = 1.0

    replacement = crm.chain.journal.by_hash(receipt["transactionHash"].to_0x_hex())
    assert receipt["transactionHash"] != tx_hash
    assert replacement is not None and replacement.id == sent.id
    assert replacement.max_fee * 10 >= sent.max_fee * 11 and replacement.tip * 10 >= sent.tip * 11
    assert interactions_logged(crm, customer) == [e.content_hash]


def test_a_partial_pipeline_reports_what_landed_and_a_retry_sends_only_the_rest(
    crm: Crm, staff: Staff, customer: int
) -> None:
    entries = [entry(customer) for _ in range(5)]
    entries[2] = entry(customer + 1000)  # no such customer: reverts on-chain
    progress: list[int] = []

    with pytest.raises(PartiallyLanded) as partial:
        crm.registry.log_interactions_pipelined(entries, staff.agent, on_progress=progress.append)
    nonce_before = crm.chain.w3.eth.get_transaction_count(staff.agent.address)
    with pytest.raises(PartiallyLanded) as retried:
        crm.registry.log_interactions_pipelined(entries, staff.agent)

    assert partial.value.landed_at == [0, 1, 3, 4]
    assert [tx.status for tx in partial.value.landed] == [1] * 4
    assert list(partial.value.not_landed) == [2]
    assert sum(progress) == 4
    assert [tx.tx_hash for tx in retried.value.landed] == [tx.tx_hash for tx in partial.value.landed]
    assert list(retried.value.not_landed) == [2]
    assert crm.chain.w3.eth.get_transaction_count(staff.agent.address) == nonce_before + 1  # only the failed one
    assert interactions_logged(crm, customer) == [e.content_hash for i, e in enumerate(entries) if i != 2]


def test_a_nonce_reserved_and_never_sent_is_filled_so_later_writes_land(crm: Crm, staff: Staff, customer: int) -> None:
    e, later = entry(customer), entry(customer)
    unsent = crm.chain.build(_log_call(crm, e), staff.agent)  # type: ignore[arg-type]  # signed elsewhere, never sent
    crm.chain.tracking.reserved_grace_seconds = 0.3
    crm.chain.tracking.probe_seconds = 0.3
    try:
        crm.registry.log_interaction(later, staff.agent)
    finally:
        crm.chain.tracking.reserved_grace_seconds = 30.0
        crm.chain.tracking.probe_seconds = 1.0

    assert interactions_logged(crm, customer) == [later.content_hash]
    w3 = crm.chain.w3
    recent = [
        tx
        for n in range(w3.eth.block_number - 2, w3.eth.block_number + 1)
        for tx in w3.eth.get_block(n, True)["transactions"]
    ]
    (filler,) = [tx for tx in recent if tx["nonce"] == unsent["nonce"] and tx["from"] == staff.agent.address]  # type: ignore[index]
    assert filler["to"] == staff.agent.address and filler["value"] == 0  # type: ignore[index]
