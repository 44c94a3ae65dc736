"""CrmRegistry's anchored interaction batches: anchorInteractions, verifyInteraction, interactionLeaf.

A batch of interaction records lives on IPFS; the chain keeps only the event that anchors its
Merkle root. The tree is OpenZeppelin's StandardMerkleTree over
(recordId, customerId, kind, outcome, contentHash): it is rebuilt here in Python, independently of
the contract and of the SDK, and checked once against @openzeppelin/merkle-tree itself (node).

Refusals are checked by simulating the transaction (eth_call), as in test_interaction_log.py.
"""

from __future__ import annotations

import json
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from brownie import chain, web3
from eth_abi import decode, encode
from eth_utils import keccak

from tests.contracts.helpers import (
    KIND_CALL,
    MAX_KIND,
    MAX_OUTCOME,
    OUTCOME_POSITIVE,
    ZERO_HASH,
    random_hash,
    reverts_with,
)

LEAF_ENCODING = ("bytes32", "uint256", "uint8", "uint8", "bytes32")
MAX_UINT32 = 2**32 - 1
MAX_UINT256 = 2**256 - 1
MAX_UINT8 = 255
TREE_SIZES = (1, 2, 3, 7, 1024)
# The design's gas target: <= 300 gas a record at 100 records, i.e. one anchor tx <= 30,000 gas.
RECORDS_PER_BATCH = 100
MAX_ANCHOR_GAS = 30_000
ROLE_OUTSIDERS = ("admin", "manager", "auditor", "customer", "stranger")
REPOSITORY = Path(__file__).resolve().parents[2]
NODE_TIMEOUT_SECONDS = 60
ANCHOR_EVENT_TOPIC = keccak(b"InteractionBatchAnchored(address,bytes32,bytes32,uint32,uint64)")


# ---------------------------------------------------------------- an independent StandardMerkleTree

Value = tuple[bytes, int, int, int, bytes]


def leaf_of(value: Value) -> bytes:
    """OpenZeppelin StandardMerkleTree's leaf: keccak256(keccak256(abi.encode(value)))."""
    return keccak(keccak(encode(list(LEAF_ENCODING), list(value))))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin's commutative node hash: the pair sorted as unsigned integers, then keccak256."""
    return keccak(a + b) if a < b else keccak(b + a)


@dataclass(frozen=True)
class Tree:
    """A StandardMerkleTree: the node array (root first) and each value's position in it."""

    nodes: tuple[bytes, ...]
    values: tuple[Value, ...]
    tree_index: tuple[int, ...]  # per value, in the order the values were given

    @property
    def root(self) -> bytes:
        return self.nodes[0]

    def proof(self, value_index: int) -> list[bytes]:
        index = self.tree_index[value_index]
        proof = []
        while index > 0:
            sibling = index + 1 if index % 2 else index - 1
            proof.append(self.nodes[sibling])
            index = (index - 1) // 2
        return proof


def standard_tree(values: list[Value]) -> Tree:
    """StandardMerkleTree.of(values, LEAF_ENCODING): leaves sorted by hash, laid out from the end of
    the array, each inner node the hash of its two children."""
    hashed = sorted(((leaf_of(value), index) for index, value in enumerate(values)), key=lambda pair: pair[0])
    size = 2 * len(hashed) - 1
    nodes: list[bytes] = [b""] * size
    tree_index = [0] * len(values)
    for leaf_index, (leaf, value_index) in enumerate(hashed):
        nodes[size - 1 - leaf_index] = leaf
        tree_index[value_index] = size - 1 - leaf_index
    for index in range(size - 1 - len(hashed), -1, -1):
        nodes[index] = hash_pair(nodes[2 * index + 1], nodes[2 * index + 2])
    return Tree(tuple(nodes), tuple(values), tuple(tree_index))


def random_values(count: int, seed: int) -> list[Value]:
    rng = random.Random(seed)
    return [
        (
            rng.randbytes(32),
            rng.randrange(1, 2**64),
            rng.randint(1, MAX_KIND),
            rng.randint(0, MAX_OUTCOME),
            rng.randbytes(32),
        )
        for _ in range(count)
    ]


