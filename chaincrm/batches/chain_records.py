"""The interaction records anchored batches establish, read from the chain and IPFS alone (no index).

:func:`chain_batches` reads every ``InteractionBatchAnchored`` log of the registry since the
deployment, fetches each batch document from a :class:`~chaincrm.storage.DocumentStore` and keeps
exactly the records the event index keeps (``chaincrm.index.batches``):

- the document must be the anchored batch: the index's own :func:`~chaincrm.index.batches.check_document`;
  a store's "larger than the limit" is a mismatch too; a mismatched batch keeps no record;
- a record must be one ``logInteraction`` accepts (kind 1..7, outcome 0..5, a content hash);
- its author must hold an active access grant on the customer just before the anchor's log: the
  registry's ``AccessGranted`` / ``AccessRevoked`` logs (erasure and a consent withdrawal emit
  ``AccessRevoked`` too), exactly the events the index's ``access_events`` holds;
- a recordId counts once, in the first anchor in chain order (block, log index, position).

An anchor whose document the store cannot give is listed in :attr:`ChainBatches.unavailable`;
:meth:`ChainBatches.complete` turns that into one :class:`~chaincrm.errors.StorageError` line, so a
reader that must not count fewer says so. The records come back as
:class:`~chaincrm.models.Interaction` (``at`` is the anchor's time, ``position`` the record's
place in the document's values), as the index's ``interactions`` rows read back.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_utils import to_checksum_address

from chaincrm.errors import StorageError
from chaincrm.index.batches import (
    FETCH_TIMEOUT_SECONDS,
    FETCH_WORKERS,
    MAX_BATCH_DOCUMENT_BYTES,
    MAX_KIND,
    MAX_OUTCOME,
    MISMATCH,
    OK,
    TOO_LARGE,
    UNAVAILABLE,
    Found,
    Record,
    check_document,
)
from chaincrm.index.batches import Anchor as IndexedAnchor
from chaincrm.models import Interaction, InteractionKind, Outcome
from chaincrm.storage.cids import digest_to_cid

if TYPE_CHECKING:
    from chaincrm.contracts.anchors import Anchor
    from chaincrm.contracts.client import Crm
    from chaincrm.storage import DocumentStore, KuboStore

NO_STORE = "no IPFS store was given to read batch documents"

_Point = tuple[int, int]  # (block number, log index)


@dataclass(frozen=True)
class BatchedRecord:
    """One counted record of an anchored batch, as an interaction, with its identity."""

    interaction: Interaction
    record_id: bytes
    root: bytes


@dataclass(frozen=True)
class UncountedBatch:
    """An anchor whose records are not counted: its document is unavailable or does not match."""

    root: bytes
    author: str
    cid: str
    block_number: int
    log_index: int
    reason: str


@dataclass(frozen=True)
class ChainBatches:
    """What the chain and IPFS establish about anchored batches up to `to_block`."""

    records: tuple[BatchedRecord, ...]  # counted, in chain order, within the range asked for
    anchors: int  # anchors read (from the deployment block: earlier ones decide duplicates)
    mismatched: tuple[UncountedBatch, ...]
    unavailable: tuple[UncountedBatch, ...]
    to_block: int

    def interactions(self) -> list[Interaction]:
        return [record.interaction for record in self.records]

    def complete(self) -> ChainBatches:
        """Itself when every anchored document was read; else StorageError, one line."""
        if not self.unavailable:
            return self
        first = self.unavailable[0]
        more = f" (and {len(self.unavailable) - 1} more)" if len(self.unavailable) > 1 else ""
        raise StorageError(
            f"{len(self.unavailable)} of {self.anchors} anchored interaction batch(es) up to block {self.to_block} "
            f"cannot be counted from the chain: the document {first.cid} of root 0x{first.root.hex()} "
            f"(block {first.block_number}) is unavailable{more}: {first.reason}"
        )


def batch_document_store(ipfs_api: str) -> KuboStore:
    """A store over `ipfs_api` with the indexer's limits (time per document, largest document),
    so the chain side reads the same documents the index does."""
    from chaincrm.storage import KuboStore

    return KuboStore(ipfs_api, timeout_seconds=FETCH_TIMEOUT_SECONDS, max_document_bytes=MAX_BATCH_DOCUMENT_BYTES)


def chain_batches(
    crm: Crm,
    store: DocumentStore | None,
    *,
    from_block: int | None = None,
    to_block: int | str = "latest",
    customer_id: int | None = None,
) -> ChainBatches:
    """The batched records anchored from `from_block` (default: the deployment block) to
    `to_block`, of one customer or all, counted by the index's rules (see the module).

    Anchors and access events are read from the deployment block whatever `from_block` is: an
    earlier anchor may already count a record, an earlier grant decide one."""
    start = crm.deployment.block_number
    end = crm.chain.block_number(to_block)
    first = start if from_block is None else max(from_block, start)
    anchors = sorted(crm.registry.anchors(from_block=start, to_block=end), key=lambda a: (a.block_number, a.log_index))
    if not anchors:
        return ChainBatches((), 0, (), (), end)
    indexed = [_indexed(anchor) for anchor in anchors]
    found = _find_all(crm, store, indexed)
    grants = _Grants(crm, {a.author for a, f in zip(indexed, found, strict=True) if f.status == OK}, start, end)
    records: list[BatchedRecord] = []
    mismatched: list[UncountedBatch] = []
    unavailable: list[UncountedBatch] = []
    counted: set[bytes] = set()
    for anchor, indexed_anchor, result in zip(anchors, indexed, found, strict=True):
        if result.status != OK:
            uncounted = UncountedBatch(
                anchor.root,
                anchor.author,
                digest_to_cid(anchor.cid_digest),
                anchor.block_number,
                anchor.log_index,
                result.reason or result.status,
            )
            (unavailable if result.status == UNAVAILABLE else mismatched).append(uncounted)
            continue
        granted = grants.active(indexed_anchor, {r.customer_id for r in result.records if _valid(r)})
        shown = anchor.block_number >= first
        for position, record in enumerate(result.records):
            if not _valid(record) or record.customer_id not in granted or record.record_id in counted:
                continue
            counted.add(record.record_id)
            if shown and (customer_id is None or record.customer_id == customer_id):
                records.append(BatchedRecord(_interaction(anchor, position, record), record.record_id, anchor.root))
    return ChainBatches(tuple(records), len(anchors), tuple(mismatched), tuple(unavailable), end)


def chain_interactions(
    crm: Crm,
    store: DocumentStore | None,
    customer_id: int | None = None,
    *,
    from_block: int | None = None,
    to_block: int | str = "latest",
) -> list[Interaction]:
    """Every interaction the chain records, single, packed and anchored in batches, in chain order
    (what the index's ``interactions`` holds); StorageError when an anchored document is unavailable."""
    found, batched = interactions_and_batches(crm, store, customer_id, from_block=from_block, to_block=to_block)
    batched.complete()
    return found


def interactions_and_batches(
    crm: Crm,
    store: DocumentStore | None,
    customer_id: int | None = None,
    *,
    from_block: int | None = None,
    to_block: int | str = "latest",
) -> tuple[list[Interaction], ChainBatches]:
    """As :func:`chain_interactions`, but an unavailable batch document is not an error: the
    interactions that could be counted, and the batches (whose ``unavailable`` says what could not)."""
    start = crm.deployment.block_number if from_block is None else from_block
    end = crm.chain.block_number(to_block)
    logged = crm.registry.interactions(customer_id, from_block=start, to_block=end)
    batched = chain_batches(crm, store, from_block=start, to_block=end, customer_id=customer_id)
    if not batched.records:
        return logged, batched
    found = [*logged, *batched.interactions()]
    found.sort(key=lambda i: (i.block_number, i.log_index, i.position))
    return found, batched


def _indexed(anchor: Anchor) -> IndexedAnchor:
    """The anchor as the index holds it (what ``check_document`` and the grant rule take)."""
    return IndexedAnchor(
        id=0,
        block_number=anchor.block_number,
        log_index=anchor.log_index,
        tx_hash=anchor.tx_hash,
        root="0x" + anchor.root.hex(),
        author=to_checksum_address(anchor.author),
        cid_digest="0x" + anchor.cid_digest.hex(),
        record_count=anchor.count,
        at=anchor.at,
    )


def _find_all(crm: Crm, store: DocumentStore | None, anchors: Sequence[IndexedAnchor]) -> list[Found]:
    if store is None:
        return [Found(UNAVAILABLE, NO_STORE) for _ in anchors]
    chain_id, registry = crm.deployment.chain_id, crm.deployment.registry

    def find(anchor: IndexedAnchor) -> Found:
        """As the indexer's ``BatchChecker.find``: never raises for what the store or document holds."""
        cid = digest_to_cid(bytes.fromhex(anchor.cid_digest[2:]))
        try:
            data = store.get(cid)
        except StorageError as exc:
            message = _one_line(str(exc))
            if TOO_LARGE in message:
                return Found(MISMATCH, f"the batch document {cid} is larger than the store's limit")
            return Found(UNAVAILABLE, message)
        return check_document(data, anchor, chain_id=chain_id, registry=registry)

    if len(anchors) == 1:
        return [find(anchors[0])]
    with ThreadPoolExecutor(min(FETCH_WORKERS, len(anchors)), thread_name_prefix="chaincrm-chain-batches") as pool:
        return list(pool.map(find, anchors))


def _valid(record: Record) -> bool:
    """What logInteraction would accept (the index's rule): a known kind and outcome, a content hash."""
    return 1 <= record.kind <= MAX_KIND and record.outcome <= MAX_OUTCOME and any(record.content_hash)


def _interaction(anchor: Anchor, position: int, record: Record) -> Interaction:
    return Interaction(
        customer_id=record.customer_id,
        author=to_checksum_address(anchor.author),
        kind=InteractionKind(record.kind),
        outcome=Outcome(record.outcome),
        content_hash=bytes(record.content_hash),
        at=anchor.at,
        block_number=anchor.block_number,
        tx_hash=anchor.tx_hash,
        log_index=anchor.log_index,
        position=position,
    )


class _Grants:
    """The anchors' authors' access events from the registry's logs: AccessGranted and
    AccessRevoked, the events the index's ``access_events`` holds (the index's ``_Grants``, read
    from the chain instead of the index)."""

    def __init__(self, crm: Crm, authors: Iterable[str], from_block: int, to_block: int) -> None:
        self._events: dict[tuple[str, int], tuple[list[_Point], list[bool]]] = {}
        wanted = sorted({to_checksum_address(author) for author in authors})
        if not wanted:
            return
        events, logs = crm.registry.contract.events, crm.chain.logs
        found = [
            (int(log["blockNumber"]), int(log["logIndex"]), granted, log["args"])
            for event, granted in ((events.AccessGranted, True), (events.AccessRevoked, False))
            for log in logs.events(event, from_block=from_block, to_block=to_block, argument_filters={"staff": wanted})
        ]
        found.sort(key=lambda item: (item[0], item[1]))
        for block, log_index, granted, args in found:
            key = (to_checksum_address(args["staff"]), int(args["customerId"]))
            points, flags = self._events.setdefault(key, ([], []))
            points.append((block, log_index))
            flags.append(granted)

    def active(self, anchor: IndexedAnchor, customer_ids: Iterable[int]) -> set[int]:
        """The customers on which the anchor's author held an active grant just before its log."""
        active = set()
        for customer_id in customer_ids:
            found = self._events.get((anchor.author, customer_id))
            if found is None:
                continue
            points, granted = found
            before = bisect.bisect_left(points, (anchor.block_number, anchor.log_index))
            if before and granted[before - 1]:
                active.add(customer_id)
        return active


def _one_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no message"


__all__ = [
    "NO_STORE",
    "BatchedRecord",
    "ChainBatches",
    "UncountedBatch",
    "batch_document_store",
    "chain_batches",
    "chain_interactions",
    "interactions_and_batches",
]
