"""Content about a customer: interaction notes and attachments, deal documents.

Everything written about a customer is content, encrypted before it leaves the process under the
customer's current content key (the key ring travels inside the profile, wrapped for the
customer's readers: see :mod:`chaincrm.privacy.versions`), stored on IPFS, and readable back by those
readers. The chain records the sha2-256 digest of the encrypted document's CIDv0: a hash of
ciphertext under a random key and nonce, which nobody can recompute from the plaintext, and which
erasure makes meaningless by destroying the keys.

:func:`documents_of` (from :mod:`chaincrm.privacy.erasure`) finds every document tied to a customer
from the chain alone, which is what erasure destroys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaincrm.contracts.registry import InteractionEntry
from chaincrm.models import DocumentKind, InteractionKind, Outcome
from chaincrm.privacy.content import (
    DEAL_DOCUMENT,
    INTERACTION,
    ContentContext,
    InteractionContent,
    open_content,
    seal_content,
)
from chaincrm.privacy.customers import CustomerData
from chaincrm.privacy.erasure import documents_of
from chaincrm.privacy.profiles import KeyRing
from chaincrm.privacy.versions import send_or_unpin
from chaincrm.storage import Cid, DocumentStore, cid_to_digest, digest_to_cid

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3.types import TxReceipt

    from chaincrm.contracts.client import Crm


@dataclass(frozen=True)
class StoredContent:
    customer_id: int
    cid: Cid
    digest: bytes
    tx_hash: str
    block_number: int


class CustomerNotes:
    """Seal, log and read back what staff write about customers."""

    def __init__(self, crm: Crm, store: DocumentStore) -> None:
        self.crm = crm
        self.store = store
        self.customers = CustomerData(crm, store)

    def context(self, customer_id: int, kind: str) -> ContentContext:
        return ContentContext(self.crm.chain.chain_id, self.crm.registry.address, customer_id, kind)

    def keyring(self, customer_id: int, reader: LocalAccount) -> KeyRing:
        return self.customers.vault(customer_id, reader).keyring

    # ------------------------------------------------------------------ interactions

    def seal_interaction(self, customer_id: int, content: InteractionContent, author: LocalAccount) -> bytes:
        """The encrypted document for an interaction (the author must be a reader)."""
        return seal_content(
            content.to_bytes(),
            keyring=self.keyring(customer_id, author),
            context=self.context(customer_id, INTERACTION),
        )

    def log_interaction(
        self,
        customer_id: int,
        kind: InteractionKind,
        outcome: Outcome,
        content: InteractionContent,
        author: LocalAccount,
    ) -> StoredContent:
        """Encrypt the note and attachments, store them, and log the interaction by their CID digest.

        The contract is asked first, so a document is stored only for an interaction it accepts,
        and unpinned only when the transaction reverted (not on a timeout: it may still mine).
        """
        registry = self.crm.registry
        probe = registry.contract.functions.logInteraction(customer_id, int(kind), int(outcome), b"\x01" * 32)
        self.crm.chain.gas_limit(probe, author)
        document = self.seal_interaction(customer_id, content, author)
        cid = self.store.put(document)
        digest = cid_to_digest(cid)
        entry = InteractionEntry(customer_id, kind, outcome, digest)
        receipt = send_or_unpin(self.store, cid, lambda: registry.log_interaction(entry, author))
        return _stored(customer_id, cid, digest, receipt)

    def read_interaction(self, customer_id: int, content_hash: bytes, reader: LocalAccount) -> InteractionContent:
        """Fetch and decrypt an interaction's document by the digest the chain logged."""
        document = self.store.get(digest_to_cid(content_hash))
        plain = open_content(
            document, keyring=self.keyring(customer_id, reader), context=self.context(customer_id, INTERACTION)
        )
        return InteractionContent.from_bytes(plain)

    # ------------------------------------------------------------------ deal documents

    def attach_deal_document(
        self, deal_id: int, kind: DocumentKind, data: bytes, author: LocalAccount
    ) -> StoredContent:
        """Encrypt a proposal, contract or other document for the deal's customer and record it."""
        from chaincrm.storage import content_hash

        pipeline = self.crm.pipeline
        customer_id = pipeline.deal(deal_id).customer_id
        probe = pipeline.contract.functions.attachDocument(deal_id, int(kind), b"\x01" * 32, b"\x01" * 32)
        self.crm.chain.gas_limit(probe, author)
        document = seal_content(
            data, keyring=self.keyring(customer_id, author), context=self.context(customer_id, DEAL_DOCUMENT)
        )
        cid = self.store.put(document)
        digest = cid_to_digest(cid)
        receipt = send_or_unpin(
            self.store, cid, lambda: pipeline.attach_document(deal_id, kind, content_hash(document), digest, author)
        )
        return _stored(customer_id, cid, digest, receipt)

    def read_deal_document(self, customer_id: int, cid_digest: bytes, reader: LocalAccount) -> bytes:
        document = self.store.get(digest_to_cid(cid_digest))
        return open_content(
            document, keyring=self.keyring(customer_id, reader), context=self.context(customer_id, DEAL_DOCUMENT)
        )


def _stored(customer_id: int, cid: Cid, digest: bytes, receipt: TxReceipt) -> StoredContent:
    return StoredContent(
        customer_id=customer_id,
        cid=cid,
        digest=digest,
        tx_hash=receipt["transactionHash"].to_0x_hex(),
        block_number=int(receipt["blockNumber"]),
    )


__all__ = ["DEAL_DOCUMENT", "INTERACTION", "CustomerNotes", "StoredContent", "documents_of"]
