"""The batcher: forms batches from the queue, stores their documents on IPFS, anchors their roots.

A batch is flushed every `every` records (default 100, at most 1,000) or when its oldest record
has waited `within` seconds (default 30). The anchor's gas does not grow with the batch (one
event of a root, a digest and a count, no storage): 1,000 records cost the same transaction as
one, far below any per-transaction gas cap (EIP-7825's 2^24).

Every batch is driven to anchored through states the queue commits one by one, so a process
killed at any point is resumed by the next :meth:`Batcher.flush`, :meth:`Batcher.step` or
:meth:`Batcher.run` of the same queue, idempotently:

- batched: the document is rebuilt from the records (the same bytes, the same CID) and stored,
  pinned;
- stored: on a resume the chain is asked first (one eth_getLogs, topics root and author); an
  anchor found is taken, never sent again. Otherwise the anchor transaction is signed and recorded
  in the queue *before* it is broadcast (a batch only just formed was never signed: it is not
  looked up);
- sent: its receipt, else the root's anchor, else the account's nonce tell what happened: mined
  (anchored), still pending (wait), lost (broadcast the same signed transaction again: its nonce
  makes a second landing impossible), or its nonce taken by another transaction (it can never
  land: a new one is signed).

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
from chaincrm.errors import BatchError, ChainError, ConfigError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from chaincrm.contracts.registry import Registry
    from chaincrm.storage import DocumentStore

DEFAULT_EVERY = 100
DEFAULT_WITHIN_SECONDS = 30.0
POLL_SECONDS = 0.25
REPLACEMENT_BUMP_NUMERATOR = 9  # a replacement pays at least 12.5% more (nodes ask for 10%)
REPLACEMENT_BUMP_DENOMINATOR = 8
MAX_SEND_ATTEMPTS = 5
RECHECK_BATCHES = 100
WAIT_SECONDS = 120.0  # for an anchor's receipt; after that it stays sent and is resumed later
RECEIPT_POLL_SECONDS = 0.01
_ALREADY_KNOWN = ("already known", "known transaction", "already imported")
_NONCE_TOO_LOW = ("nonce too low", "nonce is too low", "oldnonce")

_TAKEN = "nonce taken"

StepHook = Callable[[str, Batch], None]
"""Called after each committed step of a batch: "formed", "stored", "signed" (recorded, not yet
broadcast), "broadcast", "anchored". Tests kill the process there."""


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
        self._checked_chain = False
        self._gas: int | None = None

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
        """Resume every incomplete batch, then batch and anchor everything pending now (in batches
        of `every`); what landed, in order."""
        with self.queue.batching_lock():
            return self._resume() + self._drain(lambda: True)

    def step(self) -> list[LandedBatch]:
        """One pass of the loop: resume incomplete batches, then form and anchor batches while
        one is due. Returns at once (empty) if another process drives this queue."""
        with self.queue.batching_lock(wait=False) as mine:
            if not mine:
                return []
            landed = self._resume()
            return landed + self._drain(self.due) if self.due() else landed

    def recheck(self, *, limit: int = RECHECK_BATCHES) -> list[LandedBatch]:
        """Anchor again each of the latest `limit` anchored batches whose anchor the chain no longer
        holds (a chain that rewound: a development node restarted without its state, a reorg);
        what landed again. Run it after such an event: an anchor is final only when its block is."""
        landed = []
        with self.queue.batching_lock():
            for batch in self.queue.anchored_batches(limit=limit):
                since = batch.from_block if batch.from_block is not None else self.from_block
                if self.registry.find_anchor(batch.root, self.queue.scope.author, from_block=since) is None:
                    landed.append(self._complete(self.queue.reopen(batch.id)))
        return landed

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
        if batch.state == STORED:
            # A batch formed by this call has never been signed: no anchor of it can exist. One a
            # dead process left may have been anchored by a transaction that process sent.
            found = self._anchored(batch) if resumed else None
            if found is not None:
                return found
            batch = self._sign(batch, nonce=None)
            fresh = True
        else:
            fresh = False
        attempts = 0
        while batch.state == SENT:
            attempts += 1
            if attempts > MAX_SEND_ATTEMPTS:
                raise BatchError(f"batch {batch.id}'s anchor could not be sent after {MAX_SEND_ATTEMPTS} attempts")
            landed = self._settle(batch, fresh=fresh)
            fresh = False
            if landed is not None:
                return landed
            batch = self.queue.batch(batch.id)
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

    def _sign(self, batch: Batch, *, nonce: int | None, at_least: tuple[int, int] | None = None) -> Batch:
        """Sign the anchor transaction and record it in the queue (not broadcast yet). A nonce given
        replaces a transaction with that nonce (paying more); otherwise the next nonce is taken."""
        assert batch.cid is not None
        from chaincrm.storage import cid_to_digest

        fn = self.registry.anchor_call(batch.root, cid_to_digest(batch.cid), batch.count)
        address = self.sender.address
        if self._gas is None:  # an anchor costs the same for any batch: estimated once
            self._gas = self.chain.gas_limit(fn, self.sender)
        else:
            self.chain.call(fn, sender=address)  # a non-agent (a role revoked since) gets its error here
        gas = self._gas
        max_fee, tip = self.chain.fees()
        if at_least is not None:
            max_fee = max(max_fee, at_least[0] * REPLACEMENT_BUMP_NUMERATOR // REPLACEMENT_BUMP_DENOMINATOR + 1)
            tip = max(tip, at_least[1] * REPLACEMENT_BUMP_NUMERATOR // REPLACEMENT_BUMP_DENOMINATOR + 1)
            max_fee = max(max_fee, tip)
        from_block = batch.from_block if batch.from_block is not None else self.chain.block_number()
        if nonce is None:
            nonce = self.chain.nonces.take(address)
        tx: dict[str, Any] = {
            "from": address,
            "to": fn.address,
            "data": calldata(fn),
            "value": 0,
            "gas": gas,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": tip,
            "chainId": self.chain.chain_id,
            "nonce": nonce,
        }
        raw = bytes(self.sender.sign_transaction(tx).raw_transaction)  # type: ignore[arg-type]
        tx_hash = "0x" + keccak(raw).hex()
        signed = self.queue.mark_sent(
            batch.id, raw_tx=raw, tx_hash=tx_hash, nonce=nonce, max_fee=max_fee, tip=tip, from_block=from_block
        )
        self._hook("signed", signed)
        return signed

    def _settle(self, batch: Batch, *, fresh: bool) -> LandedBatch | None:
        """Drive a signed anchor to its end: anchored (returned), or re-signed or to be looked at
        again (None). A `fresh` one was signed by this call and never broadcast: nothing to look up."""
        assert batch.tx_hash is not None and batch.raw_tx is not None and batch.nonce is not None
        receipt = None if fresh else self._receipt(batch.tx_hash)
        if receipt is None and not fresh:
            found = self._anchored(batch)
            if found is not None:
                return found
            if self._nonce_taken(batch.nonce):
                receipt = self._receipt(batch.tx_hash)  # it may have been mined in between
                if receipt is None:
                    self.chain.nonces.reset(self.sender.address)
                    self._sign(self.queue.clear_sent(batch.id), nonce=None)
                    return None
        if receipt is None:
            problem = self._broadcast(batch.raw_tx)
            if problem == _TAKEN:  # its nonce is used: mined (ours) or taken (another's); look again
                return None
            if problem is not None:  # underpriced, or the node refused it: replace it
                assert batch.max_fee is not None and batch.tip is not None
                self._sign(batch, nonce=batch.nonce, at_least=(batch.max_fee, batch.tip))
                return None
            self._hook("broadcast", batch)
        if receipt is None:
            receipt = self._wait(batch.tx_hash)
            if receipt is None:  # not mined in time: it stays sent, for the next pass
                raise BatchError(
                    f"batch {batch.id}'s anchor {batch.tx_hash} was not mined in {self.wait_seconds:g} s; "
                    "it is resumed on the next flush"
                )
        if int(receipt["status"], 16) != 1:
            self.queue.clear_sent(batch.id)
            raise self.chain.receipts.failure(
                receipt["transactionHash"], int(receipt["blockNumber"], 16), int(receipt["gasUsed"], 16)
            )
        done = self.queue.mark_anchored(batch.id, tx_hash=batch.tx_hash, block_number=int(receipt["blockNumber"], 16))
        self._hook("anchored", done)
        return _landed(done)

    def _wait(self, tx_hash: str) -> dict[str, Any] | None:
        """The receipt once mined and as deep as the chain's confirmations ask; None after
        `wait_seconds` (raw polling: no web3 on this path)."""
        deadline = time.monotonic() + self.wait_seconds
        confirmations = self.chain.confirmations
        while time.monotonic() < deadline:
            receipt = self._receipt(tx_hash)
            if receipt is not None and (
                confirmations <= 1 or self.chain.block_number() >= int(receipt["blockNumber"], 16) + confirmations - 1
            ):
                return receipt
            time.sleep(RECEIPT_POLL_SECONDS)
        return None

    def _receipt(self, tx_hash: str) -> dict[str, Any] | None:
        receipt = self.chain.request("eth_getTransactionReceipt", [tx_hash])
        return receipt if receipt and receipt.get("blockNumber") is not None else None

    def _nonce_taken(self, nonce: int) -> bool:
        mined = int(self.chain.request("eth_getTransactionCount", [self.sender.address, "latest"]), 16)
        return mined > nonce

    def _broadcast(self, raw: bytes) -> str | None:
        """Send the signed transaction; None when the node has it (accepted now or known already),
        else the node's refusal."""
        answer = self.chain.rpc(lambda: self.chain.provider.make_request("eth_sendRawTransaction", ["0x" + raw.hex()]))
        error = answer.get("error")
        if error is None:
            return None
        message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
        if any(hint in message.lower() for hint in _ALREADY_KNOWN):
            return None
        if any(hint in message.lower() for hint in _NONCE_TOO_LOW):
            return _TAKEN
        return message

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


__all__ = ["DEFAULT_EVERY", "DEFAULT_WITHIN_SECONDS", "Batcher", "LandedBatch", "StepHook"]