def as_dump_value(value: Value) -> list[str]:
    """A value as @openzeppelin/merkle-tree's dump writes it: hex bytes32, decimal-string uints."""
    record_id, customer_id, kind, outcome, content_hash = value
    return ["0x" + record_id.hex(), str(customer_id), str(kind), str(outcome), "0x" + content_hash.hex()]


VERIFY_SELECTOR = keccak(b"verifyInteraction(bytes32,bytes32[],bytes32)")[:4]
CALLS_PER_BATCH = 256


def verify_all(registry, checks: list[tuple[bytes, list[bytes], bytes]]) -> list[bool]:
    """verifyInteraction(root, proof, leaf) for every check, as eth_calls in JSON-RPC batches: a
    thousand proofs in a few round trips instead of a thousand."""
    results = []
    for start in range(0, len(checks), CALLS_PER_BATCH):
        requests = [
            (
                "eth_call",
                [
                    {
                        "to": registry.address,
                        "data": "0x" + (VERIFY_SELECTOR + encode(["bytes32", "bytes32[]", "bytes32"], check)).hex(),
                    },
                    "latest",
                ],
            )
            for check in checks[start : start + CALLS_PER_BATCH]
        ]
        responses = sorted(web3.provider.make_batch_request(requests), key=lambda response: response["id"])
        results += [decode(["bool"], bytes.fromhex(response["result"][2:]))[0] for response in responses]
    assert len(results) == len(checks)
    return results


def verifies(registry, root: bytes, proof: list[bytes], leaf: bytes) -> bool:
    return verify_all(registry, [(root, proof, leaf)])[0]


def anchor(registry, author, root=None, cid_digest=None, count: int = RECORDS_PER_BATCH, dry_run: bool = False):
    """With `dry_run`, the transaction is only simulated (eth_call): how the tests check refusals."""
    send = registry.anchorInteractions.call if dry_run else registry.anchorInteractions
    root = random_hash() if root is None else root
    cid_digest = random_hash() if cid_digest is None else cid_digest
    return send(root, cid_digest, count, {"from": author})


# ---------------------------------------------------------------- the Python tree itself


def test_the_python_tree_is_the_one_openzeppelin_merkle_tree_builds():
    values = random_values(7, seed=7)
    script = (
        "const {StandardMerkleTree} = require('@openzeppelin/merkle-tree');"
        "const [values, encoding] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "process.stdout.write(JSON.stringify(StandardMerkleTree.of(values, encoding).dump()));"
    )
    made = subprocess.run(
        ["node", "-e", script],
        input=json.dumps([[as_dump_value(value) for value in values], list(LEAF_ENCODING)]),
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
        timeout=NODE_TIMEOUT_SECONDS,
        check=True,
    )
    dump = json.loads(made.stdout)

    tree = standard_tree(values)

    assert dump["format"] == "standard-v1"
    assert dump["leafEncoding"] == list(LEAF_ENCODING)
    assert dump["tree"] == ["0x" + node.hex() for node in tree.nodes]
    assert [entry["value"] for entry in dump["values"]] == [as_dump_value(value) for value in values]
    assert [entry["treeIndex"] for entry in dump["values"]] == list(tree.tree_index)


# ---------------------------------------------------------------- interactionLeaf


def test_the_leaf_is_openzeppelins_double_keccak_of_the_abi_encoded_record(registry):
    for value in random_values(5, seed=1):
        assert bytes(registry.interactionLeaf(*value)) == leaf_of(value)


def test_the_leaf_encodes_every_field_at_its_widest(registry):
    extremes = [
        (b"\xff" * 32, MAX_UINT256, MAX_UINT8, MAX_UINT8, b"\xff" * 32),
        (ZERO_HASH, 0, 0, 0, ZERO_HASH),
        (random_hash(), 2**64, KIND_CALL, OUTCOME_POSITIVE, random_hash()),  # past a uint64 id
    ]

    for value in extremes:
        assert bytes(registry.interactionLeaf(*value)) == leaf_of(value)


