"""Read-side views straight from the chain: a customer's timeline and the pipeline by stage."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from chaincrm.client import Crm
from chaincrm.models import Stage, StageChange


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


def customer_timeline(crm: Crm, customer_id: int, from_block: int = 0) -> list[TimelineEntry]:
    """Everything the chain recorded about one customer, oldest first."""
    crm.registry.customer(customer_id)  # CustomerUnknown for an id that was never registered
    entries: list[TimelineEntry] = []
    registry_events = crm.registry.contract.events
    for log in registry_events.CustomerRegistered().get_logs(
        from_block=from_block, argument_filters={"customerId": customer_id}
    ):
        entries.append(_entry(crm, log, "registered", "", log["args"]["registrar"]))
    for log in registry_events.ProfileUpdated().get_logs(
        from_block=from_block, argument_filters={"customerId": customer_id}
    ):
        entries.append(_entry(crm, log, "profile", f"version {log['args']['version']}", log["args"]["actor"]))
    for log in registry_events.AccessGranted().get_logs(
        from_block=from_block, argument_filters={"customerId": customer_id}
    ):
        entries.append(
            _entry(
                crm,
                log,
                "access granted",
                f"{log['args']['staff']} purpose {log['args']['purpose']}",
                log["args"]["actor"],
            )
        )
    for log in registry_events.AccessRevoked().get_logs(
        from_block=from_block, argument_filters={"customerId": customer_id}
    ):
        entries.append(_entry(crm, log, "access revoked", str(log["args"]["staff"]), log["args"]["actor"]))
    for log in registry_events.CustomerErased().get_logs(
        from_block=from_block, argument_filters={"customerId": customer_id}
    ):
        entries.append(
            _entry(
                crm, log, "erased", "receipt 0x" + bytes(log["args"]["receiptHash"]).hex()[:16], log["args"]["actor"]
            )
        )
    for interaction in crm.registry.interactions(customer_id, from_block=from_block):
        entries.append(
            TimelineEntry(
                at=interaction.at,
                block_number=interaction.block_number,
                what=f"interaction: {interaction.kind.name.lower()}",
                detail=interaction.outcome.name.lower().replace("_", " "),
                actor=interaction.author,
                tx_hash=interaction.tx_hash,
            )
        )
    deal_ids = {
        int(log["args"]["dealId"])
        for log in crm.pipeline.contract.events.DealOpened().get_logs(
            from_block=from_block, argument_filters={"customerId": customer_id}
        )
    }
    for deal_id in sorted(deal_ids):
        for change in crm.pipeline.stage_changes(deal_id, from_block=from_block):
            entries.append(
                TimelineEntry(
                    change.at, change.block_number, f"deal {deal_id}", _stage_move(change), change.actor, change.tx_hash
                )
            )
    escrow_events = crm.escrow.contract.events
    for log in escrow_events.InvoiceIssued().get_logs(
        from_block=from_block, argument_filters={"customerId": customer_id}
    ):
        invoice_id = int(log["args"]["invoiceId"])
        entries.append(
            _entry(
                crm,
                log,
                f"invoice {invoice_id}",
                f"issued {log['args']['amount'] / 10**18:.4f} ETH",
                crm.pipeline.address,
            )
        )
        for paid in escrow_events.InvoicePaid().get_logs(
            from_block=from_block, argument_filters={"invoiceId": invoice_id}
        ):
            entries.append(_entry(crm, paid, f"invoice {invoice_id}", "paid into escrow", paid["args"]["payer"]))
        for released in escrow_events.InvoiceReleased().get_logs(
            from_block=from_block, argument_filters={"invoiceId": invoice_id}
        ):
            entries.append(
                _entry(crm, released, f"invoice {invoice_id}", "released to treasury", released["args"]["actor"])
            )
        for refunded in escrow_events.InvoiceRefunded().get_logs(
            from_block=from_block, argument_filters={"invoiceId": invoice_id}
        ):
            entries.append(_entry(crm, refunded, f"invoice {invoice_id}", "refunded", refunded["args"]["actor"]))
    entries.sort(key=lambda entry: (entry.block_number, entry.at))
    return entries


def pipeline_by_stage(crm: Crm) -> list[StageSummary]:
    counts: Counter[Stage] = Counter()
    values: Counter[Stage] = Counter()
    for deal in crm.pipeline.deals():
        counts[deal.stage] += 1
        values[deal.stage] += deal.value_wei
    return [StageSummary(stage, counts[stage], values[stage]) for stage in Stage if stage is not Stage.NONE]


def _stage_move(change: StageChange) -> str:
    if change.from_stage is Stage.NONE:
        return f"opened at {change.to_stage.name.title()}"
    return f"{change.from_stage.name.title()} -> {change.to_stage.name.title()}"


def _entry(crm: Crm, log: object, what: str, detail: str, actor: str) -> TimelineEntry:
    block_number = int(log["blockNumber"])  # type: ignore[index]
    args = log["args"]  # type: ignore[index]
    at = int(args["at"]) if "at" in args else _timestamp(crm, block_number)
    return TimelineEntry(at, block_number, what, detail, str(actor), log["transactionHash"].to_0x_hex())  # type: ignore[index]


def _timestamp(crm: Crm, block_number: int) -> int:
    return int(crm.chain.rpc(lambda: crm.chain.w3.eth.get_block(block_number))["timestamp"])
