"""What every claim :class:`~chaincrm.views.verify.Verifier` checks goes through: find the event
that records it, check its transaction succeeded in the canonical chain and that the deployment's
contract emitted it, and turn the outcome into a :class:`Verdict`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound

from chaincrm.chain import event_topic
from chaincrm.contracts.client import Crm
from chaincrm.errors import ConfigError
from chaincrm.storage import DocumentStore
from chaincrm.views.logs import DeployedContract, DeploymentLogs
from chaincrm.views.proof_documents import Refuted


@dataclass(frozen=True)
class Evidence:
    """Where a claim is recorded: the event, its contract, block and transaction. `confirmations`
    counts the blocks from the transaction's block to the chain's head, that block included."""

    event: str
    contract: ChecksumAddress
    tx_hash: str
    block_number: int
    block_hash: str
    log_index: int
    confirmations: int
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """Yes or no for one claim; `reason` is one line, `evidence` the event that was checked if any."""

    verified: bool
    claim: str
    reason: str
    evidence: Evidence | None = None


@dataclass(frozen=True)
class CanonicalReceipt:
    """A successful transaction in the canonical chain, as the checks need it."""

    tx_hash: str
    block_number: int
    block_hash: str
    confirmations: int
    logs: tuple[Any, ...]


@dataclass(frozen=True)
class FoundEvent:
    """The event that records a claim: its transaction, its raw log and its decoded arguments."""

    receipt: CanonicalReceipt
    log: Any
    args: Mapping[str, Any]


@dataclass(frozen=True)
class EventSource:
    """Which of the deployment's contracts records a claim, and what to call it in a reason."""

    contract: DeployedContract
    role: str  # "registry", "pipeline", "escrow"


class EventFinder:
    """The chain one deployment record points at, and the steps every claim shares (:meth:`_find`):
    find the transaction (the one given, or the latest whose event matches), check it succeeded in
    the canonical chain, take the matching event the deployment's contract emitted in it."""

    def __init__(self, crm: Crm, store: DocumentStore | None = None) -> None:
        self.crm = crm
        self.store = store
        self.logs = DeploymentLogs(crm)

    # ------------------------------------------------------------------ finding the event

    @property
    def _registry(self) -> EventSource:
        return EventSource(self.crm.registry, "registry")

    def _find(
        self,
        source: EventSource,
        event: str,
        *,
        tx_hash: str | None,
        filters: Mapping[str, Any],
        wanted: Callable[[Mapping[str, Any]], bool],
        none_recorded: str,
        none_in_tx: Callable[[CanonicalReceipt, list[Mapping[str, Any]]], str],
    ) -> FoundEvent:
        """The `event` that records a claim, the last one `wanted` accepts: in transaction `tx_hash`
        if given, else in the latest transaction whose `event` (looked up by the indexed `filters`)
        it accepts. Refuted with `none_recorded` when the chain has none, with `none_in_tx` (given
        the receipt and every such event in it) when the transaction has none that matches."""
        if tx_hash is None:
            indexed = {name: value for name, value in filters.items() if value is not None}
            recorded = [log for log in self.logs.of(source.contract, event, **indexed) if wanted(log["args"])]
            if not recorded:
                raise Refuted(none_recorded)
            tx_hash = recorded[-1]["transactionHash"].to_0x_hex()
        receipt = self._receipt(tx_hash)
        decoder = getattr(source.contract.contract.events, event)()
        decoded = [(log, decoder.process_log(log)["args"]) for log in self._events_in(receipt, source, (event,))]
        matching = [(log, args) for log, args in decoded if wanted(args)]
        if not matching:
            raise Refuted(none_in_tx(receipt, [args for _, args in decoded]))
        log, args = matching[-1]
        return FoundEvent(receipt, log, args)

    def _events_in(
        self,
        receipt: CanonicalReceipt,
        source: EventSource,
        events: tuple[str, ...],
        *,
        named: str = "",
        verb: str = "emitted",
    ) -> list[Any]:
        """The receipt's logs of `events` emitted by the deployment's contract; refuted if only
        another contract emitted one, or none was. `named` and `verb` word the reason (default:
        "the <event> ... was emitted by")."""
        named = named or events[0]
        topics = {event_topic(source.contract.contract, event) for event in events}
        same_event = [log for log in receipt.logs if log["topics"] and bytes(log["topics"][0]) in topics]
        address = source.contract.address
        ours = [log for log in same_event if to_checksum_address(log["address"]) == address]
        if ours:
            return ours
        if same_event:
            raise Refuted(
                f"the {named} in transaction {receipt.tx_hash} was {verb} by "
                f"{to_checksum_address(same_event[0]['address'])}, not the deployment's {source.role} {address}"
            )
        raise Refuted(f"transaction {receipt.tx_hash} {verb} no {named} (block {receipt.block_number})")

    def _require_from(self, log: Any, source: EventSource) -> None:
        address = source.contract.address
        if to_checksum_address(log["address"]) != address:
            raise Refuted(
                f"the log in transaction {HexBytes(log['transactionHash']).to_0x_hex()} was emitted by "
                f"{to_checksum_address(log['address'])}, not the deployment's {source.role} {address}"
            )

    # ------------------------------------------------------------------ the transaction

    def _verdict(self, claim: str, check: Callable[[], tuple[str, Evidence]]) -> Verdict:
        try:
            summary, evidence = check()
        except Refuted as refuted:
            return Verdict(False, claim, str(refuted))
        return Verdict(True, claim, summary, evidence)

    def _receipt(self, tx_hash: str) -> CanonicalReceipt:
        """The receipt of a successful transaction in the canonical chain, or a refutation."""
        w3 = self.crm.chain.w3
        try:
            digest = HexBytes(tx_hash)
        except ValueError:
            raise ConfigError(f"{tx_hash!r} is not a transaction hash") from None
        if len(digest) != 32:
            raise ConfigError(f"{tx_hash!r} is not a transaction hash (32 bytes)")
        shown = digest.to_0x_hex()
        try:
            receipt = self.crm.chain.rpc(lambda: w3.eth.get_transaction_receipt(digest))  # type: ignore[arg-type]
        except TransactionNotFound:
            raise Refuted(
                f"transaction {shown} is not on chain {self.crm.chain.chain_id} ({self.crm.chain.endpoint})"
            ) from None
        block_number = int(receipt["blockNumber"])
        block_hash = HexBytes(receipt["blockHash"]).to_0x_hex()
        if int(receipt["status"]) != 1:
            raise Refuted(f"transaction {shown} failed (reverted in block {block_number}): it recorded nothing")
        canonical = self.crm.chain.rpc(lambda: w3.eth.get_block(block_number))
        if HexBytes(canonical["hash"]).to_0x_hex() != block_hash:
            raise Refuted(
                f"transaction {shown} is not in the canonical chain: its receipt names block {block_hash} "
                f"at height {block_number}, the chain has {HexBytes(canonical['hash']).to_0x_hex()} there"
            )
        latest = int(self.crm.chain.rpc(lambda: w3.eth.block_number))
        return CanonicalReceipt(shown, block_number, block_hash, latest - block_number + 1, tuple(receipt["logs"]))

    def _evidence(self, event: str, receipt: CanonicalReceipt, log: Any, fields: Mapping[str, Any]) -> Evidence:
        return Evidence(
            event=event,
            contract=to_checksum_address(log["address"]),
            tx_hash=receipt.tx_hash,
            block_number=receipt.block_number,
            block_hash=receipt.block_hash,
            log_index=int(log["logIndex"]),
            confirmations=receipt.confirmations,
            fields=dict(fields),
        )
