"""A chain that rewinds under the writer: Anvil killed and restarted from an older ``--state``."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from chaincrm.chain import TxState
from chaincrm.contracts.client import Crm, connect
from chaincrm.services.anvil import AnvilOptions, free_port, start_anvil, stop_process
from tests.sdk.conftest import Staff
from tests.writer.conftest import deployed, entry, interactions_logged, register


class RestartableAnvil:
    """An Anvil started again on the same port: stopped cleanly it saves its chain to its state file
    (if it has one), killed it saves nothing; started again it loads the last save."""

    def __init__(self, folder: Path, *, saved: bool) -> None:
        state_file = folder / "anvil-state.json" if saved else None
        self.options = AnvilOptions(port=free_port(), state_file=state_file, log_file=folder / "anvil.log")
        self.node, self.process = start_anvil(self.options)

    def save_and_restart(self) -> None:
        stop_process(self.process.pid)
        self.node, self.process = start_anvil(self.options)

    def kill_and_restart(self, pause_seconds: float = 0.0) -> None:
        """kill -9 (nothing saved), then back from the last save (or a new chain)."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        time.sleep(pause_seconds)
        self.node, self.process = start_anvil(self.options)

    def stop(self) -> None:
        stop_process(self.process.pid)


def journaled_crm(anvil: RestartableAnvil, home: Path, staff: Staff) -> Crm:
    """A deployment on `anvil`, its chain keeping a transaction journal in `home`."""
    chain = connect(anvil.node.url)
    chain.keep_journal(home / "state")
    return deployed(chain, staff)


def test_a_chain_restarted_from_older_state_gets_the_journaled_transactions_again_each_once(
    tmp_path: Path, staff: Staff
) -> None:
    anvil = RestartableAnvil(tmp_path, saved=True)
    try:
        crm = journaled_crm(anvil, tmp_path / "home", staff)
        customer_id = register(crm, staff)
        anvil.save_and_restart()  # a clean stop: Anvil saves its state here
        entries = [entry(customer_id) for _ in range(6)]
        crm.registry.log_interactions_pipelined(entries[:4], staff.agent)
        for e in entries[4:]:
            crm.registry.log_interaction(e, staff.agent)
        assert interactions_logged(crm, customer_id) == [e.content_hash for e in entries]

        anvil.kill_and_restart()  # back to the saved state: the six are gone
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
        anvil.stop()


def test_a_write_after_a_rewind_sends_the_lost_transactions_first(tmp_path: Path, staff: Staff) -> None:
    anvil = RestartableAnvil(tmp_path, saved=True)
    try:
        crm = journaled_crm(anvil, tmp_path / "home", staff)
        customer_id = register(crm, staff)
        anvil.save_and_restart()
        lost = [entry(customer_id) for _ in range(3)]
        for e in lost:
            crm.registry.log_interaction(e, staff.agent)
        anvil.kill_and_restart()
        crm.chain.tracking.probe_seconds = 0.2

        later = entry(customer_id)
        crm.registry.log_interaction(later, staff.agent)  # waits behind the lost three, re-sent in order

        assert interactions_logged(crm, customer_id) == [e.content_hash for e in [*lost, later]]
    finally:
        anvil.stop()


def test_a_new_chain_under_the_same_id_is_not_sent_the_old_chains_transactions(tmp_path: Path, staff: Staff) -> None:
    anvil = RestartableAnvil(tmp_path, saved=False)
    try:
        crm = journaled_crm(anvil, tmp_path / "home", staff)
        crm.registry.log_interaction(entry(register(crm, staff)), staff.agent)
        # A fresh chain, its genesis block made in another second: another hash.
        anvil.kill_and_restart(pause_seconds=1.1)

        crm = deployed(crm.chain, staff)  # the journal forgets the old chain's rows; nonces start at 0
        customer_id = register(crm, staff)
        fresh = entry(customer_id)
        crm.registry.log_interaction(fresh, staff.agent)

        assert interactions_logged(crm, customer_id) == [fresh.content_hash]
        assert crm.chain.journal.counts(crm.chain.chain_id).get(TxState.ABANDONED.value, 0) > 0
    finally:
        anvil.stop()
