"""Orphaned documents: pinned on our node, pointed at by nothing on the chain.

A write stores its document first and records its digest on-chain second, so a write that fails
in between (a reverted or abandoned transaction, a batch built but never anchored, a process
killed) leaves a pinned document that nothing on-chain points to. Erasure finds a customer's
documents from the chain alone (:func:`chaincrm.privacy.documents_of`), so it can never find
these: they must go by a sweep.

What the chain points to (:func:`referenced_documents`), read from the deployment's logs:

* every profile version (``ProfileUpdated.cidDigest``);
* every interaction document, logged singly (``InteractionLogged.contentHash``), in a packed batch
  (``InteractionsLogged.records``) or in a Merkle batch: the batch document itself
  (``InteractionBatchAnchored.cidDigest``) and each record's ``contentHash`` in its tree;
* every deal document (``DealDocumentAttached.cidDigest``) and off-chain payment receipt
  (``InvoicePaidOffChain.cidDigest``);
* every erasure receipt, recorded by its keccak-256 (``CustomerErased.receiptHash``): a pinned
  document nothing else points to is read and hashed before it counts as an orphan.

A document just stored may be about to be referenced (its transaction is pending, its record
waits in the Merkle queue), so an orphan is unpinned only once it has been seen unreferenced for
a grace period: the first sweep that finds it writes down when (in a small JSON file of marks),
a later sweep after the grace period unpins it. A grace of zero unpins at once: only when no
writer is running. The node must serve one deployment: another deployment's documents are
orphans to this one.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaincrm.errors import ConfigError, StorageError
from chaincrm.storage.cids import Cid, digest_to_cid
from chaincrm.storage.documents import DocumentStore, content_hash

if TYPE_CHECKING:
    from chaincrm.contracts.client import Crm

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "MARKS_FILE_NAME",
    "OrphanSweep",
    "batch_record_digests",
    "referenced_documents",
    "sweep_orphans",
]

DEFAULT_GRACE_SECONDS = 24 * 60 * 60
"""How long a document must stay unreferenced before a sweep unpins it."""
MARKS_FILE_NAME = "orphans.json"
"""Where, in the home's state folder, a sweep keeps when it first saw each orphan."""
MARKS_FORMAT = "chaincrm-orphan-marks/1"
_CONTENT_HASH_POSITION = 4  # in a leaf's value: (recordId, customerId, kind, outcome, contentHash)
_RECORD_BYTES = 42  # a packed record of InteractionsLogged: customer id (8), kind, outcome, content hash (32)
_RECORD_HASH_OFFSET = 10


@dataclass(frozen=True)
class OrphanSweep:
    """What one sweep found and did."""

    pinned: int
    """Documents pinned on the node when the sweep looked."""
    referenced: int
    """Documents the chain points to (pinned here or not)."""
    orphans: tuple[Cid, ...]
    """Pinned documents nothing on-chain points to, unpinned now or not."""
    unpinned: tuple[Cid, ...]
    """Orphans this sweep unpinned (their grace period was over; none in a dry run)."""
    waiting: tuple[Cid, ...]
    """Orphans kept for now: seen unreferenced for less than the grace period."""
    grace_seconds: float
    dry_run: bool


def referenced_documents(crm: Crm, store: DocumentStore) -> tuple[set[Cid], set[bytes]]:
    """The documents the deployment's logs point to, and the keccak-256 of every erasure receipt.

    A Merkle batch's records are read from its document on the store: a batch document the store
    cannot give back is a :class:`StorageError` (its records are unknown, so nothing is safe to
    unpin).
    """
    registry, pipeline, escrow = crm.registry, crm.pipeline, crm.escrow
    start = crm.deployment.block_number
    logs = crm.chain.logs
    to_block = crm.chain.block_number("latest")  # every event up to the same block

    def events(event: Any) -> list[Any]:
        return logs.events(event, from_block=start, to_block=to_block)

    digests: list[bytes] = []
    registry_events = registry.contract.events
    digests += [bytes(log["args"]["cidDigest"]) for log in events(registry_events.ProfileUpdated)]
    digests += [bytes(log["args"]["contentHash"]) for log in events(registry_events.InteractionLogged)]
    for log in events(registry_events.InteractionsLogged):
        records = bytes(log["args"]["records"])
        digests += [records[i + _RECORD_HASH_OFFSET : i + _RECORD_BYTES] for i in range(0, len(records), _RECORD_BYTES)]
    # A Merkle batch keeps its document, and the notes of the records it counts by the index's
    # rules: a record refused (its author had no grant at the anchor, e.g. queued before its
    # customer was erased; or invalid) points at nothing, so its note is an orphan like any other.
    from chaincrm.batches.chain_records import chain_batches

    batches = chain_batches(crm, store, to_block=to_block)
    if batches.unavailable:  # a mismatched batch counts nothing: only its own document is kept
        first = batches.unavailable[0]
        raise StorageError(
            f"cannot read the anchored batch {first.cid} ({first.reason}): its records are unknown, so no "
            "document is safe to unpin"
        )
    digests += [anchor.cid_digest for anchor in registry.anchors(from_block=start, to_block=to_block)]
    digests += [record.interaction.content_hash for record in batches.records]
    digests += [bytes(log["args"]["cidDigest"]) for log in events(pipeline.contract.events.DealDocumentAttached)]
    digests += [bytes(log["args"]["cidDigest"]) for log in events(escrow.contract.events.InvoicePaidOffChain)]
    receipts = {bytes(log["args"]["receiptHash"]) for log in events(registry_events.CustomerErased)}
    return {digest_to_cid(digest) for digest in digests if any(digest)}, receipts


