"""Tracking transactions until their outcome is final: mined (with the confirmations asked for),
cancelled, or taken by another transaction. Nothing is abandoned behind a nonce gap.

Every transaction the SDK sends is written to the journal (:mod:`~chaincrm.chain.journal`) before
it is broadcast. :class:`Tracker` follows journaled transactions, by polling receipts in JSON-RPC
batches; every ``PROBE_SECONDS`` of waiting it also probes the sender's nonce on the node and:

- **dropped** (the node no longer knows the transaction: ``anvil_dropTransaction``, a node restarted
  without its mempool): re-broadcasts the same raw transaction, together with every other journaled
  transaction of the sender from the chain's nonce upward, in nonce order;
- **rewound** (a receipt we saw is gone and the sender's nonce on the chain went below a row we saw
  mined: Anvil restarted from an older ``--state``): the row is pending again and re-broadcast,
  in order, with the rest;
- **stuck on fees** (first in line for ``STALL_SECONDS`` while its fee cap is under the base fee,
  or its tip under the market's): replaced by the same payload with both fee fields raised by at
  least 12.5% (nodes require 10%);
- **a gap** (a nonce below ours that no transaction holds: a refused send, a nonce reserved and
  never signed for ``RESERVED_GRACE_SECONDS`` or by a process that died): filled with a no-op
  self-transfer so that ours can be mined;
- **a new chain** (block 0's hash changed: a development node started afresh, not from its saved
  state): the journal forgets that chain id's rows; nothing is re-sent to a chain that never had it;
- **consumed** (the chain's nonce passed ours and none of our hashes has a receipt): another
  transaction took it; the outcome is final (:class:`~chaincrm.errors.TransactionReplaced`).

When the caller's time runs out, "not mined in time" is never reported as a failure while the
transaction may still land. By default (``give_up=CANCEL``) the tracker cancels explicitly: a
0-value self-transfer at the same nonce with bumped fees, then waits for whichever lands first. The
outcome is final either way: the original (or its replacement) mined after all, and its receipt is
returned; or the cancel took the nonce (:class:`~chaincrm.errors.TransactionCancelled`: nothing
landed, and nothing ever will). Only if even the cancel is not mined in time (the chain stopped)
does :class:`~chaincrm.errors.TransactionPending` come back: not final, still journaled, tracked
again by the next write or wait from the same journal, or by :meth:`Tracker.recover`. With
``give_up=KEEP`` the tracker raises TransactionPending at once instead of cancelling.

Confirmations: a write is final when its block has ``confirmations - 1`` blocks on top of it
(settings.confirmations, ``CHAINCRM_CONFIRMATIONS``). 1 means "in the latest block": nothing
protects it from a reorganisation or from a development node restarted without its state; ask for
more on a chain that can reorganise, and the receipt is checked again when they are reached.

API (``chain = Crm.from_settings(...).chain`` or ``connect(url)``; ``chain.tracking`` is the tracker):

- ``chain.keep_journal(state_dir)``: journal in ``state_dir/transactions.sqlite3`` (shared by
  processes using the same home; in memory until called); ``chain.journal``: the
  :class:`~chaincrm.chain.journal.Journal`.
- ``chain.send(fn, sender, record_key=...)`` -> hash; ``chain.transact(fn, sender)`` -> receipt,
  tracked until final; ``chain.wait(tx_hash)`` likewise for a hash sent through this journal.
- ``chain.send_many(calls, sender, gas=..., record_keys=[...])`` -> receipts of all, or
  :class:`~chaincrm.errors.PartiallyLanded` (``landed``, ``landed_at``, ``not_landed``).
- ``Tracker.wait(tx_hash, timeout=None, give_up=CANCEL)`` -> TxReceipt;
  ``Tracker.settle(row_ids, timeout=None, give_up=CANCEL)`` -> {row id: MinedTx or the error};
  ``Tracker.cancel(tx_hash, timeout=None)`` -> MinedTx when it mined after all, else raises
  TransactionCancelled; ``Tracker.recover(address=None, timeout=None)`` -> outcomes of every row
  still open in the journal (after a crash or a restart: re-sends what the node lost);
  ``Tracker.landed(record_keys)`` -> {record key: journal row} of records sent or on-chain.
- Registry: ``registry.log_interaction(entry, sender, record_key=None)`` and
  ``registry.log_interactions_pipelined(entries, sender, on_progress, record_keys=None)`` are
  idempotent (journal, then a log query for records already on-chain, from
  ``registry.records_from_block``); ``registry.logged_interactions(entries, author)`` -> {content
  hash: tx hash} of those already on-chain; ``interaction_key(registry, entry)`` is the default key.
- Errors (chaincrm.errors, all TransactionError): TransactionPending (not final: ``tx_hash``,
  ``nonce``), TransactionCancelled and TransactionReplaced (final, nothing landed), PartiallyLanded.
- Tunables on the tracker: ``probe_seconds``, ``stall_seconds``, ``reserved_grace_seconds``; the
  wait's ``timeout`` is the Chain's (``Chain(..., timeout=120.0)``, ``chain.receipts.timeout``).

Several processes may share one key when they share the journal (the same home's state dir):
nonces come from it inside ``BEGIN IMMEDIATE``. A process killed mid-write leaves its rows in the
journal; the next write from the same journal, or ``chain.tracking.recover()``, finishes them.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hexbytes import HexBytes

from chaincrm.chain.batching import batch_request, refusal
from chaincrm.chain.connection import BASE_FEE_HEADROOM
from chaincrm.chain.journal import CANCEL, FILLER, LIVE, REPLACEMENT, JournalEntry, Payload, TxState
from chaincrm.chain.receipts import MinedTx, Receipts
from chaincrm.chain.sending import KNOWN, SENT
from chaincrm.errors import (
    ChainError,
    TransactionCancelled,
    TransactionError,
    TransactionPending,
    TransactionReplaced,
)

if TYPE_CHECKING:
    from web3.types import TxReceipt

    from chaincrm.chain.connection import Connection
    from chaincrm.chain.sending import Sending

PROBE_SECONDS = 1.0  # how often a wait checks the nonce and the node's mempool
STALL_SECONDS = 3.0  # first in line this long with fees under the market's: replace with higher fees
RESERVED_GRACE_SECONDS = 30.0  # a reserved nonce nobody signed for this long (or whose process died) is a gap
CONSUMED_PROBES = 2  # probes that see our nonce taken without a receipt of ours before it is final
FEE_BUMP_NUMERATOR, FEE_BUMP_DENOMINATOR = 9, 8  # +12.5% on both fee fields (nodes require +10%)
CANCEL_GAS = 21_000

CANCEL_ON_GIVE_UP = "cancel"
KEEP_ON_GIVE_UP = "keep"

Outcome = MinedTx | TransactionError


def bumped(fee: int) -> int:
    """A fee raised enough for a node to accept the replacement (at least +10%)."""
    return -(-fee * FEE_BUMP_NUMERATOR // FEE_BUMP_DENOMINATOR) + 1


class Tracker:
    """Follows journaled transactions until final; see the module's documentation."""

    def __init__(self, node: Connection, sending: Sending, receipts: Receipts) -> None:
        self.node = node
        self.sending = sending
        self.receipts = receipts
        self.journal = sending.journal
        self.probe_seconds = PROBE_SECONDS
        self.stall_seconds = STALL_SECONDS
        self.reserved_grace_seconds = RESERVED_GRACE_SECONDS

    @property
    def confirmations(self) -> int:
        return self.receipts.confirmations

    # ------------------------------------------------------------------ public

    def wait(
        self, tx_hash: HexBytes | str, *, timeout: float | None = None, give_up: str = CANCEL_ON_GIVE_UP
    ) -> TxReceipt:
        """The receipt of a journaled transaction once final (see the module); a transaction this
        journal does not know is awaited as before (:meth:`Receipts.wait`)."""
        entry = self.journal.by_hash(_hex(tx_hash))
        if entry is None:
            return self.receipts.wait(tx_hash)
        outcome = self.settle([entry.id], timeout=timeout, give_up=give_up)[entry.id]
        if isinstance(outcome, Exception):
            raise outcome
        receipt: TxReceipt = self.node.rpc(lambda: self.node.w3.eth.get_transaction_receipt(HexBytes(outcome.tx_hash)))
        if receipt["status"] != 1:
            raise self.receipts.failure(HexBytes(outcome.tx_hash), outcome.block_number, outcome.gas_used)
        return receipt

    def cancel(self, tx_hash: HexBytes | str, *, timeout: float | None = None) -> MinedTx:
        """Give up on a transaction now: cancel it and wait for the final outcome. Returns the
        receipt when it mined after all; raises TransactionCancelled when the cancel took its nonce."""
        entry = self.journal.by_hash(_hex(tx_hash))
        if entry is None:
            raise TransactionError(f"transaction {_hex(tx_hash)} is not in this writer's journal")
        outcome = self.settle([entry.id], timeout=0.0, give_up=CANCEL_ON_GIVE_UP, cancel_timeout=timeout)[entry.id]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def recover(self, address: str | None = None, *, timeout: float | None = None) -> dict[int, Outcome]:
        """Follow every transaction still open in the journal for this chain (all senders, or
        `address`) until final, without cancelling: after a crash, a node restart or a rewind."""
        chain_id = self.node.chain_id
        self.sending.nonces.check_chain(again=True)
        senders = [address] if address is not None else self.journal.senders(chain_id)
        ids: list[int] = []
        for sender in senders:
            earlier, _ = self.sending.nonces.counts(sender)  # type: ignore[arg-type]
            seen_mined = self.journal.mined_from(chain_id, sender, earlier)  # read before the count
            latest, _ = self.sending.nonces.counts(sender)  # type: ignore[arg-type]
            lost = [e for e in seen_mined if e.nonce >= latest]
            self.journal.settle([(e.id, TxState.PENDING, None, None) for e in lost])
            ids += [e.id for e in self.journal.live(chain_id, sender) if e.state is TxState.PENDING]
        if not ids:
            return {}
        return self.settle(ids, timeout=timeout, give_up=KEEP_ON_GIVE_UP, probe_first=True)

    def landed(self, record_keys: Sequence[str]) -> dict[str, JournalEntry]:
        """The journal row of each record key that was sent (pending) or mined on this chain."""
        return self.journal.by_record(self.node.chain_id, record_keys)

    def settle(
        self,
        entry_ids: Sequence[int],
        *,
        timeout: float | None = None,
        give_up: str = CANCEL_ON_GIVE_UP,
        cancel_timeout: float | None = None,
        probe_first: bool = False,
    ) -> dict[int, Outcome]:
        """The final outcome of each journal row: its MinedTx (status 1 or 0), or the error that
        says why it did not land (TransactionCancelled, TransactionReplaced, TransactionPending)."""
        ids = list(dict.fromkeys(entry_ids))
        results: dict[int, Outcome] = {}
        consumed: dict[int, int] = defaultdict(int)
        deadline = time.monotonic() + (self.receipts.timeout if timeout is None else timeout)
        last_probe = 0.0 if probe_first else time.monotonic()
        cancelling = False
        while True:
            waiting = [i for i in ids if i not in results]
            if not waiting:
                break
            probe = cancelling or time.monotonic() - last_probe >= self.probe_seconds
            try:
                self._poll(waiting, results, consumed, probe=probe)
            except ChainError as exc:
                if not _unreachable(exc):
                    raise
            if probe:
                last_probe = time.monotonic()
            if all(i in results for i in ids):
                break
            if time.monotonic() > deadline:
                if give_up == CANCEL_ON_GIVE_UP and not cancelling:
                    cancelling = True
                    self._cancel([i for i in ids if i not in results])
                    grace = self.receipts.timeout if cancel_timeout is None else cancel_timeout
                    deadline = time.monotonic() + max(grace, self.probe_seconds * 3)
                    continue
                for entry in self.journal.entries([i for i in ids if i not in results]):
                    results[entry.id] = TransactionPending(
                        f"transaction {entry.tx_hash} (nonce {entry.nonce}) is not final yet: it may still land, "
                        "and stays in the journal to be tracked by the next write or wait",
                        tx_hash=entry.tx_hash or "",
                        nonce=entry.nonce,
                    )
                break
            time.sleep(self.receipts.poll_interval)
        return {i: results[i] for i in ids}

    # ------------------------------------------------------------------ polling

    def _poll(self, waiting: list[int], results: dict[int, Outcome], consumed: dict[int, int], *, probe: bool) -> None:
        entries = self.journal.entries(waiting)
        kinds = self.journal.hash_kinds(waiting)
        open_entries = []
        for entry in entries:
            final = _final_error(entry)
            if final is not None:
                results[entry.id] = final
            else:
                open_entries.append(entry)
        hashes = [h for entry in open_entries for h in kinds[entry.id]]
        head, found = self._receipts(hashes)
        settled: list[tuple[int, TxState, str | None, int | None]] = []
        unmined: list[JournalEntry] = []
        for entry in open_entries:
            mined = next((found[h] for h in kinds[entry.id] if h in found), None)
            if mined is None:
                unmined.append(entry)
                continue
            if head < mined.block_number + self.confirmations - 1:
                continue  # confirming
            if kinds[entry.id].get(mined.tx_hash.lower()) == CANCEL:
                results[entry.id] = TransactionCancelled(
                    f"transaction {entry.tx_hash} (nonce {entry.nonce}) was cancelled: nothing landed",
                    tx_hash=mined.tx_hash,
                    nonce=entry.nonce,
                )
                settled.append((entry.id, TxState.CANCELLED, mined.tx_hash, mined.block_number))
            else:
                results[entry.id] = mined
                state = TxState.MINED if mined.status == 1 else TxState.REVERTED
                settled.append((entry.id, state, mined.tx_hash, mined.block_number))
        self.journal.settle(settled)
        if probe and unmined:
            self._probe(unmined, set(waiting), results, consumed)

    def _receipts(self, hashes: Sequence[str]) -> tuple[int, dict[str, MinedTx]]:
        """The head block and the receipts found for `hashes` (one batched request)."""
        calls: list[tuple[str, list[Any]]] = [("eth_blockNumber", [])]
        calls += [("eth_getTransactionReceipt", [h]) for h in hashes]
        answers = batch_request(self.node.provider, calls, run=self.node.rpc, what="receipt queries")
        if refusal(answers[0]) is not None:
            raise ChainError(f"the chain at {self.node.endpoint} refused eth_blockNumber: {refusal(answers[0])}")
        head = int(answers[0]["result"], 16)
        found = {}
        for tx_hash, answer in zip(hashes, answers[1:], strict=True):
            raw = answer.get("result")
            if raw and raw.get("blockNumber") is not None:
                found[tx_hash.lower()] = MinedTx.from_raw(raw)
        return head, found

    def _probe(
        self, unmined: list[JournalEntry], waiting: set[int], results: dict[int, Outcome], consumed: dict[int, int]
    ) -> None:
        """Check each sender's nonce on the node: rewinds, consumed nonces, dropped transactions,
        gaps and fees (see the module)."""
        chain_id = self.node.chain_id
        by_sender: dict[str, list[JournalEntry]] = defaultdict(list)
        for entry in unmined:
            by_sender[entry.sender].append(entry)
        for sender, group in by_sender.items():
            # The journal is read before the node's counts: a row another process settles as
            # mined in between is then below the counts, never taken for a rewind or a gap.
            earlier, _ = self.sending.nonces.counts(sender)  # type: ignore[arg-type]
            seen_mined = self.journal.mined_from(chain_id, sender, earlier)
            live = self.journal.live(chain_id, sender)
            latest, pending = self.sending.nonces.counts(sender)  # type: ignore[arg-type]
            lost = [e for e in seen_mined if e.nonce >= latest]
            if lost and not self.sending.nonces.check_chain(again=True):
                return  # a new chain, not a rewind: the journal forgot its rows, nothing to re-send
            if lost:  # the chain rewound below transactions we saw mined: they are pending again
                self.journal.settle([(e.id, TxState.PENDING, None, None) for e in lost])
                live = sorted([*live, *(replace(e, state=TxState.PENDING) for e in lost)], key=lambda e: e.nonce)
            replaced = []
            for entry in group:
                if entry.nonce < latest:
                    consumed[entry.id] += 1
                    if consumed[entry.id] >= CONSUMED_PROBES:
                        results[entry.id] = TransactionReplaced(
                            f"transaction {entry.tx_hash} (nonce {entry.nonce}) can never land: another "
                            "transaction took its nonce",
                            tx_hash=entry.tx_hash or "",
                            nonce=entry.nonce,
                        )
                        replaced.append((entry.id, TxState.REPLACED, None, None))
            self.journal.settle(replaced)
            self._settle_orphans([e for e in live if e.nonce < latest and e.id not in waiting])
            self._heal(sender, latest, pending, [e for e in live if e.nonce >= latest])

    def _settle_orphans(self, orphans: list[JournalEntry]) -> None:
        """Rows below the chain's nonce that nobody waits for: mined, cancelled or replaced."""
        if not orphans:
            return
        kinds = self.journal.hash_kinds([e.id for e in orphans])
        _, found = self._receipts([h for e in orphans for h in kinds[e.id]])
        outcomes: list[tuple[int, TxState, str | None, int | None]] = []
        for entry in orphans:
            mined = next((found[h] for h in kinds[entry.id] if h in found), None)
            if mined is None:
                outcomes.append((entry.id, TxState.REPLACED, None, None))
            elif kinds[entry.id].get(mined.tx_hash.lower()) == CANCEL:
                outcomes.append((entry.id, TxState.CANCELLED, mined.tx_hash, mined.block_number))
            else:
                state = TxState.MINED if mined.status == 1 else TxState.REVERTED
                outcomes.append((entry.id, state, mined.tx_hash, mined.block_number))
        self.journal.settle(outcomes)

    def _heal(self, sender: str, latest: int, pending: int, ahead: list[JournalEntry]) -> None:
        """Re-send what the node lost, fill gaps below, replace what is stuck on fees. A gap is a
        nonce no row holds at or above the node's pending count (below it, the node holds a
        transaction for it: one sent without this journal)."""
        sent = [e for e in ahead if e.state is TxState.PENDING and e.tx_hash]
        known_answers = batch_request(
            self.node.provider,
            [("eth_getTransactionByHash", [e.tx_hash]) for e in sent],
            run=self.node.rpc,
            what="transaction queries",
        )
        known = {e.id: bool(answer.get("result")) for e, answer in zip(sent, known_answers, strict=True)}
        missing = [e for e in sent if not known[e.id] and e.raw]
        if missing:  # a node may also hide one it holds but cannot mine yet (fees): sent again, harmless
            outcomes = self.sending.broadcast([e.raw for e in missing if e.raw])
            known.update((e.id, outcome in (SENT, KNOWN)) for e, outcome in zip(missing, outcomes, strict=True))
        now = time.time()
        stale = [
            e
            for e in ahead
            if e.state is TxState.RESERVED and (now - e.created > self.reserved_grace_seconds or not _alive(e.pid))
        ]
        if stale:
            self.journal.settle([(e.id, TxState.ABANDONED, None, None) for e in stale])
        held = {e.nonce for e in ahead if e not in stale}
        if held:
            for nonce in range(max(latest, pending), max(held)):
                if nonce not in held:
                    self._fill(sender, nonce)
        first = next((e for e in sent if e.nonce == latest), None)
        # First in line, and refused when sent again (a fee cap under the base fee) or stalled:
        # replaced if its fees are under the market's.
        if first is not None and (not known[first.id] or now - (first.sent_at or now) > self.stall_seconds):
            self._unstick(first)

    def _fill(self, sender: str, nonce: int) -> None:
        row = self.journal.allocate_at(self.node.chain_id, sender, nonce, kind=FILLER)
        if row is None:
            return
        max_fee, tip = self.node.fees()
        filler = Payload(to=sender, data=b"", value=0, gas=CANCEL_GAS)
        if self.sending.resend(row, filler, max_fee, tip, kind=FILLER) is None:
            self.journal.settle([(row.id, TxState.ABANDONED, None, None)])

    def _unstick(self, entry: JournalEntry) -> None:
        """Replace the first transaction in line when its fees are under the market's."""
        max_fee, tip = self.node.fees()
        base_fee = (max_fee - tip) // BASE_FEE_HEADROOM
        if entry.max_fee >= base_fee + entry.tip and entry.tip >= tip:
            return  # its fees are fine: the chain is slow, not the transaction
        new_tip = max(bumped(entry.tip), tip)
        new_max = max(bumped(entry.max_fee), max_fee, new_tip)
        kinds = self.journal.hashes(entry.id)
        payload = _cancel_payload(entry) if kinds.get(entry.tx_hash or "") == CANCEL else entry.payload
        self.sending.resend(entry, payload, new_max, new_tip, kind=CANCEL if payload != entry.payload else REPLACEMENT)

    def _cancel(self, entry_ids: list[int]) -> None:
        for entry in self.journal.entries(entry_ids):
            if entry.state not in LIVE:
                continue
            max_fee, tip = self.node.fees()
            new_tip = max(bumped(entry.tip), tip)
            new_max = max(bumped(entry.max_fee), max_fee, new_tip)
            self.sending.resend(entry, _cancel_payload(entry), new_max, new_tip, kind=CANCEL)


