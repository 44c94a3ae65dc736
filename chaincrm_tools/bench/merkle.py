"""Merkle-anchored interaction batches: gas, throughput and the queue's memory (issue 12's figures).

Gas (``chaincrm bench gas`` adds these under ``"merkle"``; from receipts, or eth_estimateGas of a
transaction for the view checks), with the anchors measured on the same Anvil:

- ``anchored_record_batch_100`` / ``_1000``: one ``anchorInteractions`` transaction divided by the
  records it anchors (the anchor's gas does not grow with the batch);
- ``proof_check_depth_10``: ``verifyInteraction`` with a proof of depth 10 (a tree of 1,024
  leaves), sent as a transaction (eth_estimateGas);
- anchors: ``anchor_root_event`` (``RootEmitter.emitRoot(bytes32)``: one event of one root, the
  floor of any anchor) and ``anchor_oz_merkle_proof_depth_10`` (OpenZeppelin's ``MerkleProof`` in
  ``MerkleReference.check``, the same proof).

Throughput (``chaincrm bench throughput --merkle``): records from `enqueue` calls to anchored roots
(content hashes precomputed: storing a document costs the same in both modes), with the batcher in
a process of its own as ``chaincrm batch run`` would be (every 1,000 records or half a second), on
Anvil with automine and the embedded IPFS node. Twice: one record per call from four threads (an
API server's workers; their commits are shared), and 100 records per call (`enqueue_many`). Then
the queue's memory (RSS growth) with 1,000,000 records pending, and the time to form a batch at
that size.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import random
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chaincrm.batches import Batcher, InteractionQueue, LeafValue, MerkleTree, QueueScope, RecordEntry
from chaincrm.chain.artifacts import load_artifact
from chaincrm.contracts.client import Crm, connect
from chaincrm.contracts.deployment import deploy, load_record, save_record
from chaincrm.models import Role
from chaincrm.services import supervisor
from chaincrm.services.anvil import AnvilOptions, anvil, dev_private_keys, free_port
from chaincrm.storage import KuboStore
from chaincrm.storage.node import start_node, stop_node
from chaincrm_tools.bench.harness import log_targets, machine_figures, target_rows

GAS_TARGETS = {
    "anchored_record_batch_100": 300,
    "anchored_record_batch_1000": 40,
    "proof_check_depth_10": 40_000,
}
GAS_NOTES = {
    "anchored_record_batch_100": "anchorInteractions gas / 100 records (floor: one root event / 100)",
    "anchored_record_batch_1000": "anchorInteractions gas / 1,000 records",
    "anchor_interactions": "one anchorInteractions transaction (the same for any count)",
    "proof_check_depth_10": "verifyInteraction(root, proof of depth 10, leaf) as a transaction (estimateGas)",
    "anchor_root_event": "anchor: RootEmitter.emitRoot(bytes32), one event of one root",
    "anchor_oz_merkle_proof_depth_10": "anchor: OpenZeppelin MerkleProof.verify in MerkleReference.check, depth 10",
}
THROUGHPUT_TARGET_PER_SECOND = 5_000
THROUGHPUT_RECORDS = 50_000
MEMORY_PENDING_RECORDS = 1_000_000
ENQUEUE_CHUNK = 10_000
BATCH_RECORDS = 1_000
BATCH_WITHIN_SECONDS = 0.5
BULK_CALL_RECORDS = 100
LOGGING_THREADS = 4
DEPTH_10_LEAVES = 1024
CUSTOMERS = 1_000
ANCHOR_WAIT_SECONDS = 600
BATCHER_STOP_SECONDS = 30
BATCHER_COMMAND = "import sys; from {module} import batcher_main; batcher_main(sys.argv[1])"


@dataclass(frozen=True)
class _Actors:
    admin: LocalAccount
    agent: LocalAccount


def _actors() -> _Actors:
    admin, agent = (Account.from_key(key) for key in dev_private_keys(2))
    return _Actors(admin, agent)


def _fresh_crm(url: str, actors: _Actors) -> Crm:
    chain = connect(url)
    crm = Crm.attach(chain, deploy(chain, actors.admin, treasury=actors.admin.address))
    crm.registry.grant_role(Role.AGENT, actors.agent.address, actors.admin)
    return crm


def _values(count: int) -> list[LeafValue]:
    return [
        LeafValue(
            os.urandom(32), random.randint(1, CUSTOMERS), random.randint(1, 7), random.randint(0, 5), os.urandom(32)
        )
        for _ in range(count)
    ]


def _random_fields() -> tuple[int, int, int]:
    """A customer id, a kind and an outcome."""
    return random.randint(1, CUSTOMERS), random.randint(1, 7), random.randint(0, 5)


def _deploy(crm: Crm, name: str, sender: LocalAccount, *args: object) -> Any:
    artifact = load_artifact(name)
    w3 = crm.chain.w3
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = crm.chain.transact(factory.constructor(*args), sender)
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)


# ---------------------------------------------------------------------- gas


def measure_merkle_gas(crm: Crm, actors: _Actors) -> dict[str, int]:
    """Gas of anchoring and proving, and of the two anchors, on `crm`'s chain."""
    registry, agent = crm.registry, actors.agent
    gas: dict[str, int] = {}
    registry.anchor_interactions(os.urandom(32), os.urandom(32), 1, agent)  # warm-up
    for size in (100, 1000):
        tree = MerkleTree.of(_values(size))
        receipt = registry.anchor_interactions(tree.root, os.urandom(32), size, agent)
        gas["anchor_interactions"] = int(receipt["gasUsed"])
        gas[f"anchored_record_batch_{size}"] = int(receipt["gasUsed"]) // size
    tree = MerkleTree.of(_values(DEPTH_10_LEAVES))
    proofs = [(tree.leaf(i), tree.proof(i)) for i in random.sample(range(DEPTH_10_LEAVES), 8)]
    if any(len(proof) != 10 for _, proof in proofs):
        raise AssertionError("a tree of 1,024 leaves gives proofs of depth 10")
    ours = [
        registry.contract.functions.verifyInteraction(tree.root, proof, leaf).estimate_gas({"from": agent.address})
        for leaf, proof in proofs
    ]
    gas["proof_check_depth_10"] = max(ours)
    emitter = _deploy(crm, "RootEmitter", actors.admin)
    crm.chain.transact(emitter.functions.emitRoot(os.urandom(32)), actors.admin)  # warm-up
    gas["anchor_root_event"] = int(
        crm.chain.transact(emitter.functions.emitRoot(os.urandom(32)), actors.admin)["gasUsed"]
    )
    reference = _deploy(crm, "MerkleReference", actors.admin, tree.root)
    theirs = [reference.functions.check(proof, leaf).estimate_gas({"from": agent.address}) for leaf, proof in proofs]
    if not all(reference.functions.check(proof, leaf).call() for leaf, proof in proofs):
        raise AssertionError("OpenZeppelin's MerkleProof refused our proofs")
    if not all(registry.verify_interaction(tree.root, proof, leaf) for leaf, proof in proofs):
        raise AssertionError("verifyInteraction refused our proofs")
    gas["anchor_oz_merkle_proof_depth_10"] = max(theirs)
    return gas


