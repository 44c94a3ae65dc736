"""Benchmark: rebuilding an index from the chain and IPFS when interactions are anchored in
Merkle batches (`chaincrm bench index --batched`). Not a test.

`run_batched_index_bench` starts its own Anvil and embedded IPFS node on free ports, registers
customers (the agent registers them, so it holds a grant on each), builds `batches` batch documents
of `batch_records` records each (1,000 x 1,000 = 1,000,000 records by default), stores them on the
node and anchors each root, then rebuilds an index from scratch: the chain's logs, then every
document fetched, checked against its root and its records written as interactions. It reports the
rebuild's time and records per second, and checks that the index holds every record.
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_account import Account
from sqlalchemy import func, select

from chaincrm.batches.document import build_document
from chaincrm.batches.tree import LeafValue
from chaincrm.contracts.client import Crm, connect
from chaincrm.contracts.deployment import deploy
from chaincrm.index import schema as db
from chaincrm.index.batches import FETCH_TIMEOUT_SECONDS, MAX_BATCH_DOCUMENT_BYTES
from chaincrm.index.indexer import Indexer
from chaincrm.models import InteractionKind, Outcome, Role
from chaincrm.privacy.customers import public_key64
from chaincrm.services.anvil import AnvilOptions, anvil, dev_private_keys, free_port
from chaincrm.storage import KuboStore, cid_to_digest
from chaincrm.storage.node import start_node, stop_node
from chaincrm_tools.bench.index import _register  # the index benchmark's: many customers to a block

DEFAULT_BATCHES = 1_000
DEFAULT_BATCH_RECORDS = 1_000
DEFAULT_CUSTOMERS = 1_000
SEND_GROUP = 50  # anchor transactions per JSON-RPC batch, and per block (automine off)


def run_batched_index_bench(
    out: Path,
    batches: int = DEFAULT_BATCHES,
    batch_records: int = DEFAULT_BATCH_RECORDS,
    log: Callable[[str], None] = print,
    *,
    customers: int = DEFAULT_CUSTOMERS,
    database: str | None = None,
) -> dict[str, Any]:
    """Build the chain and the documents, rebuild an index from them; write the figures to `out`
    (JSON) and return them. `database` is a SQLAlchemy URL for an empty database (default: a
    SQLite file in a temporary folder)."""
    admin, agent = (Account.from_key(key) for key in dev_private_keys(2))
    with tempfile.TemporaryDirectory(prefix="chaincrm-index-batches-bench-") as folder:
        node = start_node(Path(folder) / "ipfs", free_port(), Path(folder) / "ipfs.log")
        try:
            with (
                anvil(AnvilOptions(port=free_port())) as chain_node,
                KuboStore(
                    node.api_addr, timeout_seconds=FETCH_TIMEOUT_SECONDS, max_document_bytes=MAX_BATCH_DOCUMENT_BYTES
                ) as store,
            ):
                chain = connect(chain_node.url)
                deployment = deploy(chain, admin, treasury=admin.address)
                crm = Crm.attach(chain, deployment)
                crm.registry.grant_role(Role.AGENT, agent.address, admin)
                crm.registry.register_encryption_key(public_key64(agent), agent)

                started = time.perf_counter()
                customer_ids = _register(crm, agent, customers)
                log(f"registered {len(customer_ids):,} customers in {time.perf_counter() - started:.1f} s")
                setup = _anchor_batches(crm, agent, store, customer_ids, batches, batch_records, log)

                target = database or str(Path(folder) / "index.sqlite")
                with Indexer(chain, deployment, target, confirmations=0, documents=store) as indexer:
                    load = os.getloadavg()[0]
                    cpu, children = time.process_time(), _children_cpu()
                    report = indexer.sync_once()
                    cpu, children = time.process_time() - cpu, _children_cpu() - children
                    with indexer.engine.connect() as conn:
                        held = int(
                            conn.execute(
                                select(func.count())
                                .select_from(db.interactions)
                                .where(db.interactions.c.record_id.is_not(None))
                            ).scalar_one()
                        )
                        statuses: dict[str, int] = dict(
                            conn.execute(  # type: ignore[arg-type]
                                select(db.interaction_batches.c.status, func.count()).group_by(
                                    db.interaction_batches.c.status
                                )
                            ).all()
                        )
        finally:
            stop_node(node)

    total = batches * batch_records
    rebuild = {
        "seconds": round(report.seconds, 2),
        "cpu_seconds": round(cpu, 2),  # the indexer's process, all its threads
        "checker_cpu_seconds": round(children, 2),  # its worker processes checking documents (not Anvil, IPFS)
        "load_average_before": round(load, 1),  # other work on the machine stretches `seconds`, not `cpu_seconds`
        "records": held,
        "records_per_second": round(held / report.seconds) if report.seconds else None,
        "batches_checked": report.batches_checked,
        "batches_unavailable": report.batches_unavailable,
        "batch_statuses": statuses,
        "logs": report.logs,
        "rows": report.rows,
        "blocks": report.last_block - report.first_block + 1,
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    log(
        f"rebuilt the index from the chain and IPFS in {report.seconds:.1f} s: {held:,} of {total:,} anchored records "
        f"from {report.batches_checked:,} batches ({rebuild['records_per_second']:,} records/s; "
        f"CPU: {cpu:.1f} s in the indexer, {children:.1f} s in its checkers; load average {load:.1f} before; "
        f"peak memory {rebuild['max_rss_mib']:,} MiB)"
    )
    if held != total:
        log(f"the index holds {held:,} records, not {total:,}: batch statuses {statuses}")
    results = {
        "anvil": "1.7.1",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "database": "sqlite" if database is None else database.split(":", 1)[0],
        "batches": batches,
        "records_per_batch": batch_records,
        "records": total,
        "customers": len(customer_ids),
        "setup": setup,
        "rebuild": rebuild,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return results


def _anchor_batches(
    crm: Crm,
    agent: Any,
    store: KuboStore,
    customer_ids: list[int],
    batches: int,
    batch_records: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Build, store and anchor the batches; the setup's timings."""
    rng = random.Random(17)
    kinds, outcomes = [int(kind) for kind in InteractionKind], [int(outcome) for outcome in Outcome]
    building = storing = 0.0
    stored_bytes = 0
    anchors = []
    now = int(time.time())
    for _ in range(batches):
        began = time.perf_counter()
        values = [
            LeafValue(
                rng.randbytes(32), rng.choice(customer_ids), rng.choice(kinds), rng.choice(outcomes), rng.randbytes(32)
            )
            for _ in range(batch_records)
        ]
        document = build_document(
            chain_id=crm.deployment.chain_id,
            registry=crm.deployment.registry,
            author=agent.address,
            created_at=now,
            values=values,
            logged_at=[now] * batch_records,
        )
        data = document.to_bytes()
        middle = time.perf_counter()
        digest = cid_to_digest(store.put(data))
        storing += time.perf_counter() - middle
        building += middle - began
        stored_bytes += len(data)
        anchors.append((document.root, digest, document.count))
    log(
        f"built {batches:,} batch documents of {batch_records:,} records in {building:.1f} s "
        f"({stored_bytes / 2**20:,.0f} MiB), stored them on IPFS in {storing:.1f} s"
    )
    began = time.perf_counter()
    provider = crm.chain.w3.provider
    anchor = crm.registry.contract.functions.anchorInteractions
    calls = [(anchor(root, digest, count), 0) for root, digest, count in anchors]
    gas = crm.chain.gas_limit(calls[0][0], agent)
    provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        crm.chain.send_many(calls, agent, gas=gas, batch_size=SEND_GROUP, after_batch=lambda: _mine(crm))
    finally:
        provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    anchoring = time.perf_counter() - began
    log(f"anchored {batches:,} roots in {anchoring:.1f} s")
    return {
        "build_seconds": round(building, 1),
        "store_seconds": round(storing, 1),
        "anchor_seconds": round(anchoring, 1),
        "document_mib": round(stored_bytes / 2**20, 1),
    }


def _children_cpu() -> float:
    """CPU seconds of this process's children that ended (the indexer's checkers end with its pass)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _mine(crm: Crm) -> None:
    crm.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


__all__ = ["run_batched_index_bench"]
