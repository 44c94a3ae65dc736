"""Payments made outside the chain (bank transfer, card, other), recorded by a manager.

The receipt (the document the manager has, plus the payment's reference, as JSON) is encrypted as
every document about a customer is (under the customer's content key, readable by the customer's
readers and by the customer: :mod:`chaincrm.privacy.content`), as content of kind
``payment-receipt`` of the invoice's customer, and stored on IPFS. Erasing the customer unpins it
with the rest of their documents (:func:`chaincrm.privacy.erasure.documents_of` finds it from the
invoice's ``InvoicePaidOffChain`` event). The chain gets
only the keccak-256 of the encrypted receipt and its CID digest; the reference never appears
on-chain, in an event or in a log.

Everything the contract would refuse is refused first (an invoice that is not open, a caller who
is not a manager: asked of the node with placeholder hashes), so no receipt is stored for a
payment that is never recorded; a receipt whose transaction reverts is unpinned.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaincrm.chain.reverts import revert_type
from chaincrm.contracts.escrow import PaymentMethod
from chaincrm.errors import ConfigError, PrivacyError
from chaincrm.models import InvoiceStatus

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from chaincrm.privacy.notes import CustomerNotes

RECEIPT_FORMAT = "chaincrm.payment-receipt.v1"
MAX_REFERENCE_CHARS = 200


@dataclass(frozen=True)
class RecordedPayment:
    invoice_id: int
    customer_id: int
    method: PaymentMethod
    cid: str
    cid_digest: bytes
    receipt_hash: bytes
    tx_hash: str
    block_number: int
    at: int


@dataclass(frozen=True)
class PaymentReceipt:
    invoice_id: int
    method: PaymentMethod
    reference: str
    file_name: str
    data: bytes


def receipt_document(invoice_id: int, method: PaymentMethod, reference: str, file_name: str, data: bytes) -> bytes:
    reference = reference.strip()
    if not reference or len(reference) > MAX_REFERENCE_CHARS or not reference.isprintable():
        raise ConfigError(f"--reference must be 1 to {MAX_REFERENCE_CHARS} printable characters")
    body = {
        "format": RECEIPT_FORMAT,
        "invoice_id": invoice_id,
        "method": method.name.lower(),
        "reference": reference,
        "file_name": file_name,
        "file_base64": base64.b64encode(data).decode("ascii"),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def record_off_chain_payment(
    notes: CustomerNotes,
    invoice_id: int,
    method: PaymentMethod,
    reference: str,
    file_name: str,
    data: bytes,
    manager: LocalAccount,
) -> RecordedPayment:
    """Seal the receipt, store it, and record the payment on-chain by its hashes (a manager)."""
    from chaincrm.privacy.content import PAYMENT_RECEIPT, seal_content
    from chaincrm.privacy.versions import send_or_unpin
    from chaincrm.storage import cid_to_digest, content_hash

    crm = notes.crm
    escrow = crm.escrow
    invoice = escrow.invoice(invoice_id)
    if invoice.status is not InvoiceStatus.OPEN:
        raise revert_type("InvoiceNotOpen")("InvoiceNotOpen", {"invoiceId": invoice_id, "status": int(invoice.status)})
    plain = receipt_document(invoice_id, method, reference, file_name, data)
    probe = escrow.contract.functions.recordOffChainPayment(invoice_id, int(method), b"\x01" * 32, b"\x01" * 32)
    crm.chain.gas_limit(probe, manager)  # refused here (not a manager, ...) before anything is stored
    document = seal_content(
        plain,
        keyring=notes.keyring(invoice.customer_id, manager),
        context=notes.context(invoice.customer_id, PAYMENT_RECEIPT),
    )
    cid = notes.store.put(document)
    digest = cid_to_digest(cid)
    receipt_hash = content_hash(document)
    receipt = send_or_unpin(
        notes.store, cid, lambda: escrow.record_off_chain_payment(invoice_id, method, receipt_hash, digest, manager)
    )
    recorded = escrow.invoice(invoice_id)
    return RecordedPayment(
        invoice_id=invoice_id,
        customer_id=invoice.customer_id,
        method=method,
        cid=str(cid),
        cid_digest=digest,
        receipt_hash=receipt_hash,
        tx_hash=receipt["transactionHash"].to_0x_hex(),
        block_number=int(receipt["blockNumber"]),
        at=recorded.paid_at or 0,
    )


def read_receipt(notes: CustomerNotes, invoice_id: int, reader: LocalAccount) -> PaymentReceipt:
    """Fetch, check and decrypt an off-chain payment's receipt (a reader of the customer's data)."""
    from chaincrm.privacy.content import PAYMENT_RECEIPT, open_content
    from chaincrm.storage import content_hash, digest_to_cid

    escrow = notes.crm.escrow
    invoice = escrow.invoice(invoice_id)
    recorded = escrow.off_chain_payment(invoice_id)
    if recorded is None:
        raise ConfigError(f"invoice {invoice_id} has no payment recorded off the chain")
    document = notes.store.get(digest_to_cid(recorded.cid_digest))
    if content_hash(document) != recorded.receipt_hash:
        raise PrivacyError(f"invoice {invoice_id}'s receipt does not match the hash recorded on-chain")
    plain = open_content(
        document,
        keyring=notes.keyring(invoice.customer_id, reader),
        context=notes.context(invoice.customer_id, PAYMENT_RECEIPT),
    )
    body = json.loads(plain)
    return PaymentReceipt(
        invoice_id=int(body["invoice_id"]),
        method=PaymentMethod[str(body["method"]).upper()],
        reference=str(body["reference"]),
        file_name=str(body["file_name"]),
        data=base64.b64decode(body["file_base64"]),
    )
