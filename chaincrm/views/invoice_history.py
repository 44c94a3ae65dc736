"""A customer's invoices with everything that happened to each (payments on and off the chain,
loyalty points redeemed, awarded and restored), and the refunds owed to their payers, per currency.
Amounts are in each invoice's own currency (`Invoice.currency`, None for ETH)."""

from __future__ import annotations

from dataclasses import dataclass

from eth_typing import ChecksumAddress

from chaincrm.models import Invoice
from chaincrm.views.invoice_events import INVOICE_EVENTS, POINTS_EVENTS, InvoiceEvent, invoice_event_of_log
from chaincrm.views.logs import DeploymentLogs


@dataclass(frozen=True)
class InvoiceHistory:
    invoice: Invoice
    events: tuple[InvoiceEvent, ...]
    treasury: ChecksumAddress | None = None  # fixed when it was paid

    @property
    def points_redeemed(self) -> int:
        return sum(e.points or 0 for e in self.events if e.what == "points_redeemed")

    @property
    def points_awarded(self) -> int:
        return sum(e.points or 0 for e in self.events if e.what == "points_awarded")


@dataclass(frozen=True)
class RefundWithdrawal:
    payer: ChecksumAddress
    amount_wei: int
    at: int
    block_number: int
    tx_hash: str
    currency: ChecksumAddress | None = None  # the token withdrawn; None for ETH


@dataclass(frozen=True)
class RefundAccount:
    """Refunds credited to one payer of the customer's invoices in one currency: what is owed now,
    and every withdrawal (a withdrawal takes everything credited to the payer in that currency,
    whichever invoice)."""

    payer: ChecksumAddress
    owed_wei: int  # in the currency's base units
    credited: tuple[InvoiceEvent, ...]
    withdrawals: tuple[RefundWithdrawal, ...]
    currency: ChecksumAddress | None = None  # None: ETH


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
    for name in (*INVOICE_EVENTS, *POINTS_EVENTS):
        if name == "InvoiceIssued":
            continue
        for event in map(fold, logs.of(escrow, name, invoiceId=invoice_ids)):
            found.setdefault(event.invoice_id, []).append(event)
    histories = []
    for invoice_id in invoice_ids:
        events = sorted(found.get(invoice_id, ()), key=lambda e: (e.block_number, e.at))  # stable: log order kept
        treasury = next((e.to for e in events if e.what == "paid"), None)
        histories.append(InvoiceHistory(escrow.invoice(invoice_id), tuple(events), treasury))
    return tuple(histories)


def refund_accounts(logs: DeploymentLogs, histories: tuple[InvoiceHistory, ...]) -> tuple[RefundAccount, ...]:
    """Per payer of these invoices and currency: refunds credited to it and what it still may withdraw."""
    escrow = logs.crm.escrow
    accounts = []
    pairs = {(history.invoice.payer, history.invoice.currency) for history in histories}
    for payer, currency in sorted(pairs, key=lambda pair: (pair[0], pair[1] or "")):
        credited = tuple(
            event
            for history in histories
            if history.invoice.payer == payer and history.invoice.currency == currency
            for event in history.events
            if event.what == "refunded"
        )
        if currency is None:
            found = logs.of(escrow, "RefundWithdrawn", payer=payer)
            owed = escrow.refund_of(payer)
        else:
            found = logs.of(escrow, "TokenRefundWithdrawn", token=currency, payer=payer)
            owed = int(logs.crm.chain.call(escrow.contract.functions.tokenRefundOf(currency, payer)))
        withdrawals = tuple(
            RefundWithdrawal(
                payer=payer,
                amount_wei=int(log["args"]["amount"]),
                at=logs.timestamp(int(log["blockNumber"])),
                block_number=int(log["blockNumber"]),
                tx_hash=log["transactionHash"].to_0x_hex(),
                currency=currency,
            )
            for log in found
        )
        if credited or withdrawals or owed:
            accounts.append(RefundAccount(payer, owed, credited, withdrawals, currency))
    return tuple(accounts)
