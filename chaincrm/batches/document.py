"""The batch document stored on IPFS (plain JSON: only ids and hashes, nothing personal).

::

    {"format": "chaincrm-interaction-batch/1", "chainId": 31337, "registry": "0x...", "author": "0x...",
     "createdAt": 1700000000, "root": "0x...", "count": 100,
     "loggedAt": [1700000000, ...],            # client time of each record, in tree.values order
     "tree": {OpenZeppelin StandardMerkleTree dump, format "standard-v1"}}

The chain anchors the root, the sha2-256 digest of the document's CIDv0 and the count.
:func:`parse_document` reads a document back and checks that it is whole (its tree is the tree
of its values, its root and count are the tree's); :meth:`BatchDocument.check` that it is the
batch the chain anchored (root, count, chain, registry, author). Every mismatch is one
:class:`~chaincrm.errors.BatchMismatch` line naming the field.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import is_address, to_checksum_address

from chaincrm.batches.tree import LeafValue, MerkleTree
from chaincrm.errors import BatchMismatch

FORMAT = "chaincrm-interaction-batch/1"
UINT64_MAX = 2**64 - 1
MAX_DOCUMENT_RECORDS = 2**32 - 1  # the anchor's count is a uint32


@dataclass(frozen=True)
class BatchDocument:
    """One batch: where it is anchored (chain, registry, author), when it was made, its tree, and
    the client time each record was logged at (in the tree's value order)."""

    chain_id: int
    registry: str
    author: str
    created_at: int
    tree: MerkleTree
    logged_at: tuple[int, ...]

    @property
    def root(self) -> bytes:
        return self.tree.root

    @property
    def count(self) -> int:
        return len(self.tree)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "chainId": self.chain_id,
            "registry": self.registry,
            "author": self.author,
            "createdAt": self.created_at,
            "root": "0x" + self.root.hex(),
            "count": self.count,
            "loggedAt": list(self.logged_at),
            "tree": self.tree.dump(),
        }

    def to_bytes(self) -> bytes:
        """The stored bytes: compact JSON, keys in a fixed order (the same batch, the same CID)."""
        return json.dumps(self.to_json(), separators=(",", ":")).encode()

    def check(
        self,
        *,
        root: bytes | None = None,
        count: int | None = None,
        chain_id: int | None = None,
        registry: str | None = None,
        author: str | None = None,
    ) -> None:
        """BatchMismatch unless the document is the batch these describe (each given field)."""
        if root is not None and self.root != root:
            raise BatchMismatch(
                f"the batch document's root 0x{self.root.hex()} is not the anchored root 0x{root.hex()}"
            )
        if count is not None and self.count != count:
            raise BatchMismatch(f"the batch document holds {self.count} record(s); the anchor says {count}")
        if chain_id is not None and self.chain_id != chain_id:
            raise BatchMismatch(f"the batch document is for chain {self.chain_id}, not chain {chain_id}")
        if registry is not None and self.registry.lower() != registry.lower():
            raise BatchMismatch(f"the batch document is for registry {self.registry}, not {registry}")
        if author is not None and self.author.lower() != author.lower():
            raise BatchMismatch(f"the batch document's author is {self.author}, not {author}")

    def record(self, record_id: bytes) -> tuple[int, LeafValue]:
        """The value index and values of a record in this batch (BatchMismatch if absent)."""
        index = self.tree.index_of(record_id)
        return index, self.tree.values[index]


def build_document(
    *,
    chain_id: int,
    registry: str,
    author: str,
    created_at: int,
    values: Sequence[LeafValue],
    logged_at: Sequence[int],
    leaves: Sequence[bytes] | None = None,
) -> BatchDocument:
    """The document of a batch (`leaves`, if given, are the values' leaf hashes, already computed)."""
    if len(values) != len(logged_at):
        raise BatchMismatch("one loggedAt per record")
    tree = MerkleTree.from_leaves(values, leaves) if leaves is not None else MerkleTree.of(values)
    return BatchDocument(
        chain_id=chain_id,
        registry=to_checksum_address(registry),
        author=to_checksum_address(author),
        created_at=created_at,
        tree=tree,
        logged_at=tuple(logged_at),
    )


def parse_document(data: bytes) -> BatchDocument:
    """A stored document read back and checked to be whole (BatchMismatch naming the field).

    Whatever the bytes, the only error is one BatchMismatch line: a number of more than Python's
    4,300 digits (``int()`` refuses to read it) and JSON nested deeper than the parser's recursion
    limit included."""
    try:
        return _parse_document(data)
    except RecursionError:
        raise BatchMismatch("the batch document is nested too deeply to read") from None
    except ValueError as exc:  # int() of a number past the digit limit, here or in the tree's values
        raise BatchMismatch(_unreadable(exc)) from None


def _parse_document(data: bytes) -> BatchDocument:
    try:
        raw = json.loads(data)
    except UnicodeDecodeError:
        raise BatchMismatch("the batch document is not JSON") from None
    except ValueError as exc:
        raise BatchMismatch(_unreadable(exc) if _too_many_digits(exc) else "the batch document is not JSON") from None
    if not isinstance(raw, dict):
        raise BatchMismatch("the batch document is not a JSON object")
    if raw.get("format") != FORMAT:
        raise BatchMismatch(f"the batch document's format is {raw.get('format')!r}, not {FORMAT!r}")
    chain_id = _whole(raw.get("chainId"), "chainId", UINT64_MAX)
    created_at = _whole(raw.get("createdAt"), "createdAt", UINT64_MAX)
    count = _whole(raw.get("count"), "count", MAX_DOCUMENT_RECORDS)
    registry, author = _address(raw.get("registry"), "registry"), _address(raw.get("author"), "author")
    tree = MerkleTree.load(raw.get("tree"))
    logged = raw.get("loggedAt")
    if not isinstance(logged, list) or len(logged) != len(tree):
        raise BatchMismatch("loggedAt is not a list with one time per record")
    logged_at = tuple(_whole(value, f"loggedAt[{i}]", UINT64_MAX) for i, value in enumerate(logged))
    document = BatchDocument(chain_id, registry, author, created_at, tree, logged_at)
    if raw.get("root") != "0x" + tree.root.hex():
        raise BatchMismatch(f"the batch document's root {raw.get('root')!r} is not its tree's root")
    if count != len(tree):
        raise BatchMismatch(f"the batch document's count {count} is not its {len(tree)} record(s)")
    return document


def _too_many_digits(exc: ValueError) -> bool:
    return "digits" in str(exc) and "limit" in str(exc)


def _unreadable(exc: ValueError) -> str:
    if _too_many_digits(exc):
        return f"the batch document holds a number of more than {sys.get_int_max_str_digits():,} digits"
    return f"the batch document cannot be read ({type(exc).__name__})"


def _whole(value: Any, name: str, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
        raise BatchMismatch(f"the batch document's {name} is not a whole number from 0 to {most}")
    return value


def _address(value: Any, name: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise BatchMismatch(f"the batch document's {name} is not an address")
    return to_checksum_address(value)


__all__ = ["FORMAT", "BatchDocument", "build_document", "parse_document"]
