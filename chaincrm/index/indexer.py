"""The off-chain index: the CRM contracts' events, followed into SQLite or PostgreSQL.

The chain stays the record of truth; the index is a copy for queries the chain cannot answer
cheaply (a customer's timeline, deals by stage, overdue invoices). :class:`Indexer` puts together
the pieces, one job each:

====================  ============================================================================
``schema``            the tables
``database``          opening SQLite or PostgreSQL, database failures as one line, the state row
``checks``            before anything is written: right chain, code at the addresses, same index
``rpc``               raw JSON-RPC with the indexer's one retry layer (web3's is switched off)
``ranges``            adaptive ``eth_getLogs`` ranges: halve when refused, double after successes
``decode``            logs to rows (eth_abi: 2x web3's catch-up speed); foreign logs ignored, codes kept
``entities``          the state tables (customers, deals, invoices) folded from their events
``store``             the writes: a range and the block it reached in one transaction (resumable)
``reorgs``            final and provisional blocks, rolling back what a reorg undid
``sync``              one pass over the blocks up to the head
``batches``           anchored interaction batches: documents fetched from IPFS, checked, records counted
``queries``           reading back: a customer's timeline, row counts
====================  ============================================================================

Faults: a node that drops or times out is retried for a bounded time, then ``ChainError``. A
locked or damaged database, an index made for another chain or other contracts, an address without
code: one ``ConfigError``/``ChainError`` line, and nothing written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from chaincrm.chain import Chain
from chaincrm.config import Settings
from chaincrm.contracts.client import connect
from chaincrm.contracts.deployment import load_record, record_for
from chaincrm.errors import ChainError, ConfigError
from chaincrm.index.batches import FETCH_TIMEOUT_SECONDS, FETCH_WORKERS, MAX_BATCH_DOCUMENT_BYTES, BatchChecker
from chaincrm.index.checks import Preflight
from chaincrm.index.database import (
    SQLITE_LOCK_TIMEOUT_SECONDS,
    IndexState,
    database_errors,
    database_url,
    describe_database,
    open_database,
    read_state,
)
from chaincrm.index.decode import decode_logs, emitters
from chaincrm.index.queries import customer_timeline, row_counts
from chaincrm.index.ranges import AdaptiveRanges
from chaincrm.index.reorgs import ChainMoved
from chaincrm.index.rpc import Rpc
from chaincrm.index.store import IndexStore
from chaincrm.index.sync import Pass, SyncProgress, SyncReport
from chaincrm.models import Deployment, Interaction

if TYPE_CHECKING:
    from chaincrm.storage import DocumentStore

DEFAULT_CONFIRMATIONS = 5
DEFAULT_INITIAL_RANGE_BLOCKS = 2_000
DEFAULT_MAX_RANGE_BLOCKS = 50_000
DEFAULT_RETRY_SECONDS = 60.0
DEFAULT_POLL_SECONDS = 2.0
MAX_PASS_ATTEMPTS = 5  # passes restarted because the chain moved under a pass


class Indexer:
    """Follows one CRM deployment's events into one database.

    `database` is a SQLAlchemy URL, a SQLite file path, an Engine, or None for
    ``<home>/index.sqlite``. `confirmations` is how far behind the head a block must be to be final.
    `documents` is where anchored batches' documents are read (``from_settings``: the settings'
    IPFS service); None leaves every anchored batch unavailable until an indexer with a store runs.
    """

    def __init__(
        self,
        chain: Chain,
        deployment: Deployment,
        database: str | Path | Engine | None = None,
        *,
        home: Path = Path(".chaincrm"),
        confirmations: int = DEFAULT_CONFIRMATIONS,
        initial_range: int = DEFAULT_INITIAL_RANGE_BLOCKS,
        max_range: int = DEFAULT_MAX_RANGE_BLOCKS,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        lock_timeout: float = SQLITE_LOCK_TIMEOUT_SECONDS,
        start_block: int | None = None,
        on_progress: Callable[[SyncProgress], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        documents: DocumentStore | None = None,
        batch_workers: int = FETCH_WORKERS,
    ) -> None:
        if confirmations < 0:
            raise ConfigError("confirmations cannot be negative")
        if not 1 <= initial_range <= max_range:
            raise ConfigError("the block range must be at least 1 and at most the maximum range")
        self.chain = chain
        self.deployment = deployment
        self.confirmations = confirmations
        self._owns_engine = not isinstance(database, Engine)
        self.engine = (
            database if isinstance(database, Engine) else open_database(database, home=home, lock_timeout=lock_timeout)
        )
        rpc = Rpc(chain, retry_seconds, sleep)
        store = IndexStore(self.engine, confirmations)
        addresses = [deployment.registry, deployment.pipeline, deployment.escrow]
        if deployment.branches:
            addresses.append(deployment.branches)
        self._pass = Pass(
            rpc,
            store,
            Preflight(rpc, store, deployment, start_block),
            AdaptiveRanges(rpc, addresses, initial=initial_range, maximum=max_range),
            emitters(deployment),
            on_progress,
            BatchChecker(
                self.engine,
                documents,
                chain_id=deployment.chain_id,
                registry=deployment.registry,
                workers=batch_workers,
            ),
        )
        self.documents = documents
        self._owned_documents: Any = None

    @classmethod
    def from_settings(cls, settings: Settings, database: str | Path | None = None, **options: Any) -> Indexer:
        """The indexer for the deployment record in `settings.home`, over `settings.rpc_url`."""
        chain = connect(settings.rpc_url)
        documents = options.pop("documents", None)
        owned = None
        if documents is None:  # anchored batches' documents, from the IPFS service the settings name
            from chaincrm.storage import KuboStore

            documents = owned = KuboStore(
                settings.ipfs_api, timeout_seconds=FETCH_TIMEOUT_SECONDS, max_document_bytes=MAX_BATCH_DOCUMENT_BYTES
            )
        indexer = cls(
            chain,
            load_record(record_for(settings.home, chain)),
            database,
            home=settings.home,
            documents=documents,
            **options,
        )
        indexer._owned_documents = owned
        return indexer

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()
        if self._owned_documents is not None:
            self._owned_documents.close()

    def __enter__(self) -> Indexer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def where(self) -> str:
        return describe_database(self.engine)

    # ------------------------------------------------------------------ queries

    def state(self) -> IndexState | None:
        return read_state(self.engine)

    def timeline(
        self, customer_id: int, *, limit: int | None = 100, older_than: Interaction | None = None
    ) -> list[Interaction]:
        """A customer's interactions, newest first (see :func:`customer_timeline`)."""
        return customer_timeline(self.engine, customer_id, limit=limit, older_than=older_than)

    def counts(self) -> dict[str, int]:
        return row_counts(self.engine)

    # ------------------------------------------------------------------ following

    def follow(
        self,
        *,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        stop: threading.Event | None = None,
        on_pass: Callable[[SyncReport], None] | None = None,
    ) -> SyncReport:
        """Pass after pass, `poll_seconds` apart, until `stop` is set (or Ctrl-C, which leaves the
        index at the last range written). Returns the last pass's report."""
        stop = stop or threading.Event()
        while True:
            report = self.sync_once()
            if on_pass is not None:
                on_pass(report)
            if stop.wait(poll_seconds):
                return report

    def sync_once(self) -> SyncReport:
        """Check for a reorg, then read every block up to the head; returns what was done."""
        for _attempt in range(MAX_PASS_ATTEMPTS):
            try:
                return self._pass.run()
            except ChainMoved:
                continue
        raise ChainError(f"the chain at {self.chain.endpoint} kept reorganising during {MAX_PASS_ATTEMPTS} passes")


__all__ = [
    "DEFAULT_CONFIRMATIONS",
    "DEFAULT_INITIAL_RANGE_BLOCKS",
    "DEFAULT_MAX_RANGE_BLOCKS",
    "DEFAULT_POLL_SECONDS",
    "IndexState",
    "Indexer",
    "SyncProgress",
    "SyncReport",
    "customer_timeline",
    "database_errors",
    "database_url",
    "decode_logs",
    "describe_database",
    "emitters",
    "open_database",
    "read_state",
    "row_counts",
]
