"""The Merkle tree is OpenZeppelin's StandardMerkleTree: roots, dumps and proofs equal those of npm's
@openzeppelin/merkle-tree (run by node on the same values), and a dump is loaded back only whole."""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chaincrm.batches.tree import LEAF_ENCODING, LeafValue, MerkleTree, leaf_hash, process_proof, verify
from chaincrm.errors import BatchMismatch

REFERENCE = Path(__file__).with_name("oz_merkle.js")
UINT256_MAX = 2**256 - 1


def random_values(count: int, seed: int) -> list[LeafValue]:
    rng = random.Random(seed)
    customers = (1, 2**64 - 1, UINT256_MAX, rng.randrange(1, UINT256_MAX))
    return [
        LeafValue(
            rng.randbytes(32), rng.choice(customers + (rng.randrange(1, 10_000),)), rng.randrange(256),
            rng.randrange(256), rng.randbytes(32),
        )
        for _ in range(count)
    ]  # fmt: skip


def reference(values: list[LeafValue]) -> dict[str, Any]:
    """npm's @openzeppelin/merkle-tree on the same values: root, dump, proofs, its own verify."""
    answer = subprocess.run(
        ["node", str(REFERENCE)],
        input=json.dumps({"values": [value.as_json() for value in values]}),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(answer.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("count", [1, 2, 3, 100, 1000])
def test_the_tree_equals_openzeppelins_for_the_same_values(count: int) -> None:
    values = random_values(count, seed=count)

    ours, theirs = MerkleTree.of(values), reference(values)

    assert theirs["root"] == "0x" + ours.root.hex()
    assert theirs["dump"] == ours.dump()
    assert theirs["proofs"] == [["0x" + node.hex() for node in ours.proof(i)] for i in range(count)]
    assert all(theirs["verified"])


def test_openzeppelins_dump_loads_into_the_same_tree() -> None:
    values = random_values(50, seed=7)

    loaded = MerkleTree.load(reference(values)["dump"])

    assert loaded == MerkleTree.of(values)


def test_every_proof_leads_to_the_root() -> None:
    tree = MerkleTree.of(random_values(37, seed=3))

    assert all(verify(tree.root, tree.leaf(i), tree.proof(i)) for i in range(37))


def test_a_proof_for_another_root_does_not_verify() -> None:
    one, other = MerkleTree.of(random_values(8, seed=1)), MerkleTree.of(random_values(8, seed=2))

    assert not verify(one.root, other.leaf(0), other.proof(0))
    assert process_proof(other.leaf(0), other.proof(0)) == other.root


def test_the_leaf_is_the_double_keccak_of_the_abi_encoded_values() -> None:
    from eth_abi import encode
    from eth_utils import keccak

    value = random_values(1, seed=9)[0]
    fields = (value.record_id, value.customer_id, value.kind, value.outcome, value.content_hash)

    assert leaf_hash(*fields) == keccak(keccak(encode(list(LEAF_ENCODING), list(fields))))


def test_the_dump_keeps_the_values_in_the_order_given() -> None:
    values = random_values(10, seed=5)

    dump = MerkleTree.of(values).dump()

    assert [item["value"] for item in dump["values"]] == [value.as_json() for value in values]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(format="standard-v2"), "tree.format"),
        (lambda d: d.update(leafEncoding=["bytes32"]), "tree.leafEncoding"),
        (lambda d: d["tree"].__setitem__(0, "0x" + "00" * 32), "tree.tree"),
        (lambda d: d["values"][0].__setitem__("treeIndex", d["values"][1]["treeIndex"]), "treeIndex"),
        (lambda d: d["values"][0]["value"].__setitem__(1, "-1"), "tree.values[0].value[1] (customerId)"),
        (lambda d: d["values"][0]["value"].__setitem__(2, "256"), "tree.values[0].value[2] (kind)"),
        (lambda d: d["values"][0]["value"].__setitem__(0, "0x1234"), "tree.values[0].value[0] (recordId)"),
        (lambda d: d["values"].pop(), "tree.tree"),
        (lambda d: d.update(values=[]), "tree.values"),
    ],
)
def test_a_dump_that_is_not_the_tree_of_its_values_is_refused_naming_the_field(change: Any, field: str) -> None:
    dump = MerkleTree.of(random_values(4, seed=11)).dump()
    change(dump)

    with pytest.raises(BatchMismatch) as refused:
        MerkleTree.load(dump)

    assert field in str(refused.value) and "\n" not in str(refused.value)


def test_a_value_that_does_not_fit_its_type_is_refused() -> None:
    with pytest.raises(BatchMismatch, match="kind"):
        LeafValue(os.urandom(32), 1, 256, 0, os.urandom(32))
    with pytest.raises(BatchMismatch, match="recordId"):
        LeafValue(b"short", 1, 1, 0, os.urandom(32))