def batch_record_digests(document: bytes, cid: str = "the batch") -> list[bytes]:
    """The content hash of every record in a Merkle batch document (format of issue 12's design)."""
    try:
        parsed = json.loads(document)
        values = parsed["tree"]["values"]
        return [bytes.fromhex(str(item["value"][_CONTENT_HASH_POSITION]).removeprefix("0x")) for item in values]
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        raise StorageError(f"{cid} is not an interaction batch document (no tree of records)") from None


def sweep_orphans(
    crm: Crm,
    store: DocumentStore,
    marks_file: Path,
    *,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    dry_run: bool = False,
    collect_garbage: bool = True,
    clock: Callable[[], float] = time.time,
) -> OrphanSweep:
    """Find the node's pinned documents the chain does not point to; unpin those seen unreferenced
    for at least `grace_seconds` (first seen: in `marks_file`, which this updates); then, if any
    went, collect garbage so their blocks go too. A dry run reports and changes nothing."""
    if grace_seconds < 0:
        raise ConfigError(f"the grace period must be 0 or more seconds, not {grace_seconds:g}")
    marks = _read_marks(marks_file)
    pinned = store.pins()  # before the chain: a document stored meanwhile is not judged this time
    referenced, receipts = referenced_documents(crm, store)
    candidates = sorted(pinned - referenced)
    orphans = tuple(cid for cid in candidates if not _is_receipt(store, cid, receipts))
    now = clock()
    first_seen = {cid: marks.get(cid, now) for cid in orphans}
    due = tuple(cid for cid in orphans if now - first_seen[cid] >= grace_seconds)
    waiting = tuple(cid for cid in orphans if cid not in due)
    if not dry_run:
        for cid in due:
            store.unpin(cid)
        if due and collect_garbage:
            store.gc()
        _write_marks(marks_file, {cid: first_seen[cid] for cid in waiting})
    return OrphanSweep(
        pinned=len(pinned),
        referenced=len(referenced),
        orphans=orphans,
        unpinned=() if dry_run else due,
        waiting=waiting,
        grace_seconds=grace_seconds,
        dry_run=dry_run,
    )


def _is_receipt(store: DocumentStore, cid: Cid, receipts: set[bytes]) -> bool:
    """Whether a pinned document is an erasure receipt the chain records by its keccak-256."""
    if not receipts:
        return False
    try:
        return content_hash(store.get(cid)) in receipts
    except StorageError:
        return True  # unreadable now: not judged this time


def _read_marks(path: Path) -> dict[Cid, float]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read the orphan marks {path} ({exc.strerror})") from None
    try:
        record = json.loads(text)
        if record.get("format") != MARKS_FORMAT:
            raise ValueError("format")
        return {Cid(str(cid)): float(seen) for cid, seen in record["firstSeen"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ConfigError(f"the orphan marks {path} are damaged: delete the file (the grace period restarts)") from None


def _write_marks(path: Path, first_seen: dict[Cid, float]) -> None:
    record = {"format": MARKS_FORMAT, "firstSeen": dict(sorted(first_seen.items()))}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(json.dumps(record, indent=1) + "\n")
        temporary.replace(path)
    except OSError as exc:
        raise ConfigError(f"cannot write the orphan marks {path} ({exc.strerror})") from None
