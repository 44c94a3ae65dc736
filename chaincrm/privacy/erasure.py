"""Erase a customer: destroy every document tied to them, then record the receipt on-chain.

Data keys and content keys live only inside the profile documents, so unpinning every profile
version, with every interaction document, deal document and off-chain payment receipt, destroys
every copy of them. Interaction documents are found whether their record was logged singly,
packed, or anchored in a Merkle batch (read from the batch document, by the index's rules); the
batch documents themselves (ids and hashes only) stay. The
receipt (:mod:`chaincrm.privacy.receipts`) names what went; the registry records its keccak256.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chaincrm.errors import ConfigError, PrivacyError, StorageError
from chaincrm.models import CustomerStatus, Interaction
from chaincrm.privacy.content import DEAL_DOCUMENT, INTERACTION, PAYMENT_RECEIPT
from chaincrm.privacy.profiles import FINGERPRINT_BYTES, EncryptedDocument
from chaincrm.privacy.receipts import UNREADABLE_BATCH, erasure_receipt
from chaincrm.storage import Cid, DocumentStore, digest_to_cid

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from chaincrm.contracts.client import Crm


@dataclass(frozen=True)
class Erasure:
    """What an erasure did: the receipt (stored, and hashed on-chain) and the documents unpinned."""

    customer_id: int
    receipt_cid: Cid
    receipt_hash: bytes
    unpinned: tuple[Cid, ...]
    tx_hash: str
    unreadable_batches: tuple[Cid, ...] = ()  # anchored batch documents nobody could give back


def erase_customer(crm: Crm, store: DocumentStore, customer_id: int, actor: LocalAccount) -> Erasure:
    """Destroy every document tied to the customer (profile versions, which hold every wrapped
    key, interaction notes and attachments, deal documents, off-chain payment receipts), then
    record the receipt. Interaction notes count whether logged singly or anchored in a batch.

    The contract is asked first (a dry run) so that an unauthorised caller destroys nothing. An
    anchored batch document that cannot be read does not stop the erasure (any agent can anchor a
    CID nobody holds, and an erasure must not wait on that): the notes it may name cannot be
    found here, but their content keys go with the profile versions, so they can no longer be
    read. The receipt lists such batches (kind ``unreadable-batch``) and the result names them.
    """
    customer = crm.registry.customer(customer_id)
    if customer.status is CustomerStatus.ERASED:
        raise ConfigError(f"customer {customer_id} is already erased")
    probe = crm.registry.contract.functions.eraseCustomer(customer_id, b"\x01" * 32)
    crm.chain.gas_limit(probe, actor)  # raises the named error for a caller who may not erase
    documents = documents_of(crm, customer_id, store)
    destroyed = _destroyed_keys(store, [cid for kind, cid in documents if kind == "profile"])
    owned = [cid for kind, cid in documents if kind != UNREADABLE_BATCH]
    for cid in owned:
        if store.has(cid):
            store.unpin(cid)
    store.gc()
    receipt = erasure_receipt(customer_id, destroyed, [(kind, str(cid)) for kind, cid in documents], datetime.now(UTC))
    receipt_cid = store.put(receipt.receipt)
    tx = crm.registry.erase_customer(customer_id, receipt.receipt_hash, actor)
    unreadable = tuple(cid for kind, cid in documents if kind == UNREADABLE_BATCH)
    return Erasure(
        customer_id, receipt_cid, receipt.receipt_hash, tuple(owned), tx["transactionHash"].to_0x_hex(), unreadable
    )


def documents_of(crm: Crm, customer_id: int, store: DocumentStore | None = None) -> list[tuple[str, Cid]]:
    """Every document tied to a customer, found from the chain alone: each profile version, each
    interaction's document (logged singly, packed, or anchored in a batch), each document attached
    to the customer's deals, and the receipt of each off-chain payment recorded for the customer's
    invoices.

    The records of anchored batches are read from their batch documents in `store` (the service
    behind it, with the indexer's limits) and counted by the index's rules
    (:mod:`chaincrm.batches.chain_records`); the batch documents themselves hold only ids and
    hashes and are not the customer's. A batch document that cannot be read (or every batch, when
    no store is given) is listed as ``unreadable-batch``: the customer's notes it may name cannot
    be found."""
    registry, pipeline, escrow = crm.registry, crm.pipeline, crm.escrow
    start = crm.deployment.block_number
    found: list[tuple[str, Cid]] = []
    customer = registry.customer(customer_id)
    for version in range(1, customer.profile_version + 1):
        found.append(("profile", digest_to_cid(registry.profile(customer_id, version).cid_digest)))
    logged, unreadable = _interactions_and_unreadable(crm, store, customer_id, start)
    for interaction in logged:
        found.append((INTERACTION, digest_to_cid(interaction.content_hash)))
    found += [(UNREADABLE_BATCH, cid) for cid in unreadable]
    deal_ids = [
        int(log["args"]["dealId"])
        for log in crm.chain.logs.events(
            pipeline.contract.events.DealOpened, from_block=start, argument_filters={"customerId": customer_id}
        )
    ]
    if deal_ids:
        for log in crm.chain.logs.events(
            pipeline.contract.events.DealDocumentAttached, from_block=start, argument_filters={"dealId": deal_ids}
        ):
            found.append((DEAL_DOCUMENT, digest_to_cid(bytes(log["args"]["cidDigest"]))))
    invoice_ids = [
        int(log["args"]["invoiceId"])
        for log in crm.chain.logs.events(
            escrow.contract.events.InvoiceIssued, from_block=start, argument_filters={"customerId": customer_id}
        )
    ]
    if invoice_ids:
        for log in crm.chain.logs.events(
            escrow.contract.events.InvoicePaidOffChain, from_block=start, argument_filters={"invoiceId": invoice_ids}
        ):
            found.append((PAYMENT_RECEIPT, digest_to_cid(bytes(log["args"]["cidDigest"]))))
    unique: dict[Cid, str] = {}
    for kind, cid in found:
        unique.setdefault(cid, kind)
    return [(kind, cid) for cid, kind in unique.items()]


def interactions_of(
    crm: Crm, store: DocumentStore | None, customer_id: int | None, *, from_block: int | None = None
) -> list[Interaction]:
    """The customer's interactions (or all) from the chain, single, packed and anchored in batches,
    in chain order (:func:`~chaincrm.batches.chain_records.chain_interactions`); StorageError when
    an anchored batch document cannot be read."""
    from chaincrm.batches.chain_records import chain_interactions

    with _batch_reader(store) as batches:
        return chain_interactions(crm, batches, customer_id, from_block=from_block)


def _interactions_and_unreadable(
    crm: Crm, store: DocumentStore | None, customer_id: int, start: int
) -> tuple[list[Interaction], list[Cid]]:
    """The customer's interactions, and the CIDs of the anchored batch documents that could not be read."""
    from chaincrm.batches.chain_records import interactions_and_batches

    with _batch_reader(store) as batches:
        found, counted = interactions_and_batches(crm, batches, customer_id, from_block=start)
    return found, [Cid(batch.cid) for batch in counted.unavailable]


@contextmanager
def _batch_reader(store: DocumentStore | None) -> Iterator[DocumentStore | None]:
    """The store batch documents are read from: a Kubo `store`'s service with the indexer's limits
    (a batch may be larger than a document the store takes), so the same records count as in the
    index; any other store (or None) as it is."""
    from chaincrm.batches.chain_records import batch_document_store

    api = getattr(store, "api_addr", None)
    if not isinstance(api, str):
        yield store
        return
    with batch_document_store(api) as batches:
        yield batches


def _destroyed_keys(store: DocumentStore, profile_versions: list[Cid]) -> list[tuple[str, str]]:
    """(reader, data-key fingerprint) for every wrapped key in the profile versions still stored:
    the fingerprint is the start of the document's key commitment (``data_key_fingerprint``)."""
    destroyed: list[tuple[str, str]] = []
    for cid in profile_versions:
        try:
            parsed = EncryptedDocument.from_bytes(store.get(cid))
        except (StorageError, PrivacyError):
            continue  # already gone from this node: nothing left to destroy here
        fingerprint = parsed.key_commitment[:FINGERPRINT_BYTES].hex()
        destroyed.extend((reader, fingerprint) for reader in parsed.readers)
    return destroyed