def test_every_field_changes_the_leaf(registry):
    value = random_values(1, seed=2)[0]
    record_id, customer_id, kind, outcome, content_hash = value
    variants = [
        (random_hash(), customer_id, kind, outcome, content_hash),
        (record_id, customer_id + 1, kind, outcome, content_hash),
        (record_id, customer_id, kind % MAX_KIND + 1, outcome, content_hash),
        (record_id, customer_id, kind, (outcome + 1) % (MAX_OUTCOME + 1), content_hash),
        (record_id, customer_id, kind, outcome, random_hash()),
    ]

    leaves = {bytes(registry.interactionLeaf(*variant)) for variant in [value, *variants]}

    assert len(leaves) == len(variants) + 1


def test_the_leaf_is_not_the_single_hash_of_the_encoding(registry):
    """The second hash keeps a leaf from ever being read as an inner node (a 64-byte preimage)."""
    value = random_values(1, seed=3)[0]

    assert bytes(registry.interactionLeaf(*value)) != keccak(encode(list(LEAF_ENCODING), list(value)))


# ---------------------------------------------------------------- verifyInteraction


@pytest.mark.parametrize("size", TREE_SIZES)
def test_a_proof_built_in_python_verifies_for_every_leaf(registry, size):
    tree = standard_tree(random_values(size, seed=size))

    verified = verify_all(
        registry, [(tree.root, tree.proof(index), leaf_of(value)) for index, value in enumerate(tree.values)]
    )

    assert verified == [True] * size
    assert registry.verifyInteraction(tree.root, tree.proof(size - 1), leaf_of(tree.values[-1]))  # and via Brownie


@pytest.mark.parametrize("size", (1, 3, 7))
def test_the_leaf_computed_on_chain_verifies_against_the_python_root(registry, size):
    tree = standard_tree(random_values(size, seed=100 + size))

    for value_index, value in enumerate(tree.values):
        leaf = registry.interactionLeaf(*value)
        assert registry.verifyInteraction(tree.root, tree.proof(value_index), leaf)


def test_a_tree_of_one_leaf_has_the_leaf_as_root_and_an_empty_proof(registry):
    value = random_values(1, seed=11)[0]
    tree = standard_tree([value])

    assert tree.root == leaf_of(value)
    assert tree.proof(0) == []
    assert registry.verifyInteraction(tree.root, [], leaf_of(value))
    assert not registry.verifyInteraction(tree.root, [], leaf_of(random_values(1, seed=12)[0]))


@pytest.mark.parametrize("size", (2, 7, 1024))
def test_a_proof_does_not_verify_against_another_root(registry, size):
    tree = standard_tree(random_values(size, seed=200 + size))
    other = standard_tree(random_values(size, seed=300 + size))

    for value_index in (0, size - 1):
        leaf = leaf_of(tree.values[value_index])
        assert not verifies(registry, other.root, tree.proof(value_index), leaf)


@pytest.mark.parametrize("size", (1, 2, 7, 1024))
def test_a_tampered_leaf_does_not_verify(registry, size):
    tree = standard_tree(random_values(size, seed=400 + size))
    record_id, customer_id, kind, outcome, content_hash = tree.values[0]
    proof = tree.proof(0)
    tampered = [
        (record_id, customer_id + 1, kind, outcome, content_hash),
        (record_id, customer_id, kind, outcome, random_hash()),
        (random_hash(), customer_id, kind, outcome, content_hash),
    ]

    for value in tampered:
        assert not verifies(registry, tree.root, proof, leaf_of(value))
    flipped = bytearray(leaf_of(tree.values[0]))
    flipped[-1] ^= 1
    assert not verifies(registry, tree.root, proof, bytes(flipped))


