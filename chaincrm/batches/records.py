"""Logging an interaction batched: its encrypted document is stored now, its record queued.

The note and attachments are sealed for the customer's readers and stored on IPFS exactly as a
single interaction's are (:class:`~chaincrm.privacy.notes.CustomerNotes`); instead of a
transaction, the record (customer, kind, outcome, the document's CID digest) enters the durable
queue, and the batcher anchors it within its batch's time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaincrm.batches.queue import InteractionQueue
from chaincrm.models import InteractionKind, Outcome

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from chaincrm.privacy import InteractionContent
    from chaincrm.privacy.notes import CustomerNotes


@dataclass(frozen=True)
class QueuedInteraction:
    record_id: bytes
    customer_id: int
    cid: str
    digest: bytes


def queue_interaction(
    notes: CustomerNotes,
    queue: InteractionQueue,
    customer_id: int,
    kind: InteractionKind,
    outcome: Outcome,
    content: InteractionContent,
    author: LocalAccount,
    *,
    check_access: bool = True,
) -> QueuedInteraction:
    """Seal and store the interaction's document, then queue its record (committed on return).

    With `check_access` the contract is asked first whether `author` could log it singly (an agent
    with a grant on the customer), so a refusal is the contract's named error now, not a record
    the indexer refuses later. If queueing fails the stored document is unpinned."""
    from chaincrm.storage import cid_to_digest

    if queue.scope.author.lower() != author.address.lower():
        from chaincrm.errors import ConfigError

        raise ConfigError(f"the queue is {queue.scope.author}'s, not {author.address}'s")
    if check_access:
        registry = notes.crm.registry
        probe = registry.contract.functions.logInteraction(customer_id, int(kind), int(outcome), b"\x01" * 32)
        notes.crm.chain.gas_limit(probe, author)
    document = notes.seal_interaction(customer_id, content, author)
    cid = notes.store.put(document)
    digest = cid_to_digest(cid)
    try:
        record_id = queue.enqueue(customer_id, int(kind), int(outcome), digest)
    except BaseException:
        notes.store.unpin(cid)
        raise
    return QueuedInteraction(record_id, customer_id, cid, digest)


__all__ = ["QueuedInteraction", "queue_interaction"]