def _cancel_payload(entry: JournalEntry) -> Payload:
    return Payload(to=entry.sender, data=b"", value=0, gas=CANCEL_GAS)


def _final_error(entry: JournalEntry) -> TransactionError | None:
    """The outcome another waiter already settled, when it is not a success."""
    if entry.state is TxState.CANCELLED:
        return TransactionCancelled(
            f"transaction {entry.tx_hash} (nonce {entry.nonce}) was cancelled: nothing landed",
            tx_hash=entry.tx_hash or "",
            nonce=entry.nonce,
        )
    if entry.state is TxState.REPLACED:
        return TransactionReplaced(
            f"transaction {entry.tx_hash} (nonce {entry.nonce}) can never land: another transaction took its nonce",
            tx_hash=entry.tx_hash or "",
            nonce=entry.nonce,
        )
    if entry.state in (TxState.FAILED, TxState.ABANDONED):
        return TransactionError(f"transaction {entry.tx_hash} (nonce {entry.nonce}) was {entry.state.value}")
    return None


def _alive(pid: int) -> bool:
    """Whether the process that reserved a row still runs (on this machine: the journal is local)."""
    if pid <= 0 or pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unreachable(exc: ChainError) -> bool:
    return "not reachable" in str(exc)


def _hex(tx_hash: HexBytes | str) -> str:
    return HexBytes(tx_hash).to_0x_hex().lower()


__all__ = [
    "CANCEL_ON_GIVE_UP",
    "KEEP_ON_GIVE_UP",
    "PROBE_SECONDS",
    "STALL_SECONDS",
    "Outcome",
    "Tracker",
    "bumped",
]
