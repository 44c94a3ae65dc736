"""A Merkle tree exactly like OpenZeppelin's ``StandardMerkleTree`` (npm ``@openzeppelin/merkle-tree``,
format ``standard-v1``), for the one leaf encoding interaction batches use.

- leaf = ``keccak256(keccak256(abi.encode(recordId, customerId, kind, outcome, contentHash)))``,
  types ``["bytes32", "uint256", "uint8", "uint8", "bytes32"]`` (the contract's ``interactionLeaf``);
- the leaves are sorted by hash and laid out as one array, the root first, the leaves last in
  reverse order (``tree[len - 1 - i]`` is the i-th smallest leaf);
- a parent is ``keccak256`` of its two children sorted (OpenZeppelin's ``MerkleProof``);
- a proof is the list of siblings from the leaf up; ``values`` keep the order they were given in,
  each with its ``treeIndex``; :meth:`MerkleTree.dump` gives OpenZeppelin's JSON dump, uint values
  as decimal strings and bytes32 as lower-case hex, and :meth:`MerkleTree.load` reads it back.

No maintained PyPI library fits: ``murky-tree`` and ``merkle-zeppelin`` encode every leaf through
eth_abi (a general encoder; this one writes the five 32-byte words directly, about ten times
faster) and neither checks a loaded dump against its values the way a batch document must be
checked. This module is small; tests check it against the npm package itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chaincrm.errors import BatchMismatch

try:  # safe-pysha3 (pinned in requirements.txt) hashes about five times faster than pycryptodome
    from sha3 import keccak_256 as _keccak_256  # type: ignore[import-not-found,import-untyped,unused-ignore]

    def keccak256(data: bytes) -> bytes:
        return bytes(_keccak_256(data).digest())

except ImportError:  # pragma: no cover - any other keccak eth-hash finds
    from eth_hash.auto import keccak as _eth_keccak

    def keccak256(data: bytes) -> bytes:
        return bytes(_eth_keccak(data))


FORMAT = "standard-v1"
LEAF_ENCODING: tuple[str, ...] = ("bytes32", "uint256", "uint8", "uint8", "bytes32")
WORD_BYTES = 32
UINT8_MAX = 2**8 - 1
UINT256_MAX = 2**256 - 1


@dataclass(frozen=True)
class LeafValue:
    """One leaf's values, in the leaf encoding's order: nothing personal, only ids and hashes."""

    record_id: bytes
    customer_id: int
    kind: int
    outcome: int
    content_hash: bytes

    def __post_init__(self) -> None:
        check_leaf_value(self.record_id, self.customer_id, self.kind, self.outcome, self.content_hash)

    def leaf(self) -> bytes:
        return leaf_hash(self.record_id, self.customer_id, self.kind, self.outcome, self.content_hash)

    def as_json(self) -> list[str]:
        """As OpenZeppelin's dump holds it: bytes32 in lower-case hex, uints as decimal strings."""
        return [
            "0x" + self.record_id.hex(),
            str(self.customer_id),
            str(self.kind),
            str(self.outcome),
            "0x" + self.content_hash.hex(),
        ]

    @classmethod
    def from_json(cls, value: Any, where: str = "value") -> LeafValue:
        if not isinstance(value, list) or len(value) != len(LEAF_ENCODING):
            raise BatchMismatch(f"{where} is not a list of {len(LEAF_ENCODING)} fields")
        record_id, customer_id, kind, outcome, content_hash = value
        return cls(
            _bytes32(record_id, f"{where}[0] (recordId)"),
            _uint(customer_id, UINT256_MAX, f"{where}[1] (customerId)"),
            _uint(kind, UINT8_MAX, f"{where}[2] (kind)"),
            _uint(outcome, UINT8_MAX, f"{where}[3] (outcome)"),
            _bytes32(content_hash, f"{where}[4] (contentHash)"),
        )


def check_leaf_value(record_id: bytes, customer_id: int, kind: int, outcome: int, content_hash: bytes) -> None:
    """Raise BatchMismatch unless the values fit the leaf encoding's types."""
    if not isinstance(record_id, bytes) or len(record_id) != WORD_BYTES:
        raise BatchMismatch("recordId must be 32 bytes")
    if not isinstance(content_hash, bytes) or len(content_hash) != WORD_BYTES:
        raise BatchMismatch("contentHash must be 32 bytes")
    for name, number, most in (
        ("customerId", customer_id, UINT256_MAX),
        ("kind", kind, UINT8_MAX),
        ("outcome", outcome, UINT8_MAX),
    ):
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= most:
            raise BatchMismatch(f"{name} {number!r} does not fit its type")


def leaf_hash(record_id: bytes, customer_id: int, kind: int, outcome: int, content_hash: bytes) -> bytes:
    """OpenZeppelin's standard leaf: keccak256(keccak256(abi.encode(...))), the five words written
    directly (every type is static, so abi.encode is their concatenation)."""
    encoded = (
        record_id
        + customer_id.to_bytes(WORD_BYTES, "big")
        + kind.to_bytes(WORD_BYTES, "big")
        + outcome.to_bytes(WORD_BYTES, "big")
        + content_hash
    )
    return keccak256(keccak256(encoded))


