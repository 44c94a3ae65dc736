"""Interaction notes as one reader sees them: decrypted where the reader holds the keys, or why not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaincrm.errors import ConfigError, PrivacyError, StorageError
from chaincrm.models import Interaction
from chaincrm.privacy import InteractionContent, KeyRing, open_content
from chaincrm.privacy.notes import INTERACTION, CustomerNotes
from chaincrm.storage import DocumentStore, digest_to_cid

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from chaincrm.contracts.client import Crm


@dataclass(frozen=True)
class InteractionView:
    """An interaction as a reader sees it: the chain's record and its decrypted content, or why the
    content cannot be read (`content` None)."""

    interaction: Interaction
    content: InteractionContent | None
    unreadable: str | None

    @property
    def attachment_names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.content.attachments) if self.content is not None else ()


class NoteReader:
    """Decrypts interaction documents as one reader. The customer's content-key ring is opened once
    per customer (from the current profile version); a note that cannot be read (the ring lacks its
    epoch, the document is gone or is not one) is reported, never raised."""

    def __init__(self, crm: Crm, store: DocumentStore, reader: LocalAccount) -> None:
        self.notes = CustomerNotes(crm, store)
        self.store = store
        self.reader = reader
        self._rings: dict[int, KeyRing | str] = {}

    def read(self, interaction: Interaction) -> InteractionView:
        ring = self._ring(interaction.customer_id)
        if isinstance(ring, str):
            return InteractionView(interaction, None, ring)
        try:
            cid = digest_to_cid(interaction.content_hash)
            if not self.store.has(cid):
                return InteractionView(interaction, None, f"document {cid} is not stored (erased, or never stored)")
            context = self.notes.context(interaction.customer_id, INTERACTION)
            plain = open_content(self.store.get(cid), keyring=ring, context=context)
            return InteractionView(interaction, InteractionContent.from_bytes(plain), None)
        except (StorageError, PrivacyError, ConfigError) as problem:
            return InteractionView(interaction, None, str(problem))

    def _ring(self, customer_id: int) -> KeyRing | str:
        if customer_id not in self._rings:
            try:
                self._rings[customer_id] = self.notes.keyring(customer_id, self.reader)
            except (StorageError, PrivacyError, ConfigError) as problem:
                self._rings[customer_id] = f"{self.reader.address} cannot open customer {customer_id}'s keys: {problem}"
        return self._rings[customer_id]
