"""Benchmark of the off-chain index: catch-up speed and timeline query time. Not a test.

`run_index_bench` starts its own Anvil on a free port, registers customers, logs `interactions`
records in `logInteractions` batches of 1,000 (100,000 records: 100 transactions), indexes the
whole chain from scratch and reports records (and rows) per second. It then tops the index up to
`timeline_rows` interactions with synthetic rows inserted directly (block numbers far beyond the
chain's head, so they cannot collide with real ones) and times a customer's timeline query:
the median of several queries, for a full timeline and for its newest page of 100.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_account import Account
from sqlalchemy import insert, text

from chaincrm.contracts.client import Crm, connect
from chaincrm.contracts.deployment import deploy
from chaincrm.contracts.registry import MAX_BATCH_RECORDS, InteractionEntry, pack_records
from chaincrm.index import schema as db
from chaincrm.index.indexer import Indexer, customer_timeline
from chaincrm.models import InteractionKind, Outcome, Role
from chaincrm.privacy.customers import public_key64
from chaincrm.services.anvil import AnvilOptions, anvil, dev_private_keys, free_port
from chaincrm_tools.bench.contracts import register_many

TARGET_RECORDS_PER_SECOND = 5_000
TARGET_TIMELINE_MILLISECONDS = 20.0
DEFAULT_CUSTOMERS = 1_000
DEFAULT_TIMELINE_ROWS = 1_000_000
TIMELINE_PAGE = 100
QUERY_REPEATS = 21
SYNTHETIC_BLOCK_OFFSET = 10**12  # synthetic rows live far beyond any real block
SYNTHETIC_CHUNK_ROWS = 50_000
SEND_GROUP = 10  # transactions of 42 kB of records each per JSON-RPC batch


def run_index_bench(
    out: Path,
    interactions: int = 100_000,
    log: Callable[[str], None] = print,
    *,
    customers: int = DEFAULT_CUSTOMERS,
    timeline_rows: int = DEFAULT_TIMELINE_ROWS,
    database: str | None = None,
) -> dict[str, Any]:
    """Build a chain, index it, time timelines; write the figures to `out` (JSON) and return them.

    `database` is a SQLAlchemy URL for an empty database; by default a SQLite file in a temporary
    folder, deleted afterwards.
    """
    keys = [Account.from_key(key) for key in dev_private_keys(2)]
    admin, agent = keys
    with (
        tempfile.TemporaryDirectory(prefix="chaincrm-index-bench-") as folder,
        anvil(AnvilOptions(port=free_port())) as node,
    ):
        chain = connect(node.url)
        deployment = deploy(chain, admin, treasury=admin.address)
        crm = Crm.attach(chain, deployment)
        crm.registry.grant_role(Role.AGENT, agent.address, admin)
        crm.registry.register_encryption_key(public_key64(agent), agent)  # registering needs a published key

        started = time.perf_counter()
        customer_ids = _register(crm, agent, customers)
        log(f"registered {len(customer_ids):,} customers in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        batches = _log_batches(crm, agent, customer_ids, interactions)
        log(
            f"logged {interactions:,} interactions in {batches} logInteractions transactions "
            f"in {time.perf_counter() - started:.1f} s"
        )

        target = database or str(Path(folder) / "index.sqlite")
        with Indexer(chain, deployment, target) as indexer:
            report = indexer.sync_once()
            catch_up = {
                "blocks": report.last_block - report.first_block + 1,
                "logs": report.logs,
                "rows": report.rows,
                "interaction_records": report.interactions,
                "ranges": report.ranges,
                "seconds": round(report.seconds, 3),
                "records_per_second": round(report.interactions / report.seconds),
                "rows_per_second": round(report.rows / report.seconds),
                "target_records_per_second": TARGET_RECORDS_PER_SECOND,
            }
            log(
                f"indexed {report.interactions:,} interaction records ({report.rows:,} rows, {report.logs:,} logs, "
                f"{catch_up['blocks']:,} blocks) in {report.seconds:.2f} s: "
                f"{catch_up['records_per_second']:,} records/s (target >= {TARGET_RECORDS_PER_SECOND:,})"
            )
            timeline = _timeline(indexer, customer_ids, report.interactions, timeline_rows, log)

    results = {
        "anvil": "1.7.1",
        "python": platform.python_version(),
        "database": "sqlite" if database is None else database.split(":", 1)[0],
        "interactions_on_chain": interactions,
        "customers": len(customer_ids),
        "catch_up": catch_up,
        "timeline": timeline,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return results


def _register(crm: Crm, agent: Any, count: int) -> list[int]:
    """Register `count` customers, 100 transactions to a block (automine off while registering).

    The agent registers them all, so it holds the grant on each that logging needs.
    """
    provider = crm.chain.w3.provider
    provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        return register_many(
            crm,
            agent,
            count,
            after_batch=lambda: provider.make_request("evm_mine", []),  # type: ignore[arg-type]
        )
    finally:
        provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]


def _log_batches(crm: Crm, agent: Any, customer_ids: list[int], count: int) -> int:
    rng = random.Random(7)
    kinds, outcomes = list(InteractionKind), list(Outcome)
    calls = []
    for start in range(0, count, MAX_BATCH_RECORDS):
        entries = [
            InteractionEntry(rng.choice(customer_ids), rng.choice(kinds), rng.choice(outcomes), os.urandom(32))
            for _ in range(min(MAX_BATCH_RECORDS, count - start))
        ]
        calls.append((crm.registry.contract.functions.logInteractions(pack_records(entries)), 0))
    gas = crm.chain.gas_limit(calls[0][0], agent)
    crm.chain.send_many(calls, agent, gas=gas, batch_size=SEND_GROUP)  # 100 such transactions: too big a request
    return len(calls)


def _timeline(
    indexer: Indexer, customer_ids: list[int], indexed: int, total: int, log: Callable[[str], None]
) -> dict[str, Any]:
    started = time.perf_counter()
    added = _add_synthetic(indexer, customer_ids, total - indexed)
    inserted_seconds = time.perf_counter() - started
    with indexer.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")  # planner statistics, as a running database keeps them
        rows = conn.execute(text("SELECT count(*) FROM interactions")).scalar_one()
    log(f"added {added:,} synthetic interaction rows in {inserted_seconds:.1f} s: {rows:,} in the index")

    rng = random.Random(11)
    sample = [rng.choice(customer_ids) for _ in range(QUERY_REPEATS)]
    full, page, sizes = [], [], []
    with indexer.engine.connect() as conn:
        customer_timeline(conn, sample[0], limit=None)  # warm the cache like a running service
        for customer_id in sample:
            began = time.perf_counter()
            found = customer_timeline(conn, customer_id, limit=None)
            full.append((time.perf_counter() - began) * 1000)
            sizes.append(len(found))
            began = time.perf_counter()
            customer_timeline(conn, customer_id, limit=TIMELINE_PAGE)
            page.append((time.perf_counter() - began) * 1000)
    figures = {
        "interactions_in_index": rows,
        "synthetic_rows_added": added,
        "synthetic_insert_seconds": round(inserted_seconds, 2),
        "queries": len(sample),
        "median_interactions_per_timeline": statistics.median(sizes),
        "full_timeline_median_ms": round(statistics.median(full), 2),
        "full_timeline_max_ms": round(max(full), 2),
        "page_of_100_median_ms": round(statistics.median(page), 2),
        "target_ms": TARGET_TIMELINE_MILLISECONDS,
    }
    log(
        f"timeline of one customer among {rows:,} interactions (~{figures['median_interactions_per_timeline']:,.0f} "
        f"each): full {figures['full_timeline_median_ms']} ms, newest {TIMELINE_PAGE} "
        f"{figures['page_of_100_median_ms']} ms (medians of {len(sample)}; target < {TARGET_TIMELINE_MILLISECONDS} ms)"
    )
    return figures


def _add_synthetic(indexer: Indexer, customer_ids: list[int], count: int) -> int:
    if count <= 0:
        return 0
    rng = random.Random(13)
    author = "0x" + "ab" * 20
    now = int(time.time())
    added = 0
    while added < count:
        size = min(SYNTHETIC_CHUNK_ROWS, count - added)
        rows = [
            {
                "customer_id": rng.choice(customer_ids),
                "author": author,
                "kind": 1 + (i % 6),
                "outcome": i % 6,
                "content_hash": "0x" + rng.randbytes(32).hex(),
                "at": now + (added + i) // 10,
                "block_number": SYNTHETIC_BLOCK_OFFSET + (added + i) // 1000,
                "tx_hash": "0x" + rng.randbytes(32).hex(),
                "log_index": 0,
                "position": (added + i) % 1000,
            }
            for i in range(size)
        ]
        with indexer.engine.begin() as conn:
            conn.execute(insert(db.interactions), rows)
        added += size
    return added


__all__ = ["run_index_bench"]
