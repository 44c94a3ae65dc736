"""Building, signing and sending transactions: one at a time, or many from one signer in batches.

Transactions are signed locally (eth-account) and sent raw. Estimating gas runs the call first,
so a transaction that would revert raises its named error before anything is sent. Every
transaction takes its nonce from the journal (:mod:`~chaincrm.chain.journal`) and is written there,
signed, before it is broadcast, so that :mod:`~chaincrm.chain.tracking` can follow it until its
outcome is final (re-send it, bump its fee, cancel it). A nonce another writer took first ("nonce
too low", "replacement transaction underpriced" for a transaction not ours) is not an error: the
call takes a new nonce and signs again. A node that cannot be reached at the moment of sending
leaves the transaction journaled, to be re-sent while it is awaited.

Many transactions from one signer go out with consecutive nonces in JSON-RPC batches, without
waiting for each receipt; :meth:`Sending.send_many` returns exactly what landed, or raises
:class:`~chaincrm.errors.PartiallyLanded` naming what landed and what did not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, Web3RPCError
from web3.types import Nonce, TxParams, TxReceipt, Wei

from chaincrm.chain.batching import RPC_BATCH_SIZE, batch_request, refusal
from chaincrm.chain.codec import calldata
from chaincrm.chain.connection import Connection
from chaincrm.chain.journal import ORIGINAL, JournalEntry, Payload, Signed, TxState
from chaincrm.chain.nonces import NonceManager
from chaincrm.chain.receipts import MinedTx, Receipts
from chaincrm.chain.senders import NodeAccount, Sender, Transactable, node_account
from chaincrm.errors import ChainError, PartiallyLanded, TransactionError

if TYPE_CHECKING:
    from chaincrm.chain.tracking import Tracker

GAS_MARGIN_NUMERATOR = 6  # gas limit = estimate x 6/5: state can change between estimate and inclusion
GAS_MARGIN_DENOMINATOR = 5
PLAIN_TRANSFER_GAS = 21_000
NONCE_ATTEMPTS = 8  # times a call takes a new nonce after another writer took the one it had

_KNOWN = ("already known", "already imported", "known transaction", "already in the pool", "already exists")
_NONCE_TAKEN = ("nonce too low", "replacement transaction underpriced", "nonce has already been used", "too low")

SENT, KNOWN, NONCE_TAKEN, UNREACHABLE = "sent", "known", "nonce taken", "unreachable"


def classify(message: str | None) -> str:
    """What a node's answer to a raw transaction means: sent, known already, nonce taken, or a
    refusal (the message itself)."""
    if message is None:
        return SENT
    lowered = message.lower()
    if any(hint in lowered for hint in _KNOWN):
        return KNOWN
    if any(hint in lowered for hint in _NONCE_TAKEN):
        return NONCE_TAKEN
    return message


class Sending:
    """Sends transactions over one connection, with its nonces, and waits through its tracker."""

    def __init__(self, node: Connection, nonces: NonceManager, receipts: Receipts) -> None:
        from chaincrm.chain.tracking import Tracker

        self.node = node
        self.nonces = nonces
        self.receipts = receipts
        self.journal = nonces.journal
        self.signers: dict[str, Sender] = {}  # in memory only: who can sign replacements and cancels
        self.tracker: Tracker = Tracker(node, self, receipts)

    def gas_limit(self, fn: Transactable, sender: Sender, *, value: int = 0) -> int:
        """The gas estimate with a margin; a call that would revert raises its named error here."""
        try:
            probe: TxParams = {"from": sender.address, "value": Wei(value)}
            estimate = self.node.rpc(lambda: fn.estimate_gas(probe))
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            raise self.node.decoded(exc) from None
        except Web3RPCError as exc:
            raise self.node.refused(exc) from None
        return int(estimate) * GAS_MARGIN_NUMERATOR // GAS_MARGIN_DENOMINATOR

    def build(self, fn: Transactable, sender: Sender, *, value: int = 0, gas: int | None = None) -> TxParams:
        """Build a complete, unsigned EIP-1559 transaction; estimating gas surfaces reverts here.

        Its nonce is reserved in the journal: a nonce nobody sends is filled by a no-op
        self-transfer when a later transaction waits behind it."""
        if gas is None:
            gas = self.gas_limit(fn, sender, value=value)
        payload = self.payload(fn, sender, value=value, gas=gas)
        (entry,) = self.nonces.allocate(sender.address)
        try:
            max_fee, tip = self.node.fees()
        except BaseException:
            self.journal.release(entry.id)
            raise
        return self._params(sender.address, entry.nonce, payload, max_fee, tip)

    def payload(self, fn: Transactable, sender: Sender, *, value: int, gas: int) -> Payload:
        """What the call does: destination, data, value and gas."""
        address = getattr(fn, "address", None)
        if address is not None:
            # web3's build_transaction re-validates and re-fills every field on each call, which
            # dominates the cost of pipelined sending; the fields are complete here.
            return Payload(to=to_checksum_address(address), data=calldata(fn), value=value, gas=gas)
        max_fee, tip = self.node.fees()  # a constructor: web3 assembles bytecode and arguments
        params: TxParams = {
            "from": sender.address,
            "value": Wei(value),
            "gas": gas,
            "maxFeePerGas": Wei(max_fee),
            "maxPriorityFeePerGas": Wei(tip),
            "chainId": self.node.chain_id,
            "nonce": Nonce(0),
        }
        built = fn.build_transaction(params)
        return Payload(to=None, data=bytes(HexBytes(built["data"])), value=value, gas=gas)

    def send(
        self,
        fn: Transactable,
        sender: Sender,
        *,
        value: int = 0,
        gas: int | None = None,
        record_key: str | None = None,
    ) -> HexBytes:
        """Sign and send one transaction; returns its hash without waiting. `record_key` names
        the record it writes (see :meth:`Tracker.landed`)."""
        if gas is None:
            gas = self.gas_limit(fn, sender, value=value)
        return self.send_payload(self.payload(fn, sender, value=value, gas=gas), sender, record_key=record_key)

    def transfer(self, to: str, value_wei: int, sender: Sender) -> TxReceipt:
        """Send plain ETH and wait for it."""
        payload = Payload(to=to_checksum_address(to), data=b"", value=value_wei, gas=PLAIN_TRANSFER_GAS)
        return self.tracker.wait(self.send_payload(payload, sender))

    def send_payload(self, payload: Payload, sender: Sender, *, record_key: str | None = None) -> HexBytes:
        """Take a nonce, sign, journal and broadcast `payload`; on "nonce taken" take another."""
        self.signers[sender.address] = sender
        for _ in range(NONCE_ATTEMPTS):
            (entry,) = self.nonces.allocate(sender.address, [record_key])
            try:
                max_fee, tip = self.node.fees()
            except BaseException:  # the node went away before anything was signed: give the nonce back
                self.journal.release(entry.id)
                raise
            outcome, tx_hash = self._sign_and_send(entry, payload, sender, max_fee, tip, kind=ORIGINAL)
            if outcome in (SENT, KNOWN, UNREACHABLE):
                return HexBytes(tx_hash)
            if outcome == NONCE_TAKEN:
                self.journal.settle([(entry.id, TxState.REPLACED, None, None)])
                continue
            self.journal.release(entry.id)
            raise TransactionError(f"the node refused the transaction: {outcome}")
        raise TransactionError(f"another writer took the nonce {NONCE_ATTEMPTS} times in a row; try again")

    def resend(self, entry: JournalEntry, payload: Payload, max_fee: int, tip: int, *, kind: str) -> str | None:
        """Sign `payload` at the row's nonce with these fees (a replacement, a cancel, a filler),
        journal it and broadcast it; None when nobody here can sign for the row's sender."""
        sender = self.signers.get(entry.sender)
        if sender is None:
            return None
        outcome, tx_hash = self._sign_and_send(entry, payload, sender, max_fee, tip, kind=kind)
        return tx_hash if outcome in (SENT, KNOWN, UNREACHABLE, NONCE_TAKEN) else None

    def send_many(
        self,
        calls: Sequence[tuple[Transactable, int]],
        sender: LocalAccount,
        *,
        gas: int,
        on_progress: Callable[[int], None] | None = None,
        raise_on_failure: bool = True,
        after_batch: Callable[[], None] | None = None,
        batch_size: int = RPC_BATCH_SIZE,
        record_keys: Sequence[str | None] | None = None,
    ) -> list[MinedTx]:
        """Sign many calls from one signer with consecutive nonces, send them in RPC batches of
        `batch_size`, and return the receipts of those that landed, in call order.

        At most two batches are in flight: a batch is sent, then the previous one's outcomes are
        read (tracked until final: re-sent if dropped, bumped if stuck on fees). A node holding
        thousands of pending transactions from one sender slows down (Anvil reorders its whole
        pool for every block it mines) and real nodes cap pending transactions per account, so an
        unbounded pipeline is slower, not faster. `gas` is the limit for each transaction
        (estimate one representative call first). `on_progress` is told how many landed, batch by
        batch. `record_keys` (one per call, or None) name the records: a call whose record key
        already has a journaled transaction is not sent again; its transaction is awaited.

        When every call landed, their receipts come back. When some did not (a revert when
        `raise_on_failure`, a refusal, a transaction given up and cancelled), no further batch is
        sent and :class:`~chaincrm.errors.PartiallyLanded` carries the receipts that landed
        (``landed``, at positions ``landed_at``) and, by position, why each other one did not
        (``not_landed``); when none landed, the first call's error is raised as it is.
        `after_batch` runs after each batch is sent (a development chain with automine off can
        mine the batch into one block there).
        """
        self.signers[sender.address] = sender
        keys = list(record_keys) if record_keys is not None else [None] * len(calls)
        if len(keys) != len(calls):
            raise ValueError("one record key per call")
        landed: dict[int, MinedTx] = {}
        failed: dict[int, Exception] = {}
        in_flight: list[tuple[int, int]] = []  # (position, journal row)
        known = self.journal.by_record(self.node.chain_id, [k for k in keys if k is not None])

        def collect() -> None:
            outcomes = self.tracker.settle([row for _, row in in_flight])
            before = len(landed)
            for position, row in in_flight:
                outcome = outcomes[row]
                if isinstance(outcome, MinedTx) and (outcome.status == 1 or not raise_on_failure):
                    landed[position] = outcome
                elif isinstance(outcome, MinedTx):
                    failed[position] = self.receipts.failure(
                        HexBytes(outcome.tx_hash), outcome.block_number, outcome.gas_used
                    )
                else:
                    failed[position] = outcome
            if on_progress is not None:
                on_progress(len(landed) - before)

        queue = list(range(len(calls)))
        attempts: dict[int, int] = defaultdict(int)
        while queue:
            batch, queue = queue[:batch_size], queue[batch_size:]
            if failed:
                failed.update(
                    {p: TransactionError("not sent: an earlier transaction of this call failed") for p in batch}
                )
                continue
            again = [p for p in batch if keys[p] is not None and keys[p] in known]
            fresh = [p for p in batch if p not in again]
            sent, retry = self._send_batch([(p, calls[p], keys[p]) for p in fresh], sender, gas, failed)
            sent += [(p, known[keys[p]].id) for p in again]  # type: ignore[index]
            for p in retry:
                attempts[p] += 1
                if attempts[p] >= NONCE_ATTEMPTS:
                    failed[p] = TransactionError(f"another writer took the nonce {NONCE_ATTEMPTS} times in a row")
            queue = [p for p in retry if p not in failed] + queue
            if after_batch is not None:
                after_batch()
            if in_flight:
                collect()
            in_flight = sent
        if in_flight:
            collect()
        if failed:
            order = sorted(landed)
            if not order:
                raise failed[min(failed)]
            raise PartiallyLanded(
                f"{len(order)} of {len(calls)} transactions landed; {len(failed)} did not "
                f"(first at position {min(failed)}: {failed[min(failed)]})",
                landed=[landed[p] for p in order],
                landed_at=order,
                not_landed=dict(sorted(failed.items())),
            )
        return [landed[p] for p in range(len(calls))]

    def _send_batch(
        self,
        items: Sequence[tuple[int, tuple[Transactable, int], str | None]],
        sender: LocalAccount,
        gas: int,
        failed: dict[int, Exception],
    ) -> tuple[list[tuple[int, int]], list[int]]:
        """Allocate, sign, journal and send one batch: (position, row) of those sent, and the
        positions whose nonce another writer took (to sign again with a new one)."""
        if not items:
            return [], []
        entries = self.nonces.allocate(sender.address, [key for _, _, key in items])
        signed: list[tuple[int, Payload, Signed]] = []
        try:
            max_fee, tip = self.node.fees()
            for entry, (_, (fn, value), _) in zip(entries, items, strict=True):
                payload = self.payload(fn, sender, value=value, gas=gas)
                signed.append((entry.id, payload, self._sign(sender, entry.nonce, payload, max_fee, tip)))
        except BaseException:
            # Nothing was journaled as signed (the node went away, a call could not be encoded):
            # give the nonces back, last first, rather than leave rows a filler must take later.
            for entry in reversed(entries):
                self.journal.release(entry.id)
            raise
        self.journal.signed(signed)
        outcomes = self._broadcast([s.raw for _, _, s in signed])
        sent: list[tuple[int, int]] = []
        retry: list[int] = []
        for entry, (position, _, _), outcome in zip(entries, items, outcomes, strict=True):
            if outcome in (SENT, KNOWN, UNREACHABLE):
                sent.append((position, entry.id))
            elif outcome == NONCE_TAKEN:
                self.journal.settle([(entry.id, TxState.REPLACED, None, None)])
                retry.append(position)
            else:
                self.journal.release(entry.id)
                failed[position] = TransactionError(f"the node refused transaction {position + 1}: {outcome}")
        return sent, retry

    def _sign_and_send(
        self, entry: JournalEntry, payload: Payload, sender: Sender, max_fee: int, tip: int, *, kind: str
    ) -> tuple[str, str]:
        """(outcome, hash) of signing and sending `payload` at the row's nonce."""
        if isinstance(sender, NodeAccount):
            return self._send_unlocked(entry, payload, max_fee, tip, kind=kind)
        signed = self._sign(sender, entry.nonce, payload, max_fee, tip)
        if kind == ORIGINAL or entry.state is TxState.RESERVED:
            self.journal.signed([(entry.id, payload, signed)], kind=kind)
        else:
            self.journal.resigned(entry.id, signed, kind=kind)
        (outcome,) = self._broadcast([signed.raw])
        return outcome, signed.tx_hash

    def _sign(self, sender: LocalAccount, nonce: int, payload: Payload, max_fee: int, tip: int) -> Signed:
        raw = bytes(sender.sign_transaction(self._params(sender.address, nonce, payload, max_fee, tip)).raw_transaction)  # type: ignore[arg-type]
        return Signed(tx_hash="0x" + keccak(raw).hex(), raw=raw, max_fee=max_fee, tip=tip)

    def _params(self, address: ChecksumAddress, nonce: int, payload: Payload, max_fee: int, tip: int) -> TxParams:
        params: TxParams = {
            "from": address,
            "value": Wei(payload.value),
            "gas": payload.gas,
            "maxFeePerGas": Wei(max_fee),
            "maxPriorityFeePerGas": Wei(tip),
            "chainId": self.node.chain_id,
            "nonce": Nonce(nonce),
            "data": HexBytes(payload.data),
        }
        if payload.to is not None:
            params["to"] = to_checksum_address(payload.to)
        return params

    def broadcast(self, raws: Sequence[bytes]) -> list[str]:
        """Send signed transactions as they are (a re-broadcast): each one's outcome, as :func:`classify`."""
        return self._broadcast(raws)

    def _broadcast(self, raws: Sequence[bytes]) -> list[str]:
        calls = [("eth_sendRawTransaction", ["0x" + bytes(raw).hex()]) for raw in raws]
        if not calls:
            return []
        try:
            answers = batch_request(self.node.provider, calls, run=self.node.rpc, size=len(calls), what="transactions")
        except ChainError as exc:
            if "not reachable" in str(exc):
                return [UNREACHABLE] * len(raws)  # journaled: re-sent while awaited
            raise
        return [classify(refusal(answer)) for answer in answers]

    def _send_unlocked(
        self, entry: JournalEntry, payload: Payload, max_fee: int, tip: int, *, kind: str
    ) -> tuple[str, str]:
        """eth_sendTransaction straight to the provider (a node account: development only).

        Brownie's Web3 carries a gas-price strategy middleware that adds a legacy gasPrice to
        every eth_sendTransaction and then refuses the EIP-1559 fields we set; going to the
        provider keeps the transaction as built. The node signs, so a re-broadcast uses the raw
        transaction the node gives back, when it does."""
        tx = self._params(to_checksum_address(entry.sender), entry.nonce, payload, max_fee, tip)
        request = {key: _rpc_value(value) for key, value in tx.items()}
        provider = self.node.w3.provider
        response = self.node.rpc(lambda: provider.make_request("eth_sendTransaction", [request]))  # type: ignore[arg-type]
        if "error" in response:
            outcome = classify(str(response["error"].get("message")))
            return outcome, ""
        tx_hash = str(response["result"])
        raw_answer = provider.make_request("eth_getRawTransactionByHash", [tx_hash])  # type: ignore[arg-type]
        raw = bytes(HexBytes(raw_answer.get("result") or b""))
        signed = Signed(tx_hash=tx_hash.lower(), raw=raw, max_fee=max_fee, tip=tip)
        if kind == ORIGINAL or entry.state is TxState.RESERVED:
            self.journal.signed([(entry.id, payload, signed)], kind=kind)
        else:
            self.journal.resigned(entry.id, signed, kind=kind)
        return SENT, tx_hash


def _rpc_value(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return value


__all__ = [
    "GAS_MARGIN_DENOMINATOR",
    "GAS_MARGIN_NUMERATOR",
    "NONCE_ATTEMPTS",
    "PLAIN_TRANSFER_GAS",
    "NodeAccount",
    "Sender",
    "Sending",
    "Transactable",
    "classify",
    "node_account",
]
