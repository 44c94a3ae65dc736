"""A chain that rewinds under the writer: Anvil killed and restarted from an older ``--state``."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from chaincrm.chain import TxState
from chaincrm.contracts.client import connect
from chaincrm.services.anvil import AnvilOptions, free_port, start_anvil, stop_process
from tests.sdk.conftest import Staff
from tests.writer.conftest import deployed, entry, interactions_logged, register


def _kill(process: subprocess.Popen[bytes]) -> None:
    """kill -9: Anvil saves nothing."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def test_a_chain_restarted_from_older_state_gets_the_journaled_transactions_again_each_once(
    tmp_path: Path, staff: Staff
) -> None:
    options = AnvilOptions(port=free_port(), state_file=tmp_path / "anvil-state.json", log_file=tmp_path / "anvil.log")
    node, process = start_anvil(options)
    try:
        chain = connect(node.url)
        chain.keep_journal(tmp_path / "home" / "state")
        crm = deployed(chain, staff)
        customer_id = register(crm, staff)
        stop_process(process.pid)  # a clean stop: Anvil saves its state here
        node, process = start_anvil(options)
        entries = [entry(customer_id) for _ in range(6)]
        crm.registry.log_interactions_pipelined(entries[:4], staff.agent)
        for e in entries[4:]:
            crm.registry.log_interaction(e, staff.agent)
        assert interactions_logged(crm, customer_id) == [e.content_hash for e in entries]

        _kill(process)
        node, process = start_anvil(options)  # back to the saved state: the six are gone
        assert interactions_logged(crm, customer_id) == []
        outcomes = crm.chain.tracking.recover()

        assert len(outcomes) == 6
        assert all(getattr(outcome, "status", 0) == 1 for outcome in outcomes.values())
        assert interactions_logged(crm, customer_id) == [e.content_hash for e in entries]
        nonce = crm.chain.w3.eth.get_transaction_count(staff.agent.address)
        crm.registry.log_interactions_pipelined(entries, staff.agent)  # a retry: all six recognised
        assert crm.chain.w3.eth.get_transaction_count(staff.agent.address) == nonce
        assert crm.chain.journal.counts(crm.chain.chain_id).get(TxState.PENDING.value, 0) == 0
    finally:
        stop_process(process.pid)


def test_a_write_after_a_rewind_sends_the_lost_transactions_first(tmp_path: Path, staff: Staff) -> None:
    options = AnvilOptions(port=free_port(), state_file=tmp_path / "anvil-state.json", log_file=tmp_path / "anvil.log")
    node, process = start_anvil(options)
    try:
        chain = connect(node.url)
        chain.keep_journal(tmp_path / "home" / "state")
        crm = deployed(chain, staff)
        customer_id = register(crm, staff)
        stop_process(process.pid)
        node, process = start_anvil(options)
        lost = [entry(customer_id) for _ in range(3)]
        for e in lost:
            crm.registry.log_interaction(e, staff.agent)
        _kill(process)
        node, process = start_anvil(options)
        crm.chain.tracking.probe_seconds = 0.2

        later = entry(customer_id)
        crm.registry.log_interaction(later, staff.agent)  # waits behind the lost three, re-sent in order

        assert interactions_logged(crm, customer_id) == [e.content_hash for e in [*lost, later]]
    finally:
        stop_process(process.pid)


def test_a_new_chain_under_the_same_id_is_not_sent_the_old_chains_transactions(tmp_path: Path, staff: Staff) -> None:
    options = AnvilOptions(port=free_port(), log_file=tmp_path / "anvil.log")  # no saved state
    node, process = start_anvil(options)
    try:
        chain = connect(node.url)
        chain.keep_journal(tmp_path / "home" / "state")
        crm = deployed(chain, staff)
        crm.registry.log_interaction(entry(register(crm, staff)), staff.agent)
        _kill(process)
        time.sleep(1.1)  # a genesis block made in another second: another hash
        node, process = start_anvil(options)  # a fresh chain: a new genesis block

        crm = deployed(chain, staff)  # the journal forgets the old chain's rows; nonces start at 0
        customer_id = register(crm, staff)
        fresh = entry(customer_id)
        crm.registry.log_interaction(fresh, staff.agent)

        assert interactions_logged(crm, customer_id) == [fresh.content_hash]
        assert crm.chain.journal.counts(crm.chain.chain_id).get(TxState.ABANDONED.value, 0) > 0
    finally:
        stop_process(process.pid)
