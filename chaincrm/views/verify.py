"""Verify a claim about the CRM's records against any node: yes or no, with the block and transaction.

A claim (an interaction was logged, a deal reached a stage, an invoice was paid, a customer was
erased with this receipt) holds only if all of these hold for the event that records it:

* the log was emitted by the deployment's contract (registry, pipeline or escrow), not by
  another contract with the same event;
* the transaction that emitted it succeeded;
* the transaction is in the canonical chain: its receipt's block hash is the hash of the block
  the node serves at that height;
* the event's fields say what the claim says (customer, document, stage, amount, receipt).

An interaction's on-chain hash is the sha2-256 digest inside the CIDv0 of its *encrypted* document
(trust model v2): a note cannot be hashed to check it, since its ciphertext is under a random key
and nonce. So an interaction is named by that CID (or the digest), or by its transaction; and its
document can be re-read from IPFS (:meth:`Verifier.interaction` with ``fetch``): it must still be
stored, its bytes must hash to the recorded digest (recomputed here for a document of one Kubo
chunk, :func:`document_digest`), and with a reader's key it must decrypt as that customer's note.

An erasure claim checks the receipt's keccak256 against the chain and, given the receipt itself,
that it is for that customer and lists every document the chain ties to them (each profile
version, each interaction's document, each deal document), optionally that none of them is still
stored on the IPFS service.

A failed check is a :class:`Verdict` with ``verified`` False and a one-line reason; errors (a node
that cannot be reached, a record for another chain) are raised as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound

from chaincrm.chain import event_topic
from chaincrm.contracts.client import Crm
from chaincrm.contracts.registry import interactions_of_log
from chaincrm.errors import ConfigError
from chaincrm.models import Interaction, Stage
from chaincrm.storage import DocumentStore, digest_to_cid
from chaincrm.views.document_digest import UNIXFS_CHUNK_BYTES, document_digest
from chaincrm.views.logs import DeployedContract, DeploymentLogs
from chaincrm.views.proof_documents import Refuted, receipt_documents, reread_interaction

_INTERACTION_EVENTS = ("InteractionLogged", "InteractionsLogged")


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
class _Receipt:
    """A successful transaction in the canonical chain, as the checks need it."""

    tx_hash: str
    block_number: int
    block_hash: str
    confirmations: int
    logs: tuple[Any, ...]


@dataclass(frozen=True)
class _Found:
    """The event that records a claim: its transaction, its raw log and its decoded arguments."""

    receipt: _Receipt
    log: Any
    args: Mapping[str, Any]


@dataclass(frozen=True)
class _Source:
    """Which of the deployment's contracts records a claim, and what to call it in a reason."""

    contract: DeployedContract
    role: str  # "registry", "pipeline", "escrow"