@pytest.mark.parametrize("size", (2, 3, 7, 1024))
def test_a_truncated_or_padded_proof_does_not_verify(registry, size):
    tree = standard_tree(random_values(size, seed=500 + size))

    for value_index in (0, size // 2, size - 1):
        proof, leaf = tree.proof(value_index), leaf_of(tree.values[value_index])
        assert proof, "every leaf of a tree of two or more has a sibling"
        assert not verifies(registry, tree.root, proof[:-1], leaf)
        assert not verifies(registry, tree.root, [], leaf)
        assert not verifies(registry, tree.root, [*proof, random_hash()], leaf)


def test_a_proof_with_its_siblings_swapped_for_another_leafs_does_not_verify(registry):
    tree = standard_tree(random_values(7, seed=600))

    assert not verifies(registry, tree.root, tree.proof(1), leaf_of(tree.values[0]))
    assert not verifies(registry, tree.root, list(reversed(tree.proof(0))), leaf_of(tree.values[0]))


def test_the_root_itself_is_not_a_leaf_of_its_tree(registry):
    tree = standard_tree(random_values(7, seed=700))

    assert not registry.verifyInteraction(tree.root, tree.proof(0), tree.root)


def test_the_reference_verifier_agrees_with_verify_interaction(MerkleReference, registry, admin):
    """MerkleReference (a stored root, as an airdrop checks a claim) is the gas bench's yardstick."""
    tree = standard_tree(random_values(7, seed=800))
    reference = MerkleReference.deploy(tree.root, {"from": admin})

    assert bytes(reference.root()) == tree.root
    for value_index, value in enumerate(tree.values):
        proof, leaf = tree.proof(value_index), leaf_of(value)
        assert reference.check(proof, leaf) is registry.verifyInteraction(tree.root, proof, leaf) is True
    assert reference.check(tree.proof(0)[:-1], leaf_of(tree.values[0])) is False


def test_the_root_emitter_emits_the_root_alone_for_anyone(RootEmitter, admin, stranger):
    """RootEmitter (one event, no role, no storage) is the gas bench's floor for an anchor."""
    root = random_hash()
    emitter = RootEmitter.deploy({"from": admin})

    tx = emitter.emitRoot(root, {"from": stranger})

    assert [event.name for event in tx.events] == ["Root"]
    assert bytes(tx.events["Root"]["root"]) == root


# ---------------------------------------------------------------- anchorInteractions: accepted


def test_an_agent_anchors_a_batch(registry, agent):
    tree = standard_tree(random_values(RECORDS_PER_BATCH, seed=900))
    cid_digest = random_hash()

    tx = registry.anchorInteractions(tree.root, cid_digest, RECORDS_PER_BATCH, {"from": agent})

    assert [event.name for event in tx.events] == ["InteractionBatchAnchored"]
    event = tx.events["InteractionBatchAnchored"]
    assert event["author"] == agent
    assert bytes(event["root"]) == tree.root
    assert bytes(event["cidDigest"]) == cid_digest
    assert event["count"] == RECORDS_PER_BATCH
    assert event["at"] == tx.timestamp == chain[tx.block_number].timestamp


def test_an_agent_without_any_grant_anchors(registry, agent2):
    """The records are off-chain: the contract checks the role only (the indexer checks grants)."""
    assert registry.customerCount() == 0

    tx = anchor(registry, agent2)

    assert tx.events["InteractionBatchAnchored"]["author"] == agent2


def test_one_log_query_on_the_root_finds_its_anchor(registry, agent, agent2):
    root = random_hash()
    anchor(registry, agent2)
    tx = anchor(registry, agent, root=root, count=3)
    anchor(registry, agent2)

    logs = web3.eth.get_logs(
        {
            "address": registry.address,
            "fromBlock": 0,
            "toBlock": "latest",
            "topics": ["0x" + ANCHOR_EVENT_TOPIC.hex(), None, "0x" + root.hex()],
        }
    )

    assert [log["transactionHash"].hex().removeprefix("0x") for log in logs] == [tx.txid.removeprefix("0x")]
    assert bytes(logs[0]["topics"][1])[-20:] == bytes.fromhex(agent.address[2:])


def test_a_batch_of_the_largest_count_is_anchored(registry, agent):
    tx = anchor(registry, agent, count=MAX_UINT32)

    assert tx.events["InteractionBatchAnchored"]["count"] == MAX_UINT32


def test_a_batch_of_one_record_is_anchored(registry, agent):
    tree = standard_tree(random_values(1, seed=901))

    tx = anchor(registry, agent, root=tree.root, count=1)

    assert bytes(tx.events["InteractionBatchAnchored"]["root"]) == leaf_of(tree.values[0])


def test_the_contract_keeps_no_record_of_a_root_so_the_same_root_anchors_twice(registry, agent, agent2):
    """Nothing is stored: which anchor counts (the first) is the reader's rule, not the contract's."""
    root = random_hash()

    first = anchor(registry, agent, root=root)
    second = anchor(registry, agent2, root=root)

    assert bytes(first.events["InteractionBatchAnchored"]["root"]) == root
    assert bytes(second.events["InteractionBatchAnchored"]["root"]) == root


def test_anchoring_writes_no_storage(registry, agent):
    tx = anchor(registry, agent)

    # The prestate tracer in diff mode lists every account whose state the transaction changed.
    trace = web3.provider.make_request(
        "debug_traceTransaction", [tx.txid, {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}}]
    )

    changed = {address.lower(): state for address, state in trace["result"]["post"].items()}
    assert agent.address.lower() in changed  # the sender's nonce: the tracer does report changes
    assert "storage" not in changed.get(registry.address.lower(), {})