def merkle_gas(log: Callable[[str], None] = print) -> dict[str, Any]:
    """The gas figures on a fresh Anvil, with targets and notes."""
    actors = _actors()
    with anvil(AnvilOptions(port=free_port())) as node:
        gas = measure_merkle_gas(_fresh_crm(node.url, actors), actors)
    rows = target_rows(
        [
            (name, value, f"<= {GAS_TARGETS[name]:,}" if name in GAS_TARGETS else "", _met(name, value))
            for name, value in gas.items()
        ]
    )
    log_targets(rows, log, 36, 12)
    return {"gas": gas, "targets": GAS_TARGETS, "notes": GAS_NOTES, "table": rows}


def _met(name: str, value: int) -> bool | None:
    return value <= GAS_TARGETS[name] if name in GAS_TARGETS else None


def add_to_gas_results(out: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """`bench gas`'s hook: measure and add the figures under "merkle" in its results file."""
    log("measuring Merkle-anchored batches")
    figures = merkle_gas(log)
    results = json.loads(out.read_text()) if out.is_file() else {}
    results["merkle"] = figures
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return figures


# ---------------------------------------------------------------------- throughput and memory


def measure_throughput(
    crm: Crm, ipfs_api: str, agent: LocalAccount, folder: Path, records: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Records from one `enqueue` call each to anchored roots, with the batcher in its own process
    (as `chaincrm batch run` beside the application that logs)."""
    scope = QueueScope(crm.chain.chain_id, crm.registry.address, agent.address)
    entries = [(*_random_fields(), os.urandom(32)) for _ in range(records)]
    queue_file = folder / "throughput.sqlite"
    record = folder / "deployment.json"
    save_record(crm.deployment, record)
    config = folder / "batcher.json"
    config.touch(mode=0o600)  # it carries an Anvil dev key, in the bench's private folder
    config.write_text(
        json.dumps(
            {
                "rpc_url": crm.chain.endpoint,
                "ipfs_api": ipfs_api,
                "deployment": str(record),
                "queue": str(queue_file),
                "key": agent.key.hex(),
            }
        )
    )
    with InteractionQueue(queue_file, scope) as queue:
        queue.enqueue(1, 1, 0, os.urandom(32))
        child = supervisor.spawn(
            [
                sys.executable,
                "-c",
                f"import sys; from {__name__} import batcher_main; batcher_main(sys.argv[1])",
                str(config),
            ],
            log_file=folder / "batcher.log",
            detach=False,
        )
        try:
            _wait_anchored(queue, 1, child, folder)  # warm-up: connections, fees, the first document
            phases = {}
            anchored = 1
            for per_call in (1, BULK_CALL_RECORDS):
                started = time.perf_counter()
                if per_call == 1:
                    _log_one_by_one(queue, entries, LOGGING_THREADS)
                else:
                    for start in range(0, records, per_call):
                        queue.enqueue_many(RecordEntry(*entry) for entry in entries[start : start + per_call])
                logged = time.perf_counter() - started
                anchored += records
                _wait_anchored(queue, anchored, child, folder)
                elapsed = time.perf_counter() - started
                phases[per_call] = _phase(records, per_call, logged, elapsed, log)
                entries = [(*_random_fields(), os.urandom(32)) for _ in range(records)]
            status = queue.status()
        finally:
            supervisor.stop(child.pid)
            child.wait(BATCHER_STOP_SECONDS)
    return {
        "records": records,
        "batch_records": BATCH_RECORDS,
        "logging_threads_one_per_call": LOGGING_THREADS,
        "one_record_per_call": phases[1],
        f"{BULK_CALL_RECORDS}_records_per_call": phases[BULK_CALL_RECORDS],
        "anchored_batches": status.anchored_batches,
        "pending_after": status.pending,
    }


def _log_one_by_one(queue: InteractionQueue, entries: list[tuple[int, int, int, bytes]], threads: int) -> None:
    """One `enqueue` call per record from `threads` threads at once (an API server's workers):
    their commits are shared (the queue's group commit)."""

    def log(part: list[tuple[int, int, int, bytes]]) -> None:
        for customer_id, kind, outcome, content_hash in part:
            queue.enqueue(customer_id, kind, outcome, content_hash)

    workers = [threading.Thread(target=log, args=(entries[i::threads],)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def _phase(records: int, per_call: int, logged: float, elapsed: float, log: Callable[[str], None]) -> dict[str, Any]:
    log(
        f"throughput, {per_call} record(s) per log call: {records:,} records logged in {logged:.2f} s "
        f"({records / logged:,.0f} records/s) and all anchored within {elapsed:.2f} s: "
        f"{records / elapsed:,.0f} records/s"
    )
    return {
        "logging_seconds": round(logged, 3),
        "logged_per_second": round(records / logged, 1),
        "seconds_to_last_anchor": round(elapsed, 3),
        "records_per_second": round(records / elapsed, 1),
    }


def _wait_anchored(queue: InteractionQueue, count: int, child: Any, folder: Path) -> None:
    deadline = time.monotonic() + ANCHOR_WAIT_SECONDS
    while queue.status().anchored < count:
        if child.poll() is not None:
            raise RuntimeError(f"the batcher exited: {supervisor.last_log_line(folder / 'batcher.log')}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"records were not anchored within {ANCHOR_WAIT_SECONDS} s")
        time.sleep(0.005)


def batcher_main(config_file: str) -> None:
    """The bench's batcher process: `Batcher.run` on the queue the config names, until SIGTERM."""
    spec = json.loads(Path(config_file).read_text())
    agent = Account.from_key(bytes.fromhex(spec["key"].removeprefix("0x")))
    crm = Crm.attach(connect(spec["rpc_url"]), load_record(Path(spec["deployment"])))
    scope = QueueScope(crm.chain.chain_id, crm.registry.address, agent.address)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with InteractionQueue(Path(spec["queue"]), scope) as queue, KuboStore(spec["ipfs_api"]) as store:
        batcher = Batcher(
            queue,
            crm.registry,
            store,
            agent,
            every=BATCH_RECORDS,
            within=BATCH_WITHIN_SECONDS,
            from_block=crm.deployment.block_number,
        )
        batcher.run(stop, poll_seconds=0.02)


def measure_pending_memory(folder: Path, pending: int, log: Callable[[str], None]) -> dict[str, Any]:
    """The process's RSS growth with `pending` records in the queue (written in chunks of 10,000),
    and the time to form one batch and read the status at that size."""
    scope = QueueScope(31337, "0x" + "11" * 20, "0x" + "22" * 20)
    gc.collect()
    process = psutil.Process()
    before = process.memory_info().rss
    started = time.perf_counter()
    with InteractionQueue(folder / "memory.sqlite", scope) as queue:
        for start in range(0, pending, ENQUEUE_CHUNK):
            size = min(ENQUEUE_CHUNK, pending - start)
            queue.enqueue_many(RecordEntry(1 + (start + i) % CUSTOMERS, 1, 0, os.urandom(32)) for i in range(size))
        filled = time.perf_counter() - started
        gc.collect()
        after_fill = process.memory_info().rss
        began = time.perf_counter()
        status = queue.status()
        batch = queue.form_batch(BATCH_RECORDS)
        batching = time.perf_counter() - began
        gc.collect()
        after = process.memory_info().rss
    size_bytes = sum(path.stat().st_size for path in folder.glob("memory.sqlite*"))
    mib = 1024 * 1024
    log(
        f"memory: {status.pending:,} records pending: RSS +{(after_fill - before) / mib:.1f} MiB "
        f"(+{(after - before) / mib:.1f} MiB after forming a batch in {batching * 1000:.0f} ms); "
        f"queue file {size_bytes / mib:.0f} MiB, filled in {filled:.1f} s"
    )
    return {
        "pending": status.pending,
        "rss_delta_mib": round((after_fill - before) / mib, 1),
        "rss_delta_after_batch_mib": round((after - before) / mib, 1),
        "form_batch_ms": round(batching * 1000, 1),
        "batch_formed_records": batch.count if batch else 0,
        "queue_file_mib": round(size_bytes / mib, 1),
        "fill_seconds": round(filled, 1),
        "fill_records_per_second": round(pending / filled, 1),
    }


def run_merkle_throughput(
    out: Path,
    records: int = THROUGHPUT_RECORDS,
    pending: int = MEMORY_PENDING_RECORDS,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """`bench throughput --merkle`: throughput to anchored roots, then memory at `pending` records."""
    load_at_start = os.getloadavg()
    actors = _actors()
    with (
        tempfile.TemporaryDirectory(prefix="chaincrm-merkle-bench-") as name,
        anvil(AnvilOptions(port=free_port())) as node,
    ):
        folder = Path(name)
        ipfs = start_node(folder / "ipfs", free_port(), folder / "ipfs.log")
        try:
            crm = _fresh_crm(node.url, actors)
            throughput = measure_throughput(crm, ipfs.api_addr, actors.agent, folder, records, log)
        finally:
            stop_node(ipfs)
        memory = measure_pending_memory(folder, pending, log)
    single = throughput["one_record_per_call"]["records_per_second"]
    bulk = throughput[f"{BULK_CALL_RECORDS}_records_per_call"]["records_per_second"]
    target = f">= {THROUGHPUT_TARGET_PER_SECOND:,}"
    rows = target_rows(
        [
            ("records/s to anchored roots, 1 per log call", single, target, single >= THROUGHPUT_TARGET_PER_SECOND),
            (
                f"records/s to anchored roots, {BULK_CALL_RECORDS} per call",
                bulk,
                target,
                bulk >= THROUGHPUT_TARGET_PER_SECOND,
            ),
            (f"RSS growth (MiB), {memory['pending']:,} pending", memory["rss_delta_mib"], "", None),
        ]
    )
    results = {
        "python": platform.python_version(),
        "machine": machine_figures(load_at_start, "Anvil, the embedded IPFS node and the bench share the cores"),
        "throughput": throughput,
        "memory": memory,
        "targets": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    log_targets(rows, log, 44, 12)
    return results


__all__ = [
    "GAS_TARGETS",
    "add_to_gas_results",
    "measure_merkle_gas",
    "measure_pending_memory",
    "measure_throughput",
    "merkle_gas",
    "run_merkle_throughput",
]
