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

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.contract import Contract
from web3.exceptions import TransactionNotFound

from chaincrm.chain import event_topic
from chaincrm.contracts.client import Crm
from chaincrm.contracts.registry import interactions_of_log
from chaincrm.errors import ConfigError
from chaincrm.models import Interaction, Stage
from chaincrm.storage import Cid, DocumentStore, digest_to_cid

UNIXFS_CHUNK_BYTES = 262_144  # Kubo's default chunker: a document up to this size is one block
_UNIXFS_FILE = 2
RECEIPT_FORMAT = "chaincrm.erasure-receipt.v2"


def document_digest(data: bytes) -> bytes | None:
    """The sha2-256 digest in the CIDv0 Kubo gives `data` when it stores it with its defaults (what
    the chain records for an interaction), computed locally; None for a document larger than one
    chunk, which Kubo splits into a tree (then only the node's answer names it).

    One chunk is a dag-pb node whose Data is a UnixFS File message (type, data, file size)."""
    if len(data) > UNIXFS_CHUNK_BYTES:
        return None
    unixfs = _field_varint(1, _UNIXFS_FILE)
    if data:
        unixfs += _field_bytes(2, data)
    unixfs += _field_varint(3, len(data))
    return hashlib.sha256(_field_bytes(1, unixfs)).digest()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _field_bytes(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value


@dataclass(frozen=True)
class Evidence:
    """Where a claim is recorded: the event, its contract, block and transaction."""

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


class _Refuted(Exception):
    """A check failed: the claim does not hold, for the reason given."""


@dataclass(frozen=True)
class _Receipt:
    tx_hash: str
    block_number: int
    block_hash: str
    confirmations: int
    logs: tuple[Any, ...]


class Verifier:
    """Checks claims against the chain one deployment record points at; `store` (the IPFS service)
    is needed only to re-read documents."""

    def __init__(self, crm: Crm, store: DocumentStore | None = None) -> None:
        self.crm = crm
        self.store = store

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
            self._require_from(log, self.crm.registry.address, "registry")
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
                summary += self._reread(found, fields, reader)
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

        def check() -> tuple[str, Evidence]:
            if tx_hash is None:
                matches = [
                    c for c in pipeline.stage_changes(deal_id, from_block=self._from_block) if c.to_stage == to_stage
                ]
                if not matches:
                    raise _Refuted(
                        f"deal {deal_id} never moved to {_stage(to_stage)} on the pipeline {pipeline.address}"
                    )
                receipt = self._receipt(matches[-1].tx_hash)
            else:
                receipt = self._receipt(tx_hash)
            logs = self._events_in(receipt, pipeline.contract, "DealStageChanged", pipeline.address, "pipeline")
            decoded = [(log, pipeline.contract.events.DealStageChanged().process_log(log)["args"]) for log in logs]
            wanted = [
                (log, args)
                for log, args in decoded
                if (deal_id is None or int(args["dealId"]) == deal_id)
                and (to_stage is None or Stage(args["to"]) == to_stage)
            ]
            if not wanted:
                seen = ", ".join(f"deal {a['dealId']} to {_stage(Stage(a['to']))}" for _, a in decoded)
                raise _Refuted(f"transaction {receipt.tx_hash} moved {seen}, not {move}")
            log, args = wanted[-1]
            fields = {
                "deal_id": int(args["dealId"]),
                "from": _stage(Stage(args["from"])),
                "to": _stage(Stage(args["to"])),
                "actor": to_checksum_address(args["actor"]),
                "at": int(args["at"]),
            }
            summary = f"deal {fields['deal_id']} moved {fields['from']} -> {fields['to']} by {fields['actor']}"
            return summary, self._evidence("DealStageChanged", receipt, log, fields)

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
            if tx_hash is None:
                paid = self.crm.chain.rpc(
                    lambda: escrow.contract.events.InvoicePaid().get_logs(
                        from_block=self._from_block, argument_filters={"invoiceId": invoice_id}
                    )
                )
                if not paid:
                    raise _Refuted(f"invoice {invoice_id} has no InvoicePaid event from the escrow {escrow.address}")
                receipt = self._receipt(paid[-1]["transactionHash"].to_0x_hex())
            else:
                receipt = self._receipt(tx_hash)
            logs = self._events_in(receipt, escrow.contract, "InvoicePaid", escrow.address, "escrow")
            ours = [
                (log, args)
                for log in logs
                if int((args := escrow.contract.events.InvoicePaid().process_log(log)["args"])["invoiceId"])
                == invoice_id
            ]
            if not ours:
                raise _Refuted(f"transaction {receipt.tx_hash} pays no InvoicePaid for invoice {invoice_id}")
            log, args = ours[-1]
            paid_wei = int(args["amount"])
            paid_by = to_checksum_address(args["payer"])
            where = f"(block {receipt.block_number}, tx {receipt.tx_hash})"
            if amount_wei is not None and paid_wei != amount_wei:
                raise _Refuted(f"invoice {invoice_id} was paid {paid_wei} wei, not {amount_wei} wei {where}")
            if payer is not None and paid_by != payer:
                raise _Refuted(f"invoice {invoice_id} was paid by {paid_by}, not {payer} {where}")
            fields = {"invoice_id": invoice_id, "amount_wei": str(paid_wei), "payer": paid_by, "at": int(args["at"])}
            summary = f"invoice {invoice_id} was paid {paid_wei} wei into escrow by {paid_by}"
            return summary, self._evidence("InvoicePaid", receipt, log, fields)

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
            if tx_hash is None:
                erased = self.crm.chain.rpc(
                    lambda: registry.contract.events.CustomerErased().get_logs(
                        from_block=self._from_block, argument_filters={"customerId": customer_id}
                    )
                )
                if not erased:
                    raise _Refuted(
                        f"customer {customer_id} has no CustomerErased event from the registry {registry.address}"
                    )
                mined = self._receipt(erased[-1]["transactionHash"].to_0x_hex())
            else:
                mined = self._receipt(tx_hash)
            logs = self._events_in(mined, registry.contract, "CustomerErased", registry.address, "registry")
            ours = [
                (log, args)
                for log in logs
                if int((args := registry.contract.events.CustomerErased().process_log(log)["args"])["customerId"])
                == customer_id
            ]
            if not ours:
                raise _Refuted(f"transaction {mined.tx_hash} does not erase customer {customer_id}")
            log, args = ours[-1]
            recorded = bytes(args["receiptHash"])
            if recorded != receipt_hash:
                raise _Refuted(
                    f"the receipt's keccak256 is 0x{receipt_hash.hex()}, the chain recorded 0x{recorded.hex()} "
                    f"for customer {customer_id} (block {mined.block_number}, tx {mined.tx_hash})"
                )
            fields: dict[str, Any] = {
                "customer_id": customer_id,
                "receipt_hash": "0x" + recorded.hex(),
                "actor": to_checksum_address(args["actor"]),
                "at": int(args["at"]),
            }
            summary = f"customer {customer_id} was erased by {fields['actor']} with this receipt"
            if receipt is not None:
                summary += self._receipt_documents(customer_id, receipt, fields, check_store)
            return summary, self._evidence("CustomerErased", mined, log, fields)

        return self._verdict(claim, check)

    # ------------------------------------------------------------------ the common checks

    @property
    def _from_block(self) -> int:
        return self.crm.deployment.block_number

    def _verdict(self, claim: str, check: Callable[[], tuple[str, Evidence]]) -> Verdict:
        try:
            summary, evidence = check()
        except _Refuted as refuted:
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
            raise _Refuted(
                f"transaction {shown} is not on chain {self.crm.chain.chain_id} ({self.crm.chain.endpoint})"
            ) from None
        block_number = int(receipt["blockNumber"])
        block_hash = HexBytes(receipt["blockHash"]).to_0x_hex()
        if int(receipt["status"]) != 1:
            raise _Refuted(f"transaction {shown} failed (reverted in block {block_number}): it recorded nothing")
        canonical = self.crm.chain.rpc(lambda: w3.eth.get_block(block_number))
        if HexBytes(canonical["hash"]).to_0x_hex() != block_hash:
            raise _Refuted(
                f"transaction {shown} is not in the canonical chain: its receipt names block {block_hash} "
                f"at height {block_number}, the chain has {HexBytes(canonical['hash']).to_0x_hex()} there"
            )
        latest = int(self.crm.chain.rpc(lambda: w3.eth.block_number))
        return _Receipt(shown, block_number, block_hash, latest - block_number + 1, tuple(receipt["logs"]))

    def _events_in(self, receipt: _Receipt, contract: Contract, event: str, address: str, what: str) -> list[Any]:
        """The receipt's `event` logs emitted by `address`; refuted if only another contract emitted one."""
        topic = event_topic(contract, event)
        same_event = [log for log in receipt.logs if log["topics"] and bytes(log["topics"][0]) == topic]
        ours = [log for log in same_event if to_checksum_address(log["address"]) == address]
        if ours:
            return ours
        if same_event:
            raise _Refuted(
                f"the {event} in transaction {receipt.tx_hash} was emitted by "
                f"{to_checksum_address(same_event[0]['address'])}, not the deployment's {what} {address}"
            )
        raise _Refuted(f"transaction {receipt.tx_hash} emitted no {event} (block {receipt.block_number})")

    def _require_from(self, log: Any, address: str, what: str) -> None:
        if to_checksum_address(log["address"]) != address:
            raise _Refuted(
                f"the log in transaction {HexBytes(log['transactionHash']).to_0x_hex()} was emitted by "
                f"{to_checksum_address(log['address'])}, not the deployment's {what} {address}"
            )

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

    # ------------------------------------------------------------------ documents

    def _reread(self, found: Interaction, fields: dict[str, Any], reader: LocalAccount | None) -> str:
        """Fetch the interaction's document again and check it; the summary's tail, or refuted."""
        from chaincrm.views.own_records import NoteReader

        assert self.store is not None
        cid = digest_to_cid(found.content_hash)
        if not self.store.has(cid):
            raise _Refuted(f"the document {cid} of the interaction is not stored on the IPFS service (erased?)")
        document = self.store.get(cid)
        digest = document_digest(document)
        if digest is not None and digest != found.content_hash:
            raise _Refuted(
                f"the IPFS service answered {cid} with {len(document)} bytes whose CID is {digest_to_cid(digest)}"
            )
        fields["document_bytes"] = len(document)
        fields["document_rehashed"] = digest is not None
        tail = f"; its document is stored ({len(document)} bytes" + (", re-hashed)" if digest is not None else ")")
        if reader is None:
            return tail
        view = NoteReader(self.crm, self.store, reader).read(found)
        if view.content is None:
            raise _Refuted(
                f"the document {cid} does not open as customer {found.customer_id}'s note: {view.unreadable}"
            )
        fields["note"] = view.content.note
        fields["attachments"] = list(view.attachment_names)
        return tail + f" and decrypts for {reader.address} as a note with {len(view.attachment_names)} attachment(s)"

    def _receipt_documents(self, customer_id: int, receipt: bytes, fields: dict[str, Any], check_store: bool) -> str:
        """Check the receipt's content against the chain; the summary's tail, or refuted."""
        from chaincrm.privacy.notes import documents_of

        try:
            parsed = json.loads(receipt)
            listed = {(str(item["kind"]), str(item["cid"])) for item in parsed["documents"]}
            format_, receipt_customer = parsed["format"], parsed["customer_id"]
        except (ValueError, UnicodeDecodeError, TypeError, KeyError):
            raise _Refuted("the receipt matches the chain's hash but is not a chaincrm erasure receipt") from None
        if format_ != RECEIPT_FORMAT:
            raise _Refuted(f"the receipt's format is {str(format_)[:40]!r}, not {RECEIPT_FORMAT}")
        if receipt_customer != customer_id:
            raise _Refuted(f"the receipt is for customer {receipt_customer}, not {customer_id}")
        expected = {(kind, str(cid)) for kind, cid in documents_of(self.crm, customer_id)}
        missing = sorted(expected - listed)
        if missing:
            shown = ", ".join(f"{kind} {cid}" for kind, cid in missing[:3]) + (", ..." if len(missing) > 3 else "")
            raise _Refuted(
                f"the receipt leaves out {len(missing)} document(s) the chain ties to customer {customer_id}: {shown}"
            )
        counts = Counter(kind for kind, _ in listed)
        fields["documents"] = dict(sorted(counts.items()))
        tail = (
            f"; it lists all {len(listed)} of their documents ("
            + ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items()))
            + ")"
        )
        if check_store:
            assert self.store is not None
            kept = sorted(cid for _, cid in expected if self.store.has(Cid(cid)))
            if kept:
                raise _Refuted(f"{len(kept)} erased document(s) are still stored on the IPFS service: {kept[0]}")
            tail += ", none of them stored on the IPFS service any more"
        return tail

    # ------------------------------------------------------------------ interactions

    def _interaction_by_content(self, customer_id: int | None, content_hash: bytes) -> Interaction:
        registry = self.crm.registry
        found = [
            i for i in registry.interactions(customer_id, from_block=self._from_block) if i.content_hash == content_hash
        ]
        if not found:
            whose = f"with customer {customer_id} " if customer_id is not None else ""
            raise _Refuted(
                f"no interaction {whose}has document {digest_to_cid(content_hash)} on the registry {registry.address}"
            )
        return found[-1]

    def _interaction_in(
        self, receipt: _Receipt, position: int | None, customer_id: int | None, content_hash: bytes | None
    ) -> Interaction:
        registry = self.crm.registry
        events = registry.contract.events
        single_topic = event_topic(registry.contract, "InteractionLogged")
        batch_topic = event_topic(registry.contract, "InteractionsLogged")
        same_event = [
            log for log in receipt.logs if log["topics"] and bytes(log["topics"][0]) in (single_topic, batch_topic)
        ]
        ours = [log for log in same_event if to_checksum_address(log["address"]) == registry.address]
        if not ours:
            if same_event:
                raise _Refuted(
                    f"the interaction in transaction {receipt.tx_hash} was logged by "
                    f"{to_checksum_address(same_event[0]['address'])}, not the deployment's registry {registry.address}"
                )
            raise _Refuted(f"transaction {receipt.tx_hash} logged no interaction (block {receipt.block_number})")
        records: list[Interaction] = []
        for log in ours:
            event = events.InteractionLogged if bytes(log["topics"][0]) == single_topic else events.InteractionsLogged
            decoded = event().process_log(log)
            records.extend(interactions_of_log(decoded["event"], decoded["args"], log))
        if position is not None:
            at_position = [r for r in records if r.position == position]
            if not at_position:
                raise _Refuted(
                    f"transaction {receipt.tx_hash} logged {len(records)} interaction(s): "
                    f"there is no position {position}"
                )
            records = at_position
        candidates = records
        if customer_id is not None:
            candidates = [r for r in candidates if r.customer_id == customer_id]
            if not candidates:
                seen = sorted({r.customer_id for r in records})
                raise _Refuted(
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
                raise _Refuted(
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