class Verifier:
    """Checks claims against the chain one deployment record points at; `store` (the IPFS service)
    is needed only to re-read documents.

    Every claim goes the same way (:meth:`_find`): find the transaction (the one given, or the
    latest whose event matches), check it succeeded in the canonical chain, take the matching
    event the deployment's contract emitted in it, then check the claim's own fields."""

    def __init__(self, crm: Crm, store: DocumentStore | None = None) -> None:
        self.crm = crm
        self.store = store
        self.logs = DeploymentLogs(crm)

    # ------------------------------------------------------------------ claims

    def interaction(
        self,
        *,
        tx_hash: str | None = None,
        position: int | None = None,
        customer_id: int | None = None,
        content_hash: bytes | None = None,
        fetch: bool = False,
        reader: LocalAccount | None = None,
    ) -> Verdict:
        """An interaction was logged: by transaction (and position in a batch), by its document's
        digest (`content_hash`, the digest inside its CID), or both. `fetch` re-reads the document
        from the store and checks it; a `reader` also decrypts it."""
        claim = _interaction_claim(tx_hash, position, customer_id, content_hash)
        if tx_hash is None and content_hash is None:
            raise ConfigError("name the interaction: a transaction hash, or its document's CID (and customer)")
        if position is not None and tx_hash is None:
            raise ConfigError("a position in a batch needs the batch's transaction hash")
        if (fetch or reader is not None) and self.store is None:
            raise ConfigError("re-reading an interaction's document needs the IPFS service")

        def check() -> tuple[str, Evidence]:
            if tx_hash is None:
                assert content_hash is not None
                found = self._interaction_by_content(customer_id, content_hash)
                receipt = self._receipt(found.tx_hash)
            else:
                receipt = self._receipt(tx_hash)
                found = self._interaction_in(receipt, position, customer_id, content_hash)
            log = next(log for log in receipt.logs if int(log["logIndex"]) == found.log_index)
            self._require_from(log, self._registry)
            fields: dict[str, Any] = {
                "customer_id": found.customer_id,
                "kind": found.kind.label,
                "outcome": found.outcome.label,
                "author": found.author,
                "content_hash": "0x" + found.content_hash.hex(),
                "cid": str(digest_to_cid(found.content_hash)),
                "at": found.at,
                "position": found.position,
            }
            event = "InteractionsLogged" if _is_batch(self.crm, log) else "InteractionLogged"
            summary = (
                f"a {found.kind.label} with customer {found.customer_id} "
                f"({found.outcome.label.replace('_', ' ')}) by {found.author}, document {fields['cid']}"
            )
            if fetch or reader is not None:
                assert self.store is not None
                summary += reread_interaction(self.crm, self.store, found, fields, reader)
            return summary, self._evidence(event, receipt, log, fields)

        return self._verdict(claim, check)

    def stage_change(
        self, *, deal_id: int | None = None, to_stage: Stage | None = None, tx_hash: str | None = None
    ) -> Verdict:
        """A deal moved to a stage: by deal and stage, by transaction, or both."""
        if tx_hash is None and (deal_id is None or to_stage is None):
            raise ConfigError("name the stage change: a deal and the stage it moved to, or a transaction hash")
        move = (f"deal {deal_id}" if deal_id is not None else "a deal") + (
            f" to {_stage(to_stage)}" if to_stage is not None else " to any stage"
        )
        claim = f"a stage change of {move}" + (f" in transaction {tx_hash}" if tx_hash else "")
        pipeline = self.crm.pipeline

        def wanted(args: Mapping[str, Any]) -> bool:
            return (deal_id is None or int(args["dealId"]) == deal_id) and (
                to_stage is None or Stage(args["to"]) == to_stage
            )

        def moved(receipt: _Receipt, decoded: list[Mapping[str, Any]]) -> str:
            seen = ", ".join(f"deal {a['dealId']} to {_stage(Stage(a['to']))}" for a in decoded)
            return f"transaction {receipt.tx_hash} moved {seen}, not {move}"

        def check() -> tuple[str, Evidence]:
            found = self._find(
                _Source(pipeline, "pipeline"),
                "DealStageChanged",
                tx_hash=tx_hash,
                filters={"dealId": deal_id},
                wanted=wanted,
                none_recorded=f"deal {deal_id} never moved to {_stage(to_stage)} on the pipeline {pipeline.address}",
                none_in_tx=moved,
            )
            args = found.args
            fields = {
                "deal_id": int(args["dealId"]),
                "from": _stage(Stage(args["from"])),
                "to": _stage(Stage(args["to"])),
                "actor": to_checksum_address(args["actor"]),
                "at": int(args["at"]),
            }
            summary = f"deal {fields['deal_id']} moved {fields['from']} -> {fields['to']} by {fields['actor']}"
            return summary, self._evidence("DealStageChanged", found.receipt, found.log, fields)

        return self._verdict(claim, check)

    def payment(
        self,
        invoice_id: int,
        *,
        amount_wei: int | None = None,
        payer: str | None = None,
        tx_hash: str | None = None,
    ) -> Verdict:
        """An invoice was paid into escrow (optionally: this amount, by this payer, in this transaction)."""
        claim = f"a payment of invoice {invoice_id}" + (f" of {amount_wei} wei" if amount_wei is not None else "")
        escrow = self.crm.escrow
        payer = to_checksum_address(payer) if payer else None

        def check() -> tuple[str, Evidence]:
            found = self._find(
                _Source(escrow, "escrow"),
                "InvoicePaid",
                tx_hash=tx_hash,
                filters={"invoiceId": invoice_id},
                wanted=lambda args: int(args["invoiceId"]) == invoice_id,
                none_recorded=f"invoice {invoice_id} has no InvoicePaid event from the escrow {escrow.address}",
                none_in_tx=lambda receipt, _: (
                    f"transaction {receipt.tx_hash} pays no InvoicePaid for invoice {invoice_id}"
                ),
            )
            paid_wei = int(found.args["amount"])
            paid_by = to_checksum_address(found.args["payer"])
            where = f"(block {found.receipt.block_number}, tx {found.receipt.tx_hash})"
            if amount_wei is not None and paid_wei != amount_wei:
                raise Refuted(f"invoice {invoice_id} was paid {paid_wei} wei, not {amount_wei} wei {where}")
            if payer is not None and paid_by != payer:
                raise Refuted(f"invoice {invoice_id} was paid by {paid_by}, not {payer} {where}")
            fields = {
                "invoice_id": invoice_id,
                "amount_wei": str(paid_wei),
                "payer": paid_by,
                "at": int(found.args["at"]),
            }
            summary = f"invoice {invoice_id} was paid {paid_wei} wei into escrow by {paid_by}"
            return summary, self._evidence("InvoicePaid", found.receipt, found.log, fields)

        return self._verdict(claim, check)

    def erasure(
        self,
        customer_id: int,
        receipt_hash: bytes,
        *,
        tx_hash: str | None = None,
        receipt: bytes | None = None,
        check_store: bool = False,
    ) -> Verdict:
        """A customer was erased and the chain recorded keccak256 of exactly this receipt. Given the
        `receipt` itself: it is this customer's and lists every document the chain ties to them;
        `check_store`: none of them is still stored on the IPFS service."""
        claim = f"the erasure of customer {customer_id} with receipt 0x{receipt_hash.hex()}"
        registry = self.crm.registry
        if check_store and (receipt is None or self.store is None):
            raise ConfigError("checking that the erased documents are gone needs the receipt and the IPFS service")

        def check() -> tuple[str, Evidence]:
            found = self._find(
                self._registry,
                "CustomerErased",
                tx_hash=tx_hash,
                filters={"customerId": customer_id},
                wanted=lambda args: int(args["customerId"]) == customer_id,
                none_recorded=(
                    f"customer {customer_id} has no CustomerErased event from the registry {registry.address}"
                ),
                none_in_tx=lambda mined, _: f"transaction {mined.tx_hash} does not erase customer {customer_id}",
            )
            mined = found.receipt
            recorded = bytes(found.args["receiptHash"])
            if recorded != receipt_hash:
                raise Refuted(
                    f"the receipt's keccak256 is 0x{receipt_hash.hex()}, the chain recorded 0x{recorded.hex()} "
                    f"for customer {customer_id} (block {mined.block_number}, tx {mined.tx_hash})"
                )
            fields: dict[str, Any] = {
                "customer_id": customer_id,
                "receipt_hash": "0x" + recorded.hex(),
                "actor": to_checksum_address(found.args["actor"]),
                "at": int(found.args["at"]),
            }
            summary = f"customer {customer_id} was erased by {fields['actor']} with this receipt"
            if receipt is not None:
                summary += receipt_documents(self.crm, self.store, customer_id, receipt, fields, check_store)
            return summary, self._evidence("CustomerErased", mined, found.log, fields)

        return self._verdict(claim, check)

    # ------------------------------------------------------------------ finding the event

    @property
    def _registry(self) -> _Source:
        return _Source(self.crm.registry, "registry")

    def _find(
        self,
        source: _Source,
        event: str,
        *,
        tx_hash: str | None,
        filters: Mapping[str, Any],
        wanted: Callable[[Mapping[str, Any]], bool],
        none_recorded: str,
        none_in_tx: Callable[[_Receipt, list[Mapping[str, Any]]], str],
    ) -> _Found:
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
        return _Found(receipt, log, args)

    def _events_in(
        self, receipt: _Receipt, source: _Source, events: tuple[str, ...], *, named: str = "", verb: str = "emitted"
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

    def _require_from(self, log: Any, source: _Source) -> None:
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

    def _receipt(self, tx_hash: str) -> _Receipt:
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
        return _Receipt(shown, block_number, block_hash, latest - block_number + 1, tuple(receipt["logs"]))

    def _evidence(self, event: str, receipt: _Receipt, log: Any, fields: Mapping[str, Any]) -> Evidence:
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

    # ------------------------------------------------------------------ interactions

    def _interaction_by_content(self, customer_id: int | None, content_hash: bytes) -> Interaction:
        registry = self.crm.registry
        found = [
            i
            for i in registry.interactions(customer_id, from_block=self.logs.from_block)
            if i.content_hash == content_hash
        ]
        if not found:
            whose = f"with customer {customer_id} " if customer_id is not None else ""
            raise Refuted(
                f"no interaction {whose}has document {digest_to_cid(content_hash)} on the registry {registry.address}"
            )
        return found[-1]

    def _interaction_in(
        self, receipt: _Receipt, position: int | None, customer_id: int | None, content_hash: bytes | None
    ) -> Interaction:
        events = self.crm.registry.contract.events
        ours = self._events_in(receipt, self._registry, _INTERACTION_EVENTS, named="interaction", verb="logged")
        records: list[Interaction] = []
        for log in ours:
            event = events.InteractionsLogged if _is_batch(self.crm, log) else events.InteractionLogged
            decoded = event().process_log(log)
            records.extend(interactions_of_log(decoded["event"], decoded["args"], log))
        if position is not None:
            at_position = [r for r in records if r.position == position]
            if not at_position:
                raise Refuted(
                    f"transaction {receipt.tx_hash} logged {len(records)} interaction(s): "
                    f"there is no position {position}"
                )
            records = at_position
        candidates = records
        if customer_id is not None:
            candidates = [r for r in candidates if r.customer_id == customer_id]
            if not candidates:
                seen = sorted({r.customer_id for r in records})
                raise Refuted(
                    f"the interaction(s) in transaction {receipt.tx_hash} are with customer(s) "
                    f"{', '.join(map(str, seen))}, not {customer_id}"
                )
        if content_hash is not None:
            matching = [r for r in candidates if r.content_hash == content_hash]
            if not matching:
                recorded = (
                    f"has document {digest_to_cid(candidates[0].content_hash)}"
                    if len(candidates) == 1
                    else "has no record with that document"
                )
                raise Refuted(
                    f"the interaction in transaction {receipt.tx_hash} {recorded}, not {digest_to_cid(content_hash)}"
                )
            candidates = matching
        if len(candidates) > 1:
            raise ConfigError(
                f"transaction {receipt.tx_hash} logged {len(candidates)} interactions: "
                "name one with a position, a customer or its document's CID"
            )
        return candidates[0]


def _is_batch(crm: Crm, log: Any) -> bool:
    return bytes(log["topics"][0]) == event_topic(crm.registry.contract, "InteractionsLogged")


def _stage(stage: Stage | None) -> str:
    return stage.label if stage is not None else "?"


def _interaction_claim(
    tx_hash: str | None, position: int | None, customer_id: int | None, content_hash: bytes | None
) -> str:
    parts = ["an interaction"]
    if customer_id is not None:
        parts.append(f"with customer {customer_id}")
    if content_hash is not None:
        parts.append(f"with document {digest_to_cid(content_hash)}")
    if tx_hash is not None:
        parts.append(f"in transaction {tx_hash}" + (f" at position {position}" if position is not None else ""))
    return " ".join(parts)


__all__ = ["UNIXFS_CHUNK_BYTES", "Evidence", "Verdict", "Verifier", "document_digest"]
