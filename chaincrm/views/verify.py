"""Verify a claim about the CRM's records against any node: yes or no, with the block and transaction.

A claim (an interaction was logged, a deal reached a stage, an invoice was paid, a customer was
erased with this receipt) holds only if all of these hold for the event that records it:

* the log was emitted by the deployment's contract (registry, pipeline or escrow), not by
  another contract with the same event;
* the transaction that emitted it succeeded;
* the transaction is in the canonical chain: its receipt's block hash is the hash of the block
  the node serves at that height;
* the event's fields say what the claim says (customer, document, stage, amount, receipt).

An interaction's on-chain hash is the sha2-256 digest inside the CIDv0 of its *encrypted* document
(trust model v2): a note cannot be hashed to check it, since its ciphertext is under a random key
and nonce. So an interaction is named by that CID (or the digest), or by its transaction; and its
document can be re-read from IPFS (:meth:`Verifier.interaction` with ``fetch``): it must still be
stored, its bytes must hash to the recorded digest (recomputed here for a document of one Kubo
chunk, :func:`document_digest`), and with a reader's key it must decrypt as that customer's note.

An erasure claim checks the receipt's keccak256 against the chain and, given the receipt itself,
that it is for that customer and lists every document the chain ties to them (each profile
version, each interaction's document, each deal document), optionally that none of them is still
stored on the IPFS service.

A failed check is a :class:`Verdict` with ``verified`` False and a one-line reason; errors (a node
that cannot be reached, a record for another chain) are raised as usual.

:class:`Verifier` is composed of one part per claim: :mod:`~chaincrm.views.verify_interaction`
(interactions) and :mod:`~chaincrm.views.verify_claims` (stage changes, payments, erasures), over
:mod:`~chaincrm.views.verify_events` (finding the event, checking its transaction, the verdict).
"""

from __future__ import annotations

from chaincrm.views.document_digest import UNIXFS_CHUNK_BYTES, document_digest
from chaincrm.views.verify_claims import ErasureClaim, PaymentClaim, StageChangeClaim
from chaincrm.views.verify_events import Evidence, Verdict
from chaincrm.views.verify_interaction import InteractionClaim


class Verifier(InteractionClaim, StageChangeClaim, PaymentClaim, ErasureClaim):
    """Checks claims against the chain one deployment record points at: ``Verifier(crm, store)``;
    `store` (the IPFS service) is needed only to re-read documents.

    Every claim goes the same way (:meth:`_find`): find the transaction (the one given, or the
    latest whose event matches), check it succeeded in the canonical chain, take the matching
    event the deployment's contract emitted in it, then check the claim's own fields."""


__all__ = ["UNIXFS_CHUNK_BYTES", "Evidence", "Verdict", "Verifier", "document_digest"]
