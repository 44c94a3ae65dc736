"""Proving a record's inclusion: the batch from IPFS by the anchored digest, one log query, and the
contract's own check; every way it can fail is a no with one line."""

from __future__ import annotations

import os

import pytest

from chaincrm.batches import Batcher, InteractionQueue, LeafValue, MerkleTree, RecordEntry
from chaincrm.batches.verify import check_proof, prove_record
from chaincrm.contracts.client import Crm
from chaincrm.storage import KuboStore, cid_to_digest
from tests.batches.batch_documents import document
from tests.sdk.conftest import Staff

pytestmark = pytest.mark.usefixtures("snapshot")


def anchored(queue: InteractionQueue, batcher: Batcher, count: int = 6) -> tuple[list[bytes], bytes]:
    ids = queue.enqueue_many(RecordEntry(3, 2, 1, os.urandom(32)) for _ in range(count))
    (landed,) = batcher.flush()
    return ids, landed.root


def test_a_record_in_an_anchored_batch_is_proven_and_the_contract_agrees(
    queue: InteractionQueue, batcher: Batcher, crm: Crm, document_store: KuboStore, staff: Staff
) -> None:
    ids, root = anchored(queue, batcher)

    verdict = prove_record(crm.registry, document_store, root, ids[2], from_block=crm.deployment.block_number)

    assert verdict.included and verdict.contract_agrees
    assert verdict.anchor is not None and verdict.anchor.author == staff.agent.address
    assert verdict.record is not None and verdict.record.record_id == ids[2]
    assert crm.registry.verify_interaction(root, verdict.proof, verdict.leaf or b"")
    record = queue.record(ids[2])
    assert verdict.leaf == crm.registry.interaction_leaf(ids[2], 3, 2, 1, record.content_hash)


def test_a_record_that_is_not_in_the_batch_is_a_no(
    queue: InteractionQueue, batcher: Batcher, crm: Crm, document_store: KuboStore
) -> None:
    _, root = anchored(queue, batcher)

    verdict = prove_record(crm.registry, document_store, root, os.urandom(32))

    assert not verdict.included and "is not in this batch" in verdict.reason


def test_a_root_that_was_never_anchored_is_a_no(crm: Crm, document_store: KuboStore) -> None:
    verdict = prove_record(crm.registry, document_store, os.urandom(32), os.urandom(32))

    assert not verdict.included and "is not anchored" in verdict.reason


def test_a_proof_for_another_root_is_a_no(queue: InteractionQueue, batcher: Batcher, crm: Crm) -> None:
    _, root = anchored(queue, batcher)
    other = MerkleTree.of([LeafValue(os.urandom(32), 1, 1, 0, os.urandom(32)) for _ in range(4)])

    verdict = check_proof(crm.registry, root, other.leaf(0), other.proof(0))

    assert not verdict.included
    assert verdict.reason == f"the proof leads to root 0x{other.root.hex()}, not 0x{root.hex()}"


def test_a_valid_proof_of_a_root_nobody_anchored_is_a_no(crm: Crm) -> None:
    tree = MerkleTree.of([LeafValue(os.urandom(32), 1, 1, 0, os.urandom(32)) for _ in range(4)])

    verdict = check_proof(crm.registry, tree.root, tree.leaf(1), tree.proof(1))

    assert not verdict.included and "is not anchored" in verdict.reason


def test_a_batch_on_ipfs_that_does_not_match_its_root_is_a_no(
    crm: Crm, document_store: KuboStore, staff: Staff
) -> None:
    values = [LeafValue(os.urandom(32), 1, 1, 0, os.urandom(32)) for _ in range(3)]
    stored = document(crm, staff.agent, values, seconds_apart=0)
    cid = document_store.put(stored.to_bytes())
    claimed = os.urandom(32)  # anchored with a root that is not the document's
    crm.registry.anchor_interactions(claimed, cid_to_digest(cid), 3, staff.agent)

    verdict = prove_record(crm.registry, document_store, claimed, values[0].record_id)

    assert not verdict.included
    assert verdict.reason == (
        f"batch document {cid}: the batch document's root 0x{stored.root.hex()} is not the anchored root "
        f"0x{claimed.hex()}"
    )
