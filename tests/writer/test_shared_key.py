"""Two processes writing with one key through one journal: no nonce errors, each record once."""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from pathlib import Path

from eth_account import Account

from chaincrm.contracts.client import Crm, connect
from chaincrm.contracts.interactions import InteractionEntry
from chaincrm.models import Deployment, InteractionKind, Outcome
from tests.sdk.conftest import Staff
from tests.writer.conftest import interactions_logged

WRITES_PER_PROCESS = 100
PIPELINED = 10  # records per pipelined call; the rest are logged one by one


def _write(
    url: str, state_dir: str, deployment: Deployment, key: bytes, customer_id: int
) -> tuple[list[bytes], list[str]]:
    """One writer process: half its records pipelined, half one by one; (content hashes, errors)."""
    chain = connect(url)
    chain.keep_journal(Path(state_dir))
    crm = Crm.attach(chain, deployment, check=False)
    agent = Account.from_key(key)
    logged: list[bytes] = []
    errors: list[str] = []
    for round_ in range(WRITES_PER_PROCESS // (2 * PIPELINED)):
        batch = [
            InteractionEntry(customer_id, InteractionKind.CALL, Outcome.POSITIVE, os.urandom(32))
            for _ in range(PIPELINED)
        ]
        try:
            crm.registry.log_interactions_pipelined(batch, agent)
            logged += [e.content_hash for e in batch]
        except Exception as exc:  # counted: the test expects none
            errors.append(f"{type(exc).__name__}: {exc}")
        for _ in range(PIPELINED):
            single = InteractionEntry(customer_id, InteractionKind.EMAIL, Outcome.NEUTRAL, os.urandom(32))
            try:
                crm.registry.log_interaction(single, agent, check_chain=round_ % 2 == 0)
                logged.append(single.content_hash)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
    return logged, errors


def test_two_processes_sharing_a_key_write_every_record_once_without_nonce_errors(
    crm: Crm, staff: Staff, customer: int
) -> None:
    assert crm.chain.journal.path is not None
    state_dir = str(crm.chain.journal.path.parent)
    key = bytes(staff.agent.key)
    before = crm.chain.w3.eth.get_transaction_count(staff.agent.address)
    spawn = multiprocessing.get_context("spawn")
    args = (crm.chain.endpoint, state_dir, crm.deployment, key, customer)

    with spawn.Pool(2) as pool:
        results = pool.starmap(_write, [args, args])

    assert [errors for _, errors in results] == [[], []]
    written = [content for logged, _ in results for content in logged]
    assert len(written) == 2 * WRITES_PER_PROCESS
    on_chain = Counter(interactions_logged(crm, customer))
    assert on_chain == Counter(written)
    assert set(on_chain.values()) == {1}
    assert crm.chain.w3.eth.get_transaction_count(staff.agent.address) == before + 2 * WRITES_PER_PROCESS
