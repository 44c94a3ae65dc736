"""A customer's deals as the chain recorded them: every stage change, document and invoice."""

from __future__ import annotations

from dataclasses import dataclass

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from chaincrm.models import Deal, DocumentKind, LossReason, StageChange
from chaincrm.storage import digest_to_cid
from chaincrm.views.logs import DeploymentLogs


@dataclass(frozen=True)
class DealDocument:
    deal_id: int
    kind: DocumentKind
    cid: str
    actor: ChecksumAddress
    at: int
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class DealHistory:
    deal: Deal
    changes: tuple[StageChange, ...]
    invoice_ids: tuple[int, ...]  # every invoice issued for it, oldest first (a re-issue adds one)
    documents: tuple[DealDocument, ...] = ()
    lost_reason: LossReason | None = None


def deal_histories(logs: DeploymentLogs, customer_id: int) -> tuple[DealHistory, ...]:
    """Every deal opened for the customer, oldest first, with its history."""
    pipeline = logs.crm.pipeline
    opened = logs.of(pipeline, "DealOpened", customerId=customer_id)
    deal_ids = sorted({int(log["args"]["dealId"]) for log in opened})
    if not deal_ids:
        return ()
    documents: dict[int, list[DealDocument]] = {}
    for log in logs.of(pipeline, "DealDocumentAttached", dealId=deal_ids):
        args = log["args"]
        document = DealDocument(
            deal_id=int(args["dealId"]),
            kind=DocumentKind(args["documentKind"]),
            cid=str(digest_to_cid(bytes(args["cidDigest"]))),
            actor=to_checksum_address(args["actor"]),
            at=logs.timestamp(int(log["blockNumber"])),
            block_number=int(log["blockNumber"]),
            tx_hash=log["transactionHash"].to_0x_hex(),
        )
        documents.setdefault(document.deal_id, []).append(document)
    reasons = {
        int(log["args"]["dealId"]): LossReason(log["args"]["reason"])
        for log in logs.of(pipeline, "DealLost", dealId=deal_ids)
    }
    return tuple(
        DealHistory(
            deal=pipeline.deal(deal_id),
            changes=tuple(pipeline.stage_changes(deal_id, from_block=logs.from_block)),
            invoice_ids=tuple(pipeline.invoices_of(deal_id)),
            documents=tuple(documents.get(deal_id, ())),
            lost_reason=reasons.get(deal_id),
        )
        for deal_id in deal_ids
    )
