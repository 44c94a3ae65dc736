"""Proving that a record is in an anchored batch: from IPFS plus one log query, and by the contract.

:func:`prove_record` finds the root's anchor (one eth_getLogs on the registry, topic root), reads
the batch document by the anchored CID digest, checks it against the anchor (root, count, chain,
registry, author), takes the record's proof from its tree, checks it here and asks the contract
(``verifyInteraction``, an eth_call). :func:`check_proof` does the same for a leaf and a proof
given by the caller, without IPFS.

A verdict is yes or no with a reason; a batch document that does not match its anchored root, a
proof for another root, or a record that is not there are each a no with one line saying so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaincrm.batches.document import parse_document
from chaincrm.batches.tree import LeafValue, process_proof
from chaincrm.errors import BatchMismatch, StorageError

if TYPE_CHECKING:
    from chaincrm.contracts.anchors import Anchor
    from chaincrm.contracts.registry import Registry
    from chaincrm.storage import DocumentStore


@dataclass(frozen=True)
class Inclusion:
    """The verdict on one record (or leaf) and one root."""

    included: bool
    reason: str
    root: bytes
    leaf: bytes | None = None
    proof: tuple[bytes, ...] = ()
    record: LeafValue | None = None
    logged_at: int | None = None
    anchor: Anchor | None = None
    cid: str | None = None
    contract_agrees: bool | None = None


def prove_record(
    registry: Registry, store: DocumentStore, root: bytes, record_id: bytes, *, from_block: int = 0
) -> Inclusion:
    """Whether record `record_id` is in the batch anchored as `root`: its document from IPFS
    (checked against the anchor), its proof from the tree, and the contract's own check."""
    from chaincrm.storage import digest_to_cid

    anchor = registry.find_anchor(root, from_block=from_block)
    if anchor is None:
        return Inclusion(False, f"root 0x{root.hex()} is not anchored on registry {registry.address}", root)
    cid = digest_to_cid(anchor.cid_digest)
    try:
        document = parse_document(store.get(cid))
        document.check(
            root=anchor.root,
            count=anchor.count,
            chain_id=registry.chain.chain_id,
            registry=registry.address,
            author=anchor.author,
        )
    except (BatchMismatch, StorageError) as problem:
        return Inclusion(False, f"batch document {cid}: {problem}", root, anchor=anchor, cid=cid)
    try:
        index, value = document.record(record_id)
    except BatchMismatch as problem:
        return Inclusion(False, f"{problem} (root 0x{root.hex()})", root, anchor=anchor, cid=cid)
    leaf, proof = document.tree.leaf(index), document.tree.proof(index)
    verdict = check_proof(registry, root, leaf, proof, anchor=anchor)
    return Inclusion(
        verdict.included,
        verdict.reason,
        root,
        leaf=leaf,
        proof=tuple(proof),
        record=value,
        logged_at=document.logged_at[index],
        anchor=anchor,
        cid=cid,
        contract_agrees=verdict.contract_agrees,
    )


def check_proof(
    registry: Registry,
    root: bytes,
    leaf: bytes,
    proof: Sequence[bytes],
    *,
    anchor: Anchor | None = None,
    from_block: int = 0,
) -> Inclusion:
    """Whether `proof` proves `leaf` under `root`, and `root` is anchored: checked here, then by
    the contract (both must agree)."""
    proof = tuple(proof)
    reached = process_proof(leaf, proof)
    if reached != root:
        return Inclusion(
            False, f"the proof leads to root 0x{reached.hex()}, not 0x{root.hex()}", root, leaf=leaf, proof=proof
        )
    if anchor is None:
        anchor = registry.find_anchor(root, from_block=from_block)
        if anchor is None:
            return Inclusion(
                False,
                f"root 0x{root.hex()} is not anchored on registry {registry.address}",
                root,
                leaf=leaf,
                proof=proof,
            )
    agrees = registry.verify_interaction(root, proof, leaf)
    if not agrees:
        return Inclusion(
            False,
            "the contract's verifyInteraction says no",
            root,
            leaf=leaf,
            proof=proof,
            anchor=anchor,
            contract_agrees=False,
        )
    return Inclusion(
        True,
        f"leaf 0x{leaf.hex()} is in the batch of {anchor.count} record(s) anchored as root 0x{root.hex()} "
        f"by {anchor.author}; the contract agrees",
        root,
        leaf=leaf,
        proof=proof,
        anchor=anchor,
        contract_agrees=True,
    )


__all__ = ["Inclusion", "check_proof", "prove_record"]
