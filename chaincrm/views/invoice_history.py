"""A customer's invoices with everything that happened to each, and the refunds owed to their payers."""

from __future__ import annotations

from dataclasses import dataclass

from eth_typing import ChecksumAddress

from chaincrm.models import Invoice
from chaincrm.views.invoice_events import INVOICE_EVENTS, InvoiceEvent, invoice_event_of_log
from chaincrm.views.logs import DeploymentLogs


@dataclass(frozen=True)
class InvoiceHistory:
    invoice: Invoice
    events: tuple[InvoiceEvent, ...]
    treasury: ChecksumAddress | None = None  # fixed when it was paid


@dataclass(frozen=True)
class RefundWithdrawal:
    payer: ChecksumAddress
    amount_wei: int
    at: int
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class RefundAccount:
    """Refunds credited to one payer of the customer's invoices: what is owed now, and every
    withdrawal (a withdrawal takes everything credited to the payer, whichever invoice)."""

    payer: ChecksumAddress
    owed_wei: int
    credited: tuple[InvoiceEvent, ...]
    withdrawals: tuple[RefundWithdrawal, ...]


def invoice_histories(logs: DeploymentLogs, customer_id: int) -> tuple[InvoiceHistory, ...]:
    """Every invoice issued to the customer, oldest first, with its events in chain order."""
    escrow = logs.crm.escrow
    issuer = logs.crm.pipeline.address

    def fold(log: object) -> InvoiceEvent:
        return invoice_event_of_log(log, block_time=logs.timestamp, issuer=issuer)

    issued = logs.of(escrow, "InvoiceIssued", customerId=customer_id)
    invoice_ids = sorted({int(log["args"]["invoiceId"]) for log in issued})
    if not invoice_ids:
        return ()
    found: dict[int, list[InvoiceEvent]] = {}
    for event in map(fold, issued):
        found.setdefault(event.invoice_id, []).append(event)
    for name in INVOICE_EVENTS:
        if name == "InvoiceIssued":
            continue
        for event in map(fold, logs.of(escrow, name, invoiceId=invoice_ids)):
            found.setdefault(event.invoice_id, []).append(event)
    histories = []
    for invoice_id in invoice_ids:
        events = sorted(found.get(invoice_id, ()), key=lambda e: (e.block_number, e.at))
        treasury = next((e.to for e in events if e.what == "paid"), None)
        histories.append(InvoiceHistory(escrow.invoice(invoice_id), tuple(events), treasury))
    return tuple(histories)


def refund_accounts(logs: DeploymentLogs, histories: tuple[InvoiceHistory, ...]) -> tuple[RefundAccount, ...]:
    """Per payer of these invoices: refunds credited to it and what it still may withdraw."""
    escrow = logs.crm.escrow
    accounts = []
    for payer in sorted({history.invoice.payer for history in histories}):
        credited = tuple(
            event
            for history in histories
            if history.invoice.payer == payer
            for event in history.events
            if event.what == "refunded"
        )
        withdrawals = tuple(
            RefundWithdrawal(
                payer=payer,
                amount_wei=int(log["args"]["amount"]),
                at=logs.timestamp(int(log["blockNumber"])),
                block_number=int(log["blockNumber"]),
                tx_hash=log["transactionHash"].to_0x_hex(),
            )
            for log in logs.of(escrow, "RefundWithdrawn", payer=payer)
        )
        owed = escrow.refund_of(payer)
        if credited or withdrawals or owed:
            accounts.append(RefundAccount(payer, owed, credited, withdrawals))
    return tuple(accounts)
