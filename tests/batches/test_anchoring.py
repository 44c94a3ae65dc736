"""Anchoring batches on a real Anvil with their documents on a real IPFS node: each record is
anchored exactly once, also when the batcher is killed with SIGKILL at any step and resumed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from chaincrm.batches import (
    ANCHORED,
    BATCHED,
    Batch,
    Batcher,
    InteractionQueue,
    QueueScope,
    RecordEntry,
    parse_document,
)
from chaincrm.batches.anchoring import anchor_record_key
from chaincrm.chain import Chain
from chaincrm.chain.journal import FILLER, TxState
from chaincrm.contracts.client import Crm
from chaincrm.contracts.deployment import save_record
from chaincrm.errors import ConfigError, ContractRevert
from chaincrm.storage import KuboStore, digest_to_cid
from chaincrm.storage.node import NodeHandle
from tests.sdk.conftest import Staff

pytestmark = pytest.mark.usefixtures("snapshot")
ROOT = Path(__file__).resolve().parents[2]
KILL_WAIT_SECONDS = 120
RESENT_WITHIN_SECONDS = 5.0


def rpc(chain: Chain, method: str, *params: object) -> object:
    answer = chain.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


def fillers(chain: Chain, sender: str) -> int:
    """How many no-op self-transfers the journal sent to fill nonce gaps of `sender`."""
    (count,) = chain.journal.db.execute(
        "SELECT COUNT(*) FROM txs WHERE chain_id = ? AND sender = ? AND kind = ?", (chain.chain_id, sender, FILLER)
    ).fetchone()
    return int(count)


def enqueue(queue: InteractionQueue, count: int) -> list[bytes]:
    return queue.enqueue_many(RecordEntry(1 + i % 5, 1 + i % 7, i % 6, os.urandom(32)) for i in range(count))


def anchored_record_ids(crm: Crm, store: KuboStore, author: str, since: int) -> tuple[Counter[bytes], Counter[bytes]]:
    """Every record id in the batches `author` anchored since block `since` (read back from IPFS),
    and how often each root was anchored."""
    records: Counter[bytes] = Counter()
    roots: Counter[bytes] = Counter()
    for anchor in crm.registry.anchors(author=author, from_block=since):
        roots[anchor.root] += 1
        document = parse_document(store.get(digest_to_cid(anchor.cid_digest)))
        document.check(root=anchor.root, count=anchor.count, author=author)
        records.update(value.record_id for value in document.tree.values)
    return records, roots


def test_a_flush_anchors_every_pending_record_once_in_batches_of_every(
    queue: InteractionQueue, batcher: Batcher, crm: Crm, document_store: KuboStore, staff: Staff
) -> None:
    since = crm.chain.block_number()
    ids = enqueue(queue, 25)

    landed = batcher.flush()

    assert [batch.count for batch in landed] == [10, 10, 5]
    records, roots = anchored_record_ids(crm, document_store, staff.agent.address, since)
    assert records == Counter(ids) and set(roots.values()) == {1}
    assert {queue.record(i).state for i in ids} == {ANCHORED}
    first = queue.record(ids[0])
    assert (first.root, first.tx_hash, first.block_number) == (
        landed[0].root,
        landed[0].tx_hash,
        landed[0].block_number,
    )


def test_the_anchor_records_root_document_digest_and_count(
    queue: InteractionQueue, batcher: Batcher, crm: Crm, staff: Staff
) -> None:
    enqueue(queue, 3)

    (landed,) = batcher.flush()

    anchor = crm.registry.find_anchor(landed.root, staff.agent.address)
    assert anchor is not None
    assert (anchor.count, digest_to_cid(anchor.cid_digest), anchor.tx_hash) == (3, landed.cid, landed.tx_hash)


def test_a_step_waits_for_every_records_or_within_seconds(
    queue: InteractionQueue, crm: Crm, document_store: KuboStore, staff: Staff
) -> None:
    batcher = Batcher(queue, crm.registry, document_store, staff.agent, every=5, within=3600)
    enqueue(queue, 4)

    assert batcher.step() == [] and queue.pending_count() == 4

    enqueue(queue, 1)
    assert [batch.count for batch in batcher.step()] == [5]


def test_a_record_older_than_within_is_anchored_alone(
    queue: InteractionQueue, crm: Crm, document_store: KuboStore, staff: Staff
) -> None:
    batcher = Batcher(queue, crm.registry, document_store, staff.agent, every=100, within=0.2)
    enqueue(queue, 1)
    time.sleep(0.3)

    assert [batch.count for batch in batcher.step()] == [1]


def test_an_anchor_by_a_non_agent_is_refused_by_name_and_loses_nothing(
    tmp_path: Path, crm: Crm, document_store: KuboStore, staff: Staff
) -> None:
    scope = QueueScope(crm.chain.chain_id, crm.registry.address, staff.stranger.address)
    with InteractionQueue(tmp_path / "queue.sqlite", scope) as queue:
        ids = enqueue(queue, 3)
        batcher = Batcher(queue, crm.registry, document_store, staff.stranger)

        with pytest.raises(ContractRevert) as refused:
            batcher.flush()

        assert refused.value.name == "AccessControlUnauthorizedAccount"
        assert {queue.record(i).state for i in ids} == {BATCHED}
        assert crm.registry.anchors(author=staff.stranger.address) == []


def test_a_batcher_for_another_author_is_refused(
    queue: InteractionQueue, crm: Crm, document_store: KuboStore, staff: Staff
) -> None:
    with pytest.raises(ConfigError, match="cannot anchor it"):
        Batcher(queue, crm.registry, document_store, staff.agent2)


def test_a_resume_takes_an_anchor_already_on_chain_instead_of_sending_again(
    queue: InteractionQueue, batcher: Batcher, crm: Crm, document_store: KuboStore, staff: Staff
) -> None:
    from chaincrm.storage import cid_to_digest

    since = crm.chain.block_number()
    ids = enqueue(queue, 4)
    batch = queue.form_batch(10)
    assert batch is not None
    cid = document_store.put(queue.document(batch).to_bytes())
    queue.mark_stored(batch.id, cid)
    receipt = crm.registry.anchor_interactions(batch.root, cid_to_digest(cid), batch.count, staff.agent)

    (landed,) = batcher.flush()

    assert landed.tx_hash == receipt["transactionHash"].to_0x_hex()
    records, roots = anchored_record_ids(crm, document_store, staff.agent.address, since)
    assert records == Counter(ids) and list(roots.values()) == [1]


@pytest.mark.parametrize("step", ["formed", "stored", "signed", "broadcast", "anchored"])
def test_a_batcher_killed_at_any_step_resumes_and_anchors_each_record_exactly_once(
    step: str,
    tmp_path: Path,
    queue: InteractionQueue,
    crm: Crm,
    document_store: KuboStore,
    ipfs_node: NodeHandle,
    staff: Staff,
) -> None:
    since = crm.chain.block_number()
    ids = enqueue(queue, 23)
    record = tmp_path / "deployment.json"
    save_record(crm.deployment, record)
    config = tmp_path / "crash.json"
    config.write_text(
        json.dumps(
            {
                "rpc_url": crm.chain.endpoint,
                "ipfs_api": ipfs_node.api_addr,
                "deployment": str(record),
                "queue": str(queue.path),
                "key": bytes(staff.agent.key).hex(),
                "every": 10,
                "crash_at_step": step,
                "crash_at": 2,  # the second batch: the first one landed before the kill
            }
        )
    )

    killed = subprocess.run(
        [sys.executable, "-m", "tests.batches.crash_batcher", str(config)],
        cwd=ROOT,
        capture_output=True,
        timeout=KILL_WAIT_SECONDS,
    )
    crm.chain.nonces.reset_all()  # the killed process sent from the agent's key
    resumed = Batcher(
        queue, crm.registry, document_store, staff.agent, every=10, from_block=crm.deployment.block_number
    )
    resumed.flush()

    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    records, roots = anchored_record_ids(crm, document_store, staff.agent.address, since)
    assert records == Counter(ids)
    assert set(roots.values()) == {1} and len(roots) == 3
    assert {queue.record(i).state for i in ids} == {ANCHORED}
    assert queue.open_batches() == []


def test_a_recheck_anchors_again_a_batch_whose_anchor_the_chain_lost(
    queue: InteractionQueue, batcher: Batcher, crm: Crm, document_store: KuboStore, staff: Staff
) -> None:
    since = crm.chain.block_number()
    ids = enqueue(queue, 4)
    provider = crm.chain.w3.provider
    before = provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    (first,) = batcher.flush()
    provider.make_request("evm_revert", [before])  # type: ignore[arg-type]  # the chain rewinds
    crm.chain.nonces.reset_all()

    (again,) = batcher.recheck()

    assert again.root == first.root
    records, roots = anchored_record_ids(crm, document_store, staff.agent.address, since)
    assert records == Counter(ids) and list(roots.values()) == [1]
    assert batcher.recheck() == []


def test_run_keeps_anchoring_until_stopped(
    queue: InteractionQueue, crm: Crm, document_store: KuboStore, staff: Staff
) -> None:
    batcher = Batcher(queue, crm.registry, document_store, staff.agent, every=5, within=0.2)
    stop = threading.Event()
    landed: list[int] = []
    runner = threading.Thread(
        target=lambda: batcher.run(stop, poll_seconds=0.02, on_landed=lambda b: landed.append(b.count))
    )
    runner.start()

    ids = enqueue(queue, 12)
    deadline = time.monotonic() + 60
    while sum(landed) < 12 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    runner.join(30)

    assert not runner.is_alive() and sum(landed) == 12
    assert {queue.record(i).state for i in ids} == {ANCHORED}


def test_a_dropped_anchor_is_sent_again_within_seconds(
    queue: InteractionQueue, crm: Crm, document_store: KuboStore, staff: Staff
) -> None:
    since = crm.chain.block_number()
    ids = enqueue(queue, 5)
    dropped: list[float] = []

    def drop(step: str, batch: Batch) -> None:
        if step == "broadcast" and not dropped:  # in the mempool, not mined: the node forgets it
            rpc(crm.chain, "anvil_dropTransaction", batch.tx_hash)
            assert rpc(crm.chain, "eth_getTransactionByHash", batch.tx_hash) is None
            rpc(crm.chain, "evm_setAutomine", True)
            dropped.append(time.monotonic())

    batcher = Batcher(queue, crm.registry, document_store, staff.agent, every=10, on_step=drop)
    rpc(crm.chain, "evm_setAutomine", False)
    try:
        (landed,) = batcher.flush()
        took = time.monotonic() - dropped[0]
    finally:
        rpc(crm.chain, "evm_setAutomine", True)

    assert took < RESENT_WITHIN_SECONDS
    records, roots = anchored_record_ids(crm, document_store, staff.agent.address, since)
    assert records == Counter(ids) and roots == Counter({landed.root: 1})
    assert {queue.record(i).state for i in ids} == {ANCHORED}


def test_anchors_are_journaled_under_their_root_and_leave_no_nonce_to_fill(
    queue: InteractionQueue, batcher: Batcher, crm: Crm, staff: Staff
) -> None:
    before = fillers(crm.chain, staff.agent.address)
    enqueue(queue, 25)

    landed = batcher.flush()

    rows = crm.chain.tracking.landed([anchor_record_key(batch.root) for batch in landed])
    assert [rows[anchor_record_key(b.root)].state for b in landed] == [TxState.MINED] * 3
    assert [rows[anchor_record_key(b.root)].mined_hash for b in landed] == [b.tx_hash for b in landed]
    assert crm.chain.journal.live(crm.chain.chain_id, staff.agent.address) == []  # nothing reserved and left
    crm.chain.tracking.recover(staff.agent.address)
    assert fillers(crm.chain, staff.agent.address) == before


def test_a_step_anchors_again_a_batch_whose_anchor_the_chain_lost_without_being_asked(
    queue: InteractionQueue, crm: Crm, document_store: KuboStore, staff: Staff
) -> None:
    since = crm.chain.block_number()
    batcher = Batcher(queue, crm.registry, document_store, staff.agent, every=5, within=3600, recheck_seconds=0)
    ids = enqueue(queue, 5)
    before = rpc(crm.chain, "evm_snapshot")
    (first,) = batcher.step()
    rpc(crm.chain, "evm_revert", before)  # the chain rewinds below the anchor
    crm.chain.nonces.reset_all()

    (again,) = batcher.step()

    assert again.root == first.root
    records, roots = anchored_record_ids(crm, document_store, staff.agent.address, since)
    assert records == Counter(ids) and list(roots.values()) == [1]
    assert batcher.step() == []