def node_hash(a: bytes, b: bytes) -> bytes:
    """A parent: keccak256 of its children in ascending order (OpenZeppelin's commutative hash)."""
    return keccak256(a + b if a <= b else b + a)


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root a proof leads to from `leaf` (OpenZeppelin's ``MerkleProof.processProof``)."""
    node = leaf
    for sibling in proof:
        node = node_hash(node, sibling)
    return node


def verify(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    """Whether `proof` proves `leaf` under `root`."""
    return process_proof(leaf, proof) == root


def make_tree(sorted_leaves: Sequence[bytes]) -> list[bytes]:
    """The tree array over leaves already in ascending order (OpenZeppelin's ``makeMerkleTree``)."""
    if not sorted_leaves:
        raise BatchMismatch("a Merkle tree needs at least one leaf")
    size = 2 * len(sorted_leaves) - 1
    tree: list[bytes] = [b""] * size
    for i, leaf in enumerate(sorted_leaves):
        tree[size - 1 - i] = leaf
    for i in range(size - 1 - len(sorted_leaves), -1, -1):
        tree[i] = node_hash(tree[2 * i + 1], tree[2 * i + 2])
    return tree


def tree_proof(tree: Sequence[bytes], index: int) -> list[bytes]:
    """The siblings from node `index` (a leaf) up to the root."""
    if not 0 <= index < len(tree) or 2 * index + 1 < len(tree):
        raise BatchMismatch(f"tree index {index} is not a leaf")
    proof = []
    while index > 0:
        proof.append(tree[index + 1 if index % 2 else index - 1])
        index = (index - 1) // 2
    return proof


@dataclass(frozen=True)
class MerkleTree:
    """A built tree: the node array (root first), the values in the order given, and each value's
    node index in the array."""

    tree: tuple[bytes, ...]
    values: tuple[LeafValue, ...]
    tree_indices: tuple[int, ...]

    @property
    def root(self) -> bytes:
        return self.tree[0]

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def of(cls, values: Sequence[LeafValue]) -> MerkleTree:
        """The tree of `values` (OpenZeppelin's ``StandardMerkleTree.of`` with sorted leaves)."""
        return cls.from_leaves(values, [value.leaf() for value in values])

    @classmethod
    def from_leaves(cls, values: Sequence[LeafValue], leaves: Sequence[bytes]) -> MerkleTree:
        """The tree of `values` whose leaf hashes are already known (`leaves[i]` is values[i]'s)."""
        order = sorted(range(len(leaves)), key=leaves.__getitem__)
        tree = make_tree([leaves[i] for i in order])
        indices = [0] * len(values)
        for position, value_index in enumerate(order):
            indices[value_index] = len(tree) - 1 - position
        return cls(tuple(tree), tuple(values), tuple(indices))

    def leaf(self, value_index: int) -> bytes:
        return self.tree[self.tree_indices[value_index]]

    def proof(self, value_index: int) -> list[bytes]:
        """The proof of the value at `value_index` (OpenZeppelin's ``getProof(index)``)."""
        if not 0 <= value_index < len(self.values):
            raise BatchMismatch(f"the tree has no value {value_index}")
        return tree_proof(self.tree, self.tree_indices[value_index])

    def index_of(self, record_id: bytes) -> int:
        for i, value in enumerate(self.values):
            if value.record_id == record_id:
                return i
        raise BatchMismatch(f"record 0x{record_id.hex()} is not in this batch")

    def dump(self) -> dict[str, Any]:
        """OpenZeppelin's ``StandardMerkleTree.dump()``."""
        return {
            "format": FORMAT,
            "leafEncoding": list(LEAF_ENCODING),
            "tree": ["0x" + node.hex() for node in self.tree],
            "values": [
                {"value": value.as_json(), "treeIndex": index}
                for value, index in zip(self.values, self.tree_indices, strict=True)
            ],
        }

    @classmethod
    def load(cls, data: Any) -> MerkleTree:
        """A dump read back and checked: the format, the leaf encoding, and the tree, which must be
        exactly the tree of its values (BatchMismatch naming the first field that differs)."""
        if not isinstance(data, Mapping):
            raise BatchMismatch("tree is not an object")
        if data.get("format") != FORMAT:
            raise BatchMismatch(f"tree.format is {data.get('format')!r}, not {FORMAT!r}")
        if list(data.get("leafEncoding") or []) != list(LEAF_ENCODING):
            raise BatchMismatch(f"tree.leafEncoding is {data.get('leafEncoding')!r}, not {list(LEAF_ENCODING)!r}")
        raw_values, raw_tree = data.get("values"), data.get("tree")
        if not isinstance(raw_values, list) or not raw_values:
            raise BatchMismatch("tree.values is not a non-empty list")
        if not isinstance(raw_tree, list):
            raise BatchMismatch("tree.tree is not a list")
        values = []
        for i, item in enumerate(raw_values):
            if not isinstance(item, Mapping):
                raise BatchMismatch(f"tree.values[{i}] is not an object")
            values.append(LeafValue.from_json(item.get("value"), f"tree.values[{i}].value"))
        rebuilt = cls.of(values)
        given = [_bytes32(node, f"tree.tree[{i}]") for i, node in enumerate(raw_tree)]
        if tuple(given) != rebuilt.tree:
            raise BatchMismatch("tree.tree is not the Merkle tree of tree.values")
        indices = tuple(item.get("treeIndex") for item in raw_values)
        if indices != rebuilt.tree_indices:
            raise BatchMismatch("tree.values[].treeIndex does not match the tree")
        return rebuilt


def _bytes32(value: Any, where: str) -> bytes:
    text = value if isinstance(value, str) else ""
    if len(text) != 2 + 2 * WORD_BYTES or not text.startswith("0x"):
        raise BatchMismatch(f"{where} is not a 32-byte hex value")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise BatchMismatch(f"{where} is not a 32-byte hex value") from None


def _uint(value: Any, most: int, where: str) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
        if number <= most:
            return number
    raise BatchMismatch(f"{where} is not a decimal string of at most {most}")


__all__ = [
    "FORMAT",
    "LEAF_ENCODING",
    "LeafValue",
    "MerkleTree",
    "keccak256",
    "leaf_hash",
    "make_tree",
    "node_hash",
    "process_proof",
    "tree_proof",
    "verify",
]
