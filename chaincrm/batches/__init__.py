"""Interaction records anchored in batches by a Merkle root: cheap, and proven one by one.

=================  ==================================================================================
``tree``           OpenZeppelin's ``StandardMerkleTree`` (standard-v1) for the one leaf encoding
``document``       the batch document on IPFS: build, parse, check against an anchor
``queue``          the durable local queue (SQLite, WAL): records pending -> batched -> anchored
``anchoring``      the batcher: flush every N records or T seconds, resume what a dead process left
``records``        logging an interaction batched: document stored now, record queued
``verify``         proving a record's inclusion: IPFS plus one log query, and the contract
=================  ==================================================================================

The queue's API (what other processes, the fault suite and the CLI drive)::

    from chaincrm.batches import Batcher, InteractionQueue, QueueScope, RecordEntry, open_queue

    queue = open_queue(crm, settings.state_dir, agent.address)        # or InteractionQueue(path, scope)
    record_id = queue.enqueue(customer_id, kind, outcome, content_hash)   # committed on return
    ids = queue.enqueue_many([RecordEntry(customer_id, kind, outcome, content_hash), ...])
    queue.record(record_id)          # QueuedRecord: state pending | batched | anchored, root, tx, block
    queue.status()                   # QueueStatus: pending, batched, anchored, open/anchored batches

    batcher = Batcher(queue, crm.registry, store, agent, every=100, within=30.0,
                      from_block=crm.deployment.block_number)
    batcher.flush()                  # resume incomplete batches, anchor everything pending: [LandedBatch]
    batcher.step()                   # resume, then anchor while a batch is due (N records or T seconds)
    batcher.run(stop_event)          # step until stopped (a long-lived process)
    batcher.recheck()                # after a chain rewound: anchor again batches whose anchor is gone

``Batcher(..., on_step=hook)`` calls ``hook(step, batch)`` after each committed step of a batch
("formed", "stored", "signed", "broadcast", "anchored"): the fault tests kill the process there.

A record id is 32 random bytes made when the record enters the queue (or given: a retry with the
same id is not queued twice). Killing the process at any point loses nothing and anchors nothing
twice: the next flush/step/run of the same queue file resumes (see :mod:`.anchoring`).

Importing this package imports no web3 (the batcher imports it when it signs).
"""

from __future__ import annotations

from chaincrm.batches.anchoring import DEFAULT_EVERY, DEFAULT_WITHIN_SECONDS, Batcher, LandedBatch
from chaincrm.batches.document import BatchDocument, build_document, parse_document
from chaincrm.batches.queue import (
    ANCHORED,
    BATCHED,
    MAX_BATCH_RECORDS,
    PENDING,
    Batch,
    InteractionQueue,
    QueuedRecord,
    QueueScope,
    QueueStatus,
    RecordEntry,
    open_queue,
    queue_path,
)
from chaincrm.batches.tree import LEAF_ENCODING, LeafValue, MerkleTree, leaf_hash, process_proof

__all__ = [
    "ANCHORED",
    "BATCHED",
    "DEFAULT_EVERY",
    "DEFAULT_WITHIN_SECONDS",
    "LEAF_ENCODING",
    "MAX_BATCH_RECORDS",
    "PENDING",
    "Batch",
    "BatchDocument",
    "Batcher",
    "InteractionQueue",
    "LandedBatch",
    "LeafValue",
    "MerkleTree",
    "QueueScope",
    "QueueStatus",
    "QueuedRecord",
    "RecordEntry",
    "build_document",
    "leaf_hash",
    "open_queue",
    "parse_document",
    "process_proof",
    "queue_path",
]
