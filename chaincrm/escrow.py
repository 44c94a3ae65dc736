"""The InvoiceEscrow contract: invoices, payment into escrow, release, refund."""

from __future__ import annotations

from eth_utils import to_checksum_address
from web3.contract import Contract
from web3.types import TxReceipt

from chaincrm.artifacts import load_artifact
from chaincrm.chain import Chain, Sender
from chaincrm.models import Invoice, InvoiceStatus


class Escrow:
    """Typed access to one deployed InvoiceEscrow."""

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.address = to_checksum_address(address)
        self.contract: Contract = chain.w3.eth.contract(address=self.address, abi=load_artifact("InvoiceEscrow").abi)

    def invoice(self, invoice_id: int) -> Invoice:
        return Invoice.from_chain(invoice_id, self.chain.call(self.contract.functions.invoiceOf(invoice_id)))

    def invoice_count(self) -> int:
        return int(self.chain.call(self.contract.functions.invoiceCount()))

    def invoices(self) -> list[Invoice]:
        return [self.invoice(invoice_id) for invoice_id in range(1, self.invoice_count() + 1)]

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
        return self.chain.transact(self.contract.functions.refund(invoice_id), sender)

    def cancel(self, invoice_id: int, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.cancel(invoice_id), sender)

    def set_treasury(self, treasury: str, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.setTreasury(to_checksum_address(treasury)), sender)

    def treasury(self) -> str:
        return to_checksum_address(self.chain.call(self.contract.functions.treasury()))

    def payment_reference(self, invoice_id: int) -> bytes:
        return bytes(self.chain.call(self.contract.functions.paymentReference(invoice_id)))

    def is_overdue(self, invoice_id: int) -> bool:
        return bool(self.chain.call(self.contract.functions.isOverdue(invoice_id)))

    def escrowed_wei(self) -> int:
        return int(self.chain.rpc(lambda: self.chain.w3.eth.get_balance(self.address)))

    def held_invoices(self) -> list[Invoice]:
        return [i for i in self.invoices() if i.status in (InvoiceStatus.PAID, InvoiceStatus.DISPUTED)]
