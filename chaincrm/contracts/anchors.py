"""CrmRegistry's anchored interaction batches (``IInteractionLog``): the root of a batch's Merkle
tree, the CID digest of its document on IPFS and its count, in one event and no storage.

The records themselves are never on-chain: a record is proven by a Merkle proof against an
anchored root (:meth:`AnchorMixin.verify_interaction` asks the contract, which hashes exactly as
:mod:`chaincrm.batches.tree` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from eth_utils import to_checksum_address
from hexbytes import HexBytes

from chaincrm.contracts.registry_base import RegistryBase
from chaincrm.errors import ConfigError

if TYPE_CHECKING:
    from web3.types import TxReceipt

    from chaincrm.chain import Sender
    from chaincrm.chain.contract import FunctionCall

ANCHOR_EVENT = "InteractionBatchAnchored"
UINT32_MAX = 2**32 - 1
HASH_BYTES = 32


@dataclass(frozen=True)
class Anchor:
    """One ``InteractionBatchAnchored`` event: who anchored which root, where the batch document is
    (the sha2-256 digest inside its CIDv0), how many records it holds, and where it landed."""

    author: str
    root: bytes
    cid_digest: bytes
    count: int
    at: int
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


def anchor_of_log(args: Any, log: Any) -> Anchor:
    """The Anchor a decoded ``InteractionBatchAnchored`` log records (the one place it is built)."""
    return Anchor(
        author=to_checksum_address(args["author"]),
        root=bytes(args["root"]),
        cid_digest=bytes(args["cidDigest"]),
        count=int(args["count"]),
        at=int(args["at"]),
        block_number=int(log["blockNumber"]),
        block_hash=HexBytes(log["blockHash"]).to_0x_hex(),
        tx_hash=HexBytes(log["transactionHash"]).to_0x_hex(),
        log_index=int(log["logIndex"]),
    )


def _hash32(value: bytes, name: str) -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) != HASH_BYTES:
        raise ConfigError(f"{name} must be 32 bytes")
    return bytes(value)


class AnchorMixin(RegistryBase):
    """Anchoring interaction batches, checking proofs on-chain, finding a root's anchor."""

    def anchor_call(self, root: bytes, cid_digest: bytes, count: int) -> FunctionCall:
        """The ``anchorInteractions`` call (to build, sign and send it yourself)."""
        if not 0 < count <= UINT32_MAX:
            raise ConfigError(f"a batch's count must be 1 to {UINT32_MAX}, not {count}")
        fn = self.contract.functions.anchorInteractions(_hash32(root, "root"), _hash32(cid_digest, "cid digest"), count)
        return cast("FunctionCall", fn)

    def anchor_interactions(self, root: bytes, cid_digest: bytes, count: int, sender: Sender) -> TxReceipt:
        """Anchor a batch (an agent only: a non-agent gets the contract's named error before anything
        is sent) and wait for it."""
        return self.chain.transact(self.anchor_call(root, cid_digest, count), sender)

    def verify_interaction(self, root: bytes, proof: Sequence[bytes], leaf: bytes) -> bool:
        """The contract's own check of a Merkle proof (an eth_call: free)."""
        fn = self.contract.functions.verifyInteraction(
            _hash32(root, "root"), [_hash32(node, "proof node") for node in proof], _hash32(leaf, "leaf")
        )
        return bool(self.chain.call(fn))

    def interaction_leaf(
        self, record_id: bytes, customer_id: int, kind: int, outcome: int, content_hash: bytes
    ) -> bytes:
        """The contract's leaf of a record (what :func:`chaincrm.batches.tree.leaf_hash` computes)."""
        fn = self.contract.functions.interactionLeaf(
            _hash32(record_id, "record id"), customer_id, kind, outcome, _hash32(content_hash, "content hash")
        )
        return bytes(self.chain.call(fn))

    def anchors(
        self,
        *,
        root: bytes | None = None,
        author: str | None = None,
        from_block: int = 0,
        to_block: int | str = "latest",
    ) -> list[Anchor]:
        """Anchors in chain order, filtered by root and/or author (indexed topics: one log query per
        block range the node accepts)."""
        filters: dict[str, Any] = {}
        if root is not None:
            filters["root"] = _hash32(root, "root")
        if author is not None:
            filters["author"] = to_checksum_address(author)
        event = getattr(self.contract.events, ANCHOR_EVENT)
        logs = self.chain.logs.events(event, from_block=from_block, to_block=to_block, argument_filters=filters)
        return [anchor_of_log(log["args"], log) for log in logs]

    def find_anchor(
        self, root: bytes, author: str | None = None, *, from_block: int = 0, to_block: int | str = "latest"
    ) -> Anchor | None:
        """The first anchor of `root` (by `author` if given), or None."""
        found = self.anchors(root=root, author=author, from_block=from_block, to_block=to_block)
        return found[0] if found else None


__all__ = ["ANCHOR_EVENT", "UINT32_MAX", "Anchor", "AnchorMixin", "anchor_of_log"]
