"""The batcher: forms batches from the queue, stores their documents on IPFS, anchors their roots.

A batch is flushed every `every` records (default 100, at most 1,000) or when its oldest record
has waited `within` seconds (default 30). The anchor's gas does not grow with the batch (one
event of a root, a digest and a count, no storage): 1,000 records cost the same transaction as
one, far below any per-transaction gas cap (EIP-7825's 2^24).

Anchors are sent through the chain's transaction journal (:mod:`chaincrm.chain.journal`), like
every other write of the SDK: the anchor's nonce is a journal row whose record key is the batch's
root, signed and journaled before it is broadcast, and its wait is the tracker's
(:mod:`chaincrm.chain.tracking`), which probes the node every second: a dropped anchor is sent
again within seconds, one stuck on fees is replaced with higher fees, and no other writer of the
same key fills its nonce with a self-transfer.

Every batch is driven to anchored through states the queue commits one by one, so a process
killed at any point is resumed by the next :meth:`Batcher.flush`, :meth:`Batcher.step` or
:meth:`Batcher.run` of the same queue, idempotently:

- batched: the document is rebuilt from the records (the same bytes, the same CID) and stored,
  pinned;
- stored: on a resume the chain is asked first (one eth_getLogs, topics root and author); an
  anchor found is taken, never sent again; so is a transaction the journal holds for the root.
  Otherwise the anchor transaction is signed and recorded in the journal and the queue *before*
  it is broadcast (a batch only just formed was never signed: it is not looked up);
- sent: the tracker follows its journal row until final: mined (anchored), or its nonce taken by
  another transaction (it can never land: the root's anchor is looked up, else a new one is
  signed). A transaction the journal does not know (signed by a process whose journal was in
  memory) is looked up on the chain, else journaled at its nonce and followed the same way.

An anchor is final only when its block is: every step (at most every `recheck_seconds`) looks up,
in one eth_getLogs, the anchors of the batches anchored in the last `recheck_blocks` blocks; a
batch whose anchor the chain no longer holds (Anvil restarted from an older state, a reorg) is
anchored again through its journaled transaction (the same one: it cannot land twice), or a new
one when nothing of it can land any more.

One process at a time drives a scope's batches (a lock file the kernel releases if it dies).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils import keccak, to_checksum_address

from chaincrm.batches.queue import ANCHORED, BATCHED, MAX_BATCH_RECORDS, SENT, STORED, Batch, InteractionQueue
from chaincrm.chain.codec import calldata
from chaincrm.chain.journal import ORIGINAL, JournalEntry, Payload, Signed, TxState
from chaincrm.errors import BatchError, ChainError, ConfigError, TransactionPending

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from chaincrm.contracts.registry import Registry
    from chaincrm.storage import DocumentStore

DEFAULT_EVERY = 100
DEFAULT_WITHIN_SECONDS = 30.0
POLL_SECONDS = 0.25
MAX_SEND_ATTEMPTS = 5
RECHECK_BATCHES = 1000
RECHECK_BLOCKS = 64  # anchors this close to the head are looked up again: a rewind may have taken them
RECHECK_SECONDS = 2.0  # how often a step looks them up
WAIT_SECONDS = 120.0  # for an anchor to be final; after that it stays sent and is resumed later
RECORD_KEY_PREFIX = "anchor:"

StepHook = Callable[[str, Batch], None]
"""Called after each committed step of a batch: "formed", "stored", "signed" (recorded, not yet
broadcast), "broadcast", "anchored", and "reopened" (its anchor was lost to a rewind: it is
anchored again). Tests kill the process there."""


def anchor_record_key(root: bytes) -> str:
    """The journal's record key of a batch's anchor: its root (an anchor is sent once per root)."""
    return RECORD_KEY_PREFIX + "0x" + bytes(root).hex()


@dataclass(frozen=True)
class LandedBatch:
    """A batch whose root is anchored: where its document is and where the anchor landed."""

    batch_id: int
    root: bytes
    count: int
    cid: str
    tx_hash: str
    block_number: int


class Batcher:
    """Drives one queue's batches to anchored on `registry`, storing documents in `store`, signed
    by `sender` (the queue's author, an agent)."""

    def __init__(
        self,
        queue: InteractionQueue,
        registry: Registry,
        store: DocumentStore,
        sender: LocalAccount,
        *,
        every: int = DEFAULT_EVERY,
        within: float = DEFAULT_WITHIN_SECONDS,
        from_block: int = 0,
        on_step: StepHook | None = None,
        wait_seconds: float = WAIT_SECONDS,
        recheck_blocks: int = RECHECK_BLOCKS,
        recheck_seconds: float = RECHECK_SECONDS,
    ) -> None:
        if not 0 < every <= MAX_BATCH_RECORDS:
            raise ConfigError(f"--every must be 1 to {MAX_BATCH_RECORDS}, not {every}")
        if not within > 0:
            raise ConfigError(f"--within must be more than 0 seconds, not {within}")
        scope = queue.scope
        if to_checksum_address(sender.address) != scope.author:
            raise ConfigError(f"the queue is {scope.author}'s; {sender.address} cannot anchor it")
        if registry.address != scope.registry:
            raise ConfigError(f"the queue is for registry {scope.registry}, not {registry.address}")
        self.queue = queue
        self.registry = registry
        self.chain = registry.chain
        self.store = store
        self.sender = sender
        self.every = every
        self.within = within
        self.from_block = from_block
        self.on_step = on_step
        self.wait_seconds = wait_seconds
        self.recheck_blocks = recheck_blocks
        self.recheck_seconds = recheck_seconds
        self._checked_chain = False
        self._gas: int | None = None
        self._rechecked_at: float | None = None

    # ------------------------------------------------------------------ entry points

    def due(self) -> bool:
        """Whether a batch should be formed now: `every` records pending, or the oldest pending
        one has waited `within` seconds."""
        pending = self.queue.pending_count()
        if pending >= self.every:
            return True
        age = self.queue.oldest_pending_age()
        return pending > 0 and age is not None and age >= self.within

    def flush(self) -> list[LandedBatch]:
        """Anchor again recent batches the chain lost, resume every incomplete batch, then batch
        and anchor everything pending now (in batches of `every`); what landed, in order."""
        with self.queue.batching_lock():
            return self._recheck_due() + self._resume() + self._drain(lambda: True)

    def step(self) -> list[LandedBatch]:
        """One pass of the loop: anchor again recent batches the chain lost (at most every
        `recheck_seconds`), resume incomplete batches, then form and anchor batches while one is
        due. Returns at once (empty) if another process drives this queue."""
        with self.queue.batching_lock(wait=False) as mine:
            if not mine:
                return []
            landed = self._recheck_due() + self._resume()
            return landed + self._drain(self.due) if self.due() else landed

    def recheck(self, *, limit: int = RECHECK_BATCHES) -> list[LandedBatch]:
        """Anchor again each batch anchored in the last `recheck_blocks` blocks (at most `limit`)
        whose anchor the chain no longer holds (a chain that rewound: a development node restarted
        from older state, a reorg); what landed again. Steps and flushes run it themselves."""
        with self.queue.batching_lock():
            return self._recheck(limit)

    def run(
        self,
        stop: threading.Event | None = None,
        *,
        poll_seconds: float = POLL_SECONDS,
        on_landed: Callable[[LandedBatch], None] | None = None,
    ) -> int:
        """Step until `stop` is set (for a long-lived process); the number of batches anchored. A
        chain or storage error is retried on the next poll: nothing is lost meanwhile."""
        stop = stop or threading.Event()
        anchored = 0
        while not stop.is_set():
            for landed in self.step():
                anchored += 1
                if on_landed is not None:
                    on_landed(landed)
            stop.wait(poll_seconds)
        return anchored

    # ------------------------------------------------------------------ rewinds

    def _recheck_due(self) -> list[LandedBatch]:
        now = time.monotonic()
        if self._rechecked_at is not None and now - self._rechecked_at < self.recheck_seconds:
            return []
        landed = self._recheck(RECHECK_BATCHES)
        self._rechecked_at = now
        return landed

    def _recheck(self, limit: int) -> list[LandedBatch]:
        """One eth_getLogs over the recent window: batches whose anchor moved are updated, those
        whose anchor is gone are anchored again."""
        since = max(self.from_block, self.chain.block_number() - self.recheck_blocks)
        recent = self.queue.anchored_since(since, limit=limit)
        if not recent:
            return []
        self._check_chain()
        found = {a.root: a for a in self.registry.anchors(author=self.queue.scope.author, from_block=since)}
        landed = []
        for batch in recent:
            anchor = found.get(batch.root)
            if anchor is not None:
                if (anchor.tx_hash, anchor.block_number) != (batch.tx_hash, batch.block_number):
                    self.queue.mark_anchored(batch.id, tx_hash=anchor.tx_hash, block_number=anchor.block_number)
                continue
            entry = self._journaled(batch)  # read before reopening forgets the batch's hash
            reopened = self.queue.reopen(batch.id)
            self._hook("reopened", reopened)
            if entry is not None:
                reopened = self._take_entry(reopened, entry)
            landed.append(self._complete(reopened, resumed=True))
        return landed

    # ------------------------------------------------------------------ one batch

    def _resume(self) -> list[LandedBatch]:
        return [self._complete(batch, resumed=True) for batch in self.queue.open_batches()]

    def _drain(self, more: Callable[[], bool]) -> list[LandedBatch]:
        """Form and anchor batches while `more()` and records are pending. Two at a time: the next
        batch is formed and its document stored (in a thread) while the current one is anchored;
        each step is committed as it happens, as for one batch at a time."""
        landed: list[LandedBatch] = []
        with ThreadPoolExecutor(1, thread_name_prefix="chaincrm-batch-store") as pool:
            upcoming: Future[Batch | None] | None = pool.submit(self._prepare)
            while upcoming is not None and (batch := upcoming.result()) is not None:
                upcoming = pool.submit(self._prepare) if more() else None
                landed.append(self._complete(batch))
        return landed

    def _prepare(self) -> Batch | None:
        """Form the next batch and store its document; None when nothing is pending."""
        self._check_chain()
        batch = self.queue.form_batch(self.every)
        if batch is None:
            return None
        self._hook("formed", batch)
        return self._store(batch)

    def _store(self, batch: Batch) -> Batch:
        """Store the document (again, on a resume: the IPFS node may have lost it, killed mid-upload
        or its repository rolled back; the bytes, and so the CID, are the same) and record where."""
        stored_at = self.chain.block_number()
        cid = self.store.put(self.queue.document(batch).to_bytes())
        if batch.state == BATCHED:
            batch = self.queue.mark_stored(batch.id, cid, from_block=stored_at)
        if batch.cid != cid:
            raise BatchError(f"batch {batch.id}'s document was stored as {cid}, not {batch.cid}")
        self._hook("stored", batch)
        return batch

    def _complete(self, batch: Batch, *, resumed: bool = False) -> LandedBatch:
        self._check_chain()
        if batch.state == BATCHED or (resumed and batch.state == STORED):
            batch = self._store(batch)
        fresh = False
        attempts = 0
        while batch.state in (STORED, SENT):
            if batch.state == STORED:
                # A batch formed by this call has never been signed: no anchor of it can exist. One a
                # dead process left (or a rewind reopened) may have been anchored, or journaled.
                if resumed or attempts:
                    found = self._anchored(batch)
                    if found is not None:
                        return found
                    entry = self._journaled(batch)
                    if entry is not None:
                        batch = self._take_entry(batch, entry)
                        continue
                batch, fresh = self._sign(batch), True
            attempts += 1
            if attempts > MAX_SEND_ATTEMPTS:
                raise BatchError(f"batch {batch.id}'s anchor could not be sent after {MAX_SEND_ATTEMPTS} attempts")
            landed = self._settle(batch, fresh=fresh)
            if landed is not None:
                return landed
            batch, fresh = self.queue.batch(batch.id), False
        if batch.state == ANCHORED:
            return _landed(batch)
        raise BatchError(f"batch {batch.id} is {batch.state}")

    def _anchored(self, batch: Batch) -> LandedBatch | None:
        """If the chain already holds the root's anchor by this author, take it."""
        # A root cannot be anchored before its batch was stored (its record ids are random).
        since = batch.from_block if batch.from_block is not None else self.from_block
        anchor = self.registry.find_anchor(batch.root, self.queue.scope.author, from_block=since)
        if anchor is None:
            return None
        done = self.queue.mark_anchored(batch.id, tx_hash=anchor.tx_hash, block_number=anchor.block_number)
        self._hook("anchored", done)
        return _landed(done)

    # ------------------------------------------------------------------ the anchor transaction

    def _journaled(self, batch: Batch) -> JournalEntry | None:
        """The journal's row of the batch's anchor that may still land or has landed (pending or
        mined): by the batch's hash, else by its root's record key."""
        journal = self.chain.journal
        entry = journal.by_hash(batch.tx_hash) if batch.tx_hash else None
        if entry is None:
            entry = journal.by_record(self.chain.chain_id, [anchor_record_key(batch.root)]).get(
                anchor_record_key(batch.root)
            )
        if entry is None or entry.state not in (TxState.PENDING, TxState.MINED) or entry.raw is None:
            return None
        return entry

    def _take_entry(self, batch: Batch, entry: JournalEntry) -> Batch:
        """Record in the queue the journaled anchor transaction `entry` (sent by an earlier run)."""
        assert entry.raw is not None and entry.tx_hash is not None
        from_block = batch.from_block if batch.from_block is not None else self.chain.block_number()
        return self.queue.mark_sent(
            batch.id,
            raw_tx=entry.raw,
            tx_hash=entry.tx_hash,
            nonce=entry.nonce,
            max_fee=entry.max_fee,
            tip=entry.tip,
            from_block=from_block,
        )

    def _payload(self, batch: Batch) -> Payload:
        """The anchor call of `batch` (checked with an eth_call: a non-agent gets its named error)."""
        assert batch.cid is not None
        from chaincrm.storage import cid_to_digest

        fn = self.registry.anchor_call(batch.root, cid_to_digest(batch.cid), batch.count)
        if self._gas is None:  # an anchor costs the same for any batch: estimated once
            self._gas = self.chain.gas_limit(fn, self.sender)
        else:
            self.chain.call(fn, sender=self.sender.address)  # a role revoked since gets its error here
        return Payload(to=to_checksum_address(fn.address), data=calldata(fn), value=0, gas=self._gas)

    def _sign(self, batch: Batch) -> Batch:
        """Take a nonce from the journal (a row keyed by the root), sign the anchor, journal it and
        record it in the queue: not broadcast yet."""
        payload = self._payload(batch)
        address = self.sender.address
        self.chain.sending.signers[address] = self.sender  # the tracker re-signs it with higher fees
        from_block = batch.from_block if batch.from_block is not None else self.chain.block_number()
        (row,) = self.chain.nonces.allocate(address, [anchor_record_key(batch.root)])
        try:
            max_fee, tip = self.chain.fees()
            signed = self._signed(row.nonce, payload, max_fee, tip)
            self.chain.journal.signed([(row.id, payload, signed)])
        except BaseException:
            self.chain.journal.release(row.id)
            raise
        done = self.queue.mark_sent(
            batch.id,
            raw_tx=signed.raw,
            tx_hash=signed.tx_hash,
            nonce=row.nonce,
            max_fee=max_fee,
            tip=tip,
            from_block=from_block,
        )
        self._hook("signed", done)
        return done

    def _signed(self, nonce: int, payload: Payload, max_fee: int, tip: int) -> Signed:
        tx: dict[str, Any] = {
            "from": self.sender.address,
            "to": payload.to,
            "data": payload.data,
            "value": payload.value,
            "gas": payload.gas,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": tip,
            "chainId": self.chain.chain_id,
            "nonce": nonce,
        }
        raw = bytes(self.sender.sign_transaction(tx).raw_transaction)  # type: ignore[arg-type]
        return Signed(tx_hash="0x" + keccak(raw).hex(), raw=raw, max_fee=max_fee, tip=tip)

    def _adopt(self, batch: Batch) -> JournalEntry | None:
        """Journal a signed anchor the journal does not know (signed by a process whose journal
        was in memory) at its nonce, so that the tracker follows it; None when a live row of
        another transaction holds that nonce."""
        assert batch.raw_tx is not None and batch.tx_hash is not None and batch.nonce is not None
        row = self.chain.journal.allocate_at(self.chain.chain_id, self.sender.address, batch.nonce, kind=ORIGINAL)
        if row is None:
            return None
        signed = Signed(batch.tx_hash, batch.raw_tx, batch.max_fee or 0, batch.tip or 0)
        self.chain.sending.signers[self.sender.address] = self.sender
        self.chain.journal.signed([(row.id, self._payload(batch), signed)])
        return self.chain.journal.entry(row.id)

    def _settle(self, batch: Batch, *, fresh: bool) -> LandedBatch | None:
        """Drive a signed anchor to its end: anchored (returned), or None when it can never land
        (the queue holds the batch as stored again: a new one is signed). A `fresh` one was signed
        by this call and is broadcast here."""
        assert batch.tx_hash is not None and batch.raw_tx is not None and batch.nonce is not None
        from chaincrm.chain.sending import KNOWN, NONCE_TAKEN, SENT, UNREACHABLE
        from chaincrm.chain.tracking import KEEP_ON_GIVE_UP

        journal = self.chain.journal
        entry = journal.by_hash(batch.tx_hash)
        if entry is None:  # signed by a process whose journal is not this one
            found = self._anchored(batch)
            if found is not None:
                return found
            entry = self._adopt(batch)
            if entry is None:
                raise BatchError(
                    f"batch {batch.id}'s anchor {batch.tx_hash} waits for nonce {batch.nonce}, which another "
                    "journaled transaction holds; it is resumed on the next flush"
                )
        if fresh:
            (outcome,) = self.chain.sending.broadcast([batch.raw_tx])
            if outcome not in (SENT, KNOWN, UNREACHABLE, NONCE_TAKEN):  # refused: the nonce is given back
                journal.release(entry.id)
                self.queue.clear_sent(batch.id)
                raise BatchError(f"the node refused batch {batch.id}'s anchor: {outcome}")
            self._hook("broadcast", batch)
        result = self.chain.tracking.settle(
            [entry.id], timeout=self.wait_seconds, give_up=KEEP_ON_GIVE_UP, probe_first=not fresh
        )[entry.id]
        if isinstance(result, TransactionPending):  # not final in time: it stays sent, for the next pass
            raise BatchError(
                f"batch {batch.id}'s anchor {batch.tx_hash} was not final in {self.wait_seconds:g} s; "
                "it is resumed on the next flush"
            )
        if isinstance(result, Exception):  # its nonce went to another transaction: ours can never land
            found = self._anchored(batch)
            if found is not None:
                return found
            self.queue.clear_sent(batch.id)
            return None
        if result.status != 1:
            self.queue.clear_sent(batch.id)
            from hexbytes import HexBytes

            raise self.chain.receipts.failure(HexBytes(result.tx_hash), result.block_number, result.gas_used)
        done = self.queue.mark_anchored(batch.id, tx_hash=result.tx_hash, block_number=result.block_number)
        self._hook("anchored", done)
        return _landed(done)

    def _check_chain(self) -> None:
        if self._checked_chain:
            return
        if self.chain.chain_id != self.queue.scope.chain_id:
            raise ChainError(
                f"the queue is for chain {self.queue.scope.chain_id}, but the node is chain {self.chain.chain_id}"
            )
        self._checked_chain = True

    def _hook(self, stage: str, batch: Batch) -> None:
        if self.on_step is not None:
            self.on_step(stage, batch)


def _landed(batch: Batch) -> LandedBatch:
    assert batch.cid is not None and batch.tx_hash is not None and batch.block_number is not None
    return LandedBatch(batch.id, batch.root, batch.count, batch.cid, batch.tx_hash, batch.block_number)


__all__ = ["DEFAULT_EVERY", "DEFAULT_WITHIN_SECONDS", "Batcher", "LandedBatch", "StepHook", "anchor_record_key"]