def test_anchoring_a_batch_of_a_hundred_records_costs_at_most_30000_gas(registry, agent):
    tree = standard_tree(random_values(RECORDS_PER_BATCH, seed=902))

    tx = anchor(registry, agent, root=tree.root)

    assert "InteractionBatchAnchored" in tx.events
    print(
        f"anchorInteractions: {tx.gas_used} gas for {RECORDS_PER_BATCH} records "
        f"({tx.gas_used / RECORDS_PER_BATCH:.0f} gas a record)"
    )
    assert tx.gas_used <= MAX_ANCHOR_GAS


# ---------------------------------------------------------------- anchorInteractions: refused


def test_anchoring_is_refused_for_anyone_without_the_agent_role(registry, request):
    for account in map(request.getfixturevalue, ROLE_OUTSIDERS):
        with reverts_with("AccessControlUnauthorizedAccount", account, registry.AGENT_ROLE()):
            anchor(registry, account, dry_run=True)


def test_a_former_agent_may_not_anchor(registry, admin, agent):
    registry.revokeRole(registry.AGENT_ROLE(), agent, {"from": admin})

    with reverts_with("AccessControlUnauthorizedAccount", agent, registry.AGENT_ROLE()):
        anchor(registry, agent, dry_run=True)


def test_the_role_is_checked_before_the_batch(registry, stranger):
    with reverts_with("AccessControlUnauthorizedAccount", stranger, registry.AGENT_ROLE()):
        anchor(registry, stranger, root=ZERO_HASH, cid_digest=ZERO_HASH, count=0, dry_run=True)


def test_anchoring_without_a_root_reverts(registry, agent):
    with reverts_with("BatchRootMissing"):
        anchor(registry, agent, root=ZERO_HASH, dry_run=True)


def test_anchoring_without_a_batch_document_reverts(registry, agent):
    with reverts_with("BatchDocumentMissing"):
        anchor(registry, agent, cid_digest=ZERO_HASH, dry_run=True)


def test_anchoring_an_empty_batch_reverts(registry, agent):
    with reverts_with("InteractionBatchEmpty"):
        anchor(registry, agent, count=0, dry_run=True)


def test_a_batch_missing_everything_is_refused_for_its_root_first(registry, agent):
    with reverts_with("BatchRootMissing"):
        anchor(registry, agent, root=ZERO_HASH, cid_digest=ZERO_HASH, count=0, dry_run=True)
    with reverts_with("BatchDocumentMissing"):
        anchor(registry, agent, cid_digest=ZERO_HASH, count=0, dry_run=True)


def test_a_refused_anchor_leaves_no_event(registry, agent):
    start = chain.height

    with reverts_with("BatchRootMissing"):
        anchor(registry, agent, root=ZERO_HASH, dry_run=True)

    logs = web3.eth.get_logs(
        {"address": registry.address, "fromBlock": start, "topics": ["0x" + ANCHOR_EVENT_TOPIC.hex()]}
    )
    assert logs == []
