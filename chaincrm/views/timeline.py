"""Read-side views straight from the chain: a customer's timeline and the pipeline by stage.

Every log is read from the deployment's own contracts (a look-alike event from another address is
dropped) and every code is decoded whatever its value: a kind, outcome, purpose, stage or reason
this version does not know reads ``unknown(N)``. Given a document store and a reader's account,
the timeline also shows each interaction's note and attachments, decrypted for that reader.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from chaincrm.chain import emitted_by
from chaincrm.contracts.client import Crm
from chaincrm.models import ZERO_ADDRESS, DocumentKind, LossReason, Purpose, Stage
from chaincrm.storage import DocumentStore, digest_to_cid

WEI_PER_ETH = 10**18


@dataclass(frozen=True)
class TimelineEntry:
    at: int
    block_number: int
    what: str
    detail: str
    actor: str
    tx_hash: str


@dataclass(frozen=True)
class StageSummary:
    stage: Stage
    deals: int
    value_wei: int


def purpose_text(purpose: Purpose) -> str:
    """A purpose by name with the lawful basis the registry gives it: `support (contract)`."""
    return f"{purpose.label} ({purpose.basis.label})" if purpose.known else purpose.label


def customer_timeline(
    crm: Crm,
    customer_id: int,
    from_block: int = 0,
    *,
    store: DocumentStore | None = None,
    reader: LocalAccount | None = None,
) -> list[TimelineEntry]:
    """Everything the chain recorded about one customer, oldest first.

    With `store` and `reader` (a reader of the customer's data: their wallet, a manager, staff
    with a grant), each interaction's detail also carries its decrypted note and attachment
    names, or why they cannot be read.
    """
    crm.registry.customer(customer_id)  # CustomerUnknown for an id that was never registered
    start = max(from_block, 0)
    entries: list[tuple[tuple[int, int, int], TimelineEntry]] = []  # (block, log index, position): chain order
    registry, pipeline, escrow = crm.registry, crm.pipeline, crm.escrow

    def logs(contract: Any, event: str, **filters: Any) -> list[Any]:
        kind = getattr(contract.contract.events, event)
        found = crm.chain.rpc(lambda: kind().get_logs(from_block=start, argument_filters=filters))
        return emitted_by(contract.address, found)

    def add(log: Any, what: str, detail: str, actor: str) -> None:
        entries.append(((int(log["blockNumber"]), int(log["logIndex"]), 0), _entry(crm, log, what, detail, actor)))

    for log in logs(registry, "CustomerRegistered", customerId=customer_id):
        add(log, "registered", "", log["args"]["registrar"])
    for log in logs(registry, "ProfileUpdated", customerId=customer_id):
        readers = "0x" + bytes(log["args"]["readersHash"]).hex()[:8]
        add(log, "profile", f"version {log['args']['version']} (readers {readers}…)", log["args"]["actor"])
    for log in logs(registry, "WalletProposed", customerId=customer_id):
        wallet = log["args"]["wallet"]
        detail = "proposal withdrawn" if wallet == ZERO_ADDRESS else f"{wallet} proposed, not bound until it accepts"
        add(log, "wallet", detail, log["args"]["proposer"])
    for log in logs(registry, "WalletAccepted", customerId=customer_id):
        args = log["args"]
        relayed = "" if args["relayer"] == args["newWallet"] else f" (signature relayed by {args['relayer']})"
        add(log, "wallet", f"{args['newWallet']} accepted{relayed}", args["newWallet"])
    for log in logs(registry, "AccessGranted", customerId=customer_id):
        purpose = Purpose(log["args"]["purpose"])
        add(log, "access granted", f"{log['args']['staff']} for {purpose_text(purpose)}", log["args"]["actor"])
    for log in logs(registry, "AccessRevoked", customerId=customer_id):
        purpose = Purpose(log["args"]["purpose"])
        add(log, "access revoked", f"{log['args']['staff']} ({purpose_text(purpose)})", log["args"]["actor"])
    for log in logs(registry, "ConsentChanged", customerId=customer_id):
        purpose = Purpose(log["args"]["purpose"])
        verb = "given" if log["args"]["granted"] else "withdrawn"
        add(log, f"consent {verb}", purpose.label, log["args"]["relayer"])
    for log in logs(registry, "CustomerErased", customerId=customer_id):
        add(log, "erased", "receipt 0x" + bytes(log["args"]["receiptHash"]).hex()[:16], log["args"]["actor"])

    note_of = _note_reader(crm, store, reader)
    for interaction in registry.interactions(customer_id, from_block=start):
        detail = interaction.outcome.label.replace("_", " ")
        if note_of is not None:
            detail += note_of(interaction)
        entry = TimelineEntry(
            at=interaction.at,
            block_number=interaction.block_number,
            what=f"interaction: {interaction.kind.label}",
            detail=detail,
            actor=interaction.author,
            tx_hash=interaction.tx_hash,
        )
        entries.append(((interaction.block_number, interaction.log_index, interaction.position), entry))

    deal_ids = sorted({int(log["args"]["dealId"]) for log in logs(pipeline, "DealOpened", customerId=customer_id)})
    if deal_ids:
        for log in logs(pipeline, "DealStageChanged", dealId=deal_ids):
            move = _stage_move(Stage(log["args"]["from"]), Stage(log["args"]["to"]))
            add(log, f"deal {log['args']['dealId']}", move, log["args"]["actor"])
        for log in logs(pipeline, "DealLost", dealId=deal_ids):
            reason = LossReason(log["args"]["reason"]).label.replace("_", " ")
            add(log, f"deal {log['args']['dealId']}", f"lost: {reason}", log["args"]["actor"])
        for log in logs(pipeline, "DealReassigned", dealId=deal_ids):
            add(log, f"deal {log['args']['dealId']}", f"reassigned to {log['args']['newOwner']}", log["args"]["actor"])
        for log in logs(pipeline, "DealDocumentAttached", dealId=deal_ids):
            kind = DocumentKind(log["args"]["documentKind"]).label.replace("_", " ")
            cid = digest_to_cid(bytes(log["args"]["cidDigest"]))
            add(log, f"deal {log['args']['dealId']}", f"document: {kind} ({cid})", log["args"]["actor"])

    issued = logs(escrow, "InvoiceIssued", customerId=customer_id)
    invoice_ids = sorted({int(log["args"]["invoiceId"]) for log in issued})
    for log in issued:
        amount = _eth(int(log["args"]["amount"]))
        add(log, f"invoice {log['args']['invoiceId']}", f"issued {amount} for deal {log['args']['dealId']}",
            pipeline.address)  # fmt: skip
    if invoice_ids:
        for log in logs(escrow, "InvoicePaid", invoiceId=invoice_ids):
            detail = f"paid into escrow for treasury {log['args']['treasury']}"
            add(log, f"invoice {log['args']['invoiceId']}", detail, log["args"]["payer"])
        for log in logs(escrow, "InvoiceDisputed", invoiceId=invoice_ids):
            detail = f"disputed, to resolve by {log['args']['resolveBy']}"
            add(log, f"invoice {log['args']['invoiceId']}", detail, log["args"]["payer"])
        for log in logs(escrow, "InvoiceReleased", invoiceId=invoice_ids):
            detail = f"released to treasury {log['args']['treasury']}"
            add(log, f"invoice {log['args']['invoiceId']}", detail, log["args"]["actor"])
        for log in logs(escrow, "InvoiceRefunded", invoiceId=invoice_ids):
            detail = f"refunded: {_eth(int(log['args']['amount']))} credited to {log['args']['payer']}"
            add(log, f"invoice {log['args']['invoiceId']}", detail, log["args"]["actor"])
        for log in logs(escrow, "InvoiceCancelled", invoiceId=invoice_ids):
            add(log, f"invoice {log['args']['invoiceId']}", "cancelled", log["args"]["actor"])
    entries.sort(key=lambda pair: pair[0])
    return [entry for _, entry in entries]


def pipeline_by_stage(crm: Crm) -> list[StageSummary]:
    """Deals and their value per stage; a stage this version does not know gets a row of its own."""
    counts: Counter[Stage] = Counter()
    values: Counter[Stage] = Counter()
    for deal in crm.pipeline.deals():
        counts[deal.stage] += 1
        values[deal.stage] += deal.value_wei
    stages: list[Stage] = [stage for stage in Stage if stage is not Stage.NONE]
    stages += sorted((stage for stage in counts if not stage.known), key=int)
    return [StageSummary(stage, counts[stage], values[stage]) for stage in stages]


def _note_reader(crm: Crm, store: DocumentStore | None, reader: LocalAccount | None) -> Callable[[Any], str] | None:
    if store is None or reader is None:
        return None
    from chaincrm.views.own_records import NoteReader

    notes = NoteReader(crm, store, reader)

    def note_of(interaction: Any) -> str:
        view = notes.read(interaction)
        if view.content is None:
            return f"; note not readable: {view.unreadable}"
        text = f"; note: {view.content.note}"
        if view.attachment_names:
            text += f"; attachments: {', '.join(view.attachment_names)}"
        return text

    return note_of


def _eth(wei: int) -> str:
    return f"{wei / WEI_PER_ETH:.4f} ETH"


def _stage_move(from_stage: Stage, to_stage: Stage) -> str:
    if from_stage is Stage.NONE:
        return f"opened at {to_stage.label.title()}"
    return f"{from_stage.label.title()} -> {to_stage.label.title()}"


def _entry(crm: Crm, log: Any, what: str, detail: str, actor: str) -> TimelineEntry:
    block_number = int(log["blockNumber"])
    args = log["args"]
    at = int(args["at"]) if "at" in args else _timestamp(crm, block_number)
    return TimelineEntry(at, block_number, what, detail, to_checksum_address(actor), log["transactionHash"].to_0x_hex())


def _timestamp(crm: Crm, block_number: int) -> int:
    return int(crm.chain.rpc(lambda: crm.chain.w3.eth.get_block(block_number))["timestamp"])
