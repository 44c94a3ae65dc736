"""The InvoiceEscrow contract: invoices, payment into escrow, release, refund."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_utils import to_checksum_address

from chaincrm.chain import Chain, Sender
from chaincrm.chain.artifacts import load_artifact
from chaincrm.chain.contract import contract_at
from chaincrm.models import Invoice, InvoiceStatus

if TYPE_CHECKING:
    from web3.contract import Contract
    from web3.types import TxReceipt


class Escrow:
    """Typed access to one deployed InvoiceEscrow."""

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.address = to_checksum_address(address)
        self.contract: Contract = contract_at(chain, "InvoiceEscrow", self.address, load_artifact("InvoiceEscrow").abi)

    def invoice(self, invoice_id: int) -> Invoice:
        return Invoice.from_chain(invoice_id, self.chain.call(self.contract.functions.invoiceOf(invoice_id)))

    def invoice_count(self) -> int:
        return int(self.chain.call(self.contract.functions.invoiceCount()))

    def invoices(self) -> list[Invoice]:
        """Every invoice, read in JSON-RPC batches of `invoiceOf` calls at one block."""
        block = self.chain.block_number("latest")  # the count and the rows agree
        count = int(self.chain.call(self.contract.functions.invoiceCount(), block=block))
        ids = range(1, count + 1)
        rows = self.chain.call_many([self.contract.functions.invoiceOf(invoice_id) for invoice_id in ids], block=block)
        return [Invoice.from_chain(invoice_id, raw) for invoice_id, raw in zip(ids, rows, strict=True)]

    def pay(self, invoice_id: int, sender: Sender, amount_wei: int | None = None) -> TxReceipt:
        """Pay an invoice from `sender`'s wallet; by default exactly the amount it asks for."""
        if amount_wei is None:
            amount_wei = self.invoice(invoice_id).amount_wei
        return self.chain.transact(self.contract.functions.pay(invoice_id), sender, value=amount_wei)

    def confirm_delivery(self, invoice_id: int, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.confirmDelivery(invoice_id), sender)

    def dispute(self, invoice_id: int, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.dispute(invoice_id), sender)

    def release(self, invoice_id: int, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.release(invoice_id), sender)

    def refund(self, invoice_id: int, sender: Sender) -> TxReceipt:
        """Credit the invoice's funds to its payer (a manager); the payer withdraws them."""
        return self.chain.transact(self.contract.functions.refund(invoice_id), sender)

    def reclaim(self, invoice_id: int, sender: Sender) -> TxReceipt:
        """The payer takes back a disputed invoice's funds after its resolution deadline."""
        return self.chain.transact(self.contract.functions.reclaim(invoice_id), sender)

    def withdraw_refund(self, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.withdrawRefund(), sender)

    def refund_of(self, payer: str) -> int:
        return int(self.chain.call(self.contract.functions.refundOf(to_checksum_address(payer))))

    def cancel(self, invoice_id: int, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.cancel(invoice_id), sender)

    def propose_treasury(self, treasury: str, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.proposeTreasury(to_checksum_address(treasury)), sender)

    def cancel_treasury_change(self, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.cancelTreasuryChange(), sender)

    def accept_treasury(self, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.acceptTreasury(), sender)

    def pending_treasury(self) -> tuple[str | None, int]:
        account, effective_at = self.chain.call(self.contract.functions.pendingTreasury())
        return (None if int(account, 16) == 0 else to_checksum_address(account)), int(effective_at)

    def sweep(self, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.sweep(), sender)

    def treasury(self) -> str:
        """Where invoices paid now will be released to."""
        return to_checksum_address(self.chain.call(self.contract.functions.treasury()))

    def treasury_of(self, invoice: Invoice) -> str | None:
        """The treasury fixed when the invoice was paid (None while unpaid)."""
        if not invoice.treasury_epoch:
            return None
        return to_checksum_address(self.chain.call(self.contract.functions.treasuryOf(invoice.treasury_epoch)))

    def dispute_deadline(self, invoice_id: int) -> int | None:
        return int(self.chain.call(self.contract.functions.disputeDeadlineOf(invoice_id))) or None

    def liabilities_wei(self) -> int:
        return int(self.chain.call(self.contract.functions.liabilitiesWei()))

    def payment_reference(self, invoice_id: int) -> bytes:
        return bytes(self.chain.call(self.contract.functions.paymentReference(invoice_id)))

    def is_overdue(self, invoice_id: int) -> bool:
        return bool(self.chain.call(self.contract.functions.isOverdue(invoice_id)))

    def escrowed_wei(self) -> int:
        return self.chain.balance(self.address)

    def held_invoices(self) -> list[Invoice]:
        return [i for i in self.invoices() if i.status in (InvoiceStatus.PAID, InvoiceStatus.DISPUTED)]
