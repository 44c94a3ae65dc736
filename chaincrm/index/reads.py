"""Reads that use the index when there is one for this deployment, and the chain otherwise.

The index is a copy of the chain kept reorg-safe by the indexer, up to the last block it read. A
command that lists events reads it when the index follows the same chain and contracts as the
deployment record; otherwise (no index, an index of another deployment, or the caller asks for the
chain) it reads the chain in block ranges the node accepts. Either way it says which it used and up
to which block, and both give the same rows for the same blocks.

The block the index reached and the rows up to it are read in one transaction, one snapshot of the
database: an indexer that rolls back a reorg in between cannot make them disagree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address
from sqlalchemy import Connection, Table, select

from chaincrm.contracts.client import Crm
from chaincrm.index import schema as db
from chaincrm.index.database import database_errors, open_database, read_state
from chaincrm.index.queries import interactions_in_order
from chaincrm.models import (
    ZERO_ADDRESS,
    Deal,
    DocumentKind,
    Interaction,
    Invoice,
    InvoiceStatus,
    Stage,
    StageChange,
)
from chaincrm.views.timeline import EVENT_NAMES, ChainLogs, EventLog, TimelineEntry, timeline_from

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from chaincrm.storage import DocumentStore

INDEX = "index"
CHAIN = "chain"


@dataclass(frozen=True)
class Read:
    """What a read found, where (`source`: "index" or "chain") and up to which block."""

    interactions: list[Interaction]
    source: str
    as_of_block: int


@dataclass(frozen=True)
class TimelineRead:
    """A customer's timeline, where it was read (`source`) and up to which block; `why_chain`
    says why the chain was read when an index was there but could not stand in for it."""

    entries: list[TimelineEntry]
    source: str
    as_of_block: int
    why_chain: str | None = None


@dataclass(frozen=True)
class InvoiceLine:
    """What `deal show` lists of each of a deal's invoices."""

    id: int
    status: InvoiceStatus
    payer: str
    amount_wei: int  # in `currency`'s base units
    due_at: int
    currency: str | None = None  # the ERC-20; None for ETH

    @classmethod
    def of(cls, invoice: Invoice) -> InvoiceLine:
        return cls(invoice.id, invoice.status, invoice.payer, invoice.amount_wei, invoice.due_at, invoice.currency)


@dataclass(frozen=True)
class DealDocument:
    """A document attached to a deal: only its hashes are on the chain."""

    kind: DocumentKind
    content_hash: bytes
    cid_digest: bytes
    author: str
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class DealRead:
    """A deal with its stage moves, invoices and documents, where they were read and up to which block."""

    deal: Deal
    history: list[StageChange]
    invoices: list[InvoiceLine]
    documents: list[DealDocument]
    source: str
    as_of_block: int


def read_interactions(
    crm: Crm,
    customer_id: int | None,
    *,
    database: str | Path | None,
    home: Path,
    from_chain: bool = False,
    store: DocumentStore | None = None,
) -> Read:
    """Interactions (one customer's, or all) since the deployment block, in chain order: from the
    index when it follows this deployment, else from the chain up to its latest block (records
    anchored in batches from their documents in `store`, by the index's rules)."""
    from chaincrm.batches.chain_records import chain_interactions

    start = crm.deployment.block_number
    if not from_chain:
        found = _from_index(crm, customer_id, start, database, home)
        if found is not None:
            return found
    end = crm.chain.block_number("latest")
    return Read(chain_interactions(crm, store, customer_id, from_block=start, to_block=end), CHAIN, end)


def read_timeline(
    crm: Crm,
    customer_id: int,
    *,
    database: str | Path | None,
    home: Path,
    from_chain: bool = False,
    store: DocumentStore | None = None,
    reader: LocalAccount | None = None,
) -> TimelineRead:
    """A customer's timeline since the deployment block (see `views.timeline`): from the index
    when it follows this deployment and holds every event the timeline shows, else from the chain."""
    crm.registry.customer(customer_id)  # CustomerUnknown for an id that was never registered
    start = crm.deployment.block_number
    missing = _unindexed(crm)
    if not from_chain and not missing:
        with _index_snapshot(crm, start, database, home) as snapshot:
            if snapshot is not None:
                connection, last_block = snapshot
                source = _IndexedTimeline(crm, connection, start, last_block)
                entries = timeline_from(crm, source, customer_id, store=store, reader=reader)
                return TimelineRead(entries, INDEX, last_block)
    end = crm.chain.block_number("latest")
    entries = timeline_from(crm, ChainLogs(crm, start, end, store), customer_id, store=store, reader=reader)
    why = f"the index holds no {', '.join(missing)} events" if missing and not from_chain else None
    return TimelineRead(entries, CHAIN, end, why)


def read_deal(crm: Crm, deal_id: int, *, database: str | Path | None, home: Path, from_chain: bool = False) -> DealRead:
    """A deal, its stage moves, invoices and documents since the deployment block: from the index
    when it follows this deployment and holds the deal, else from the chain."""
    start = crm.deployment.block_number
    if not from_chain:
        with _index_snapshot(crm, start, database, home) as snapshot:
            if snapshot is not None:
                found = _indexed_deal(*snapshot, deal_id, start)
                if found is not None:
                    return found
    pipeline = crm.pipeline
    end = crm.chain.block_number("latest")
    deal = pipeline.deal(deal_id)
    history = pipeline.stage_changes(deal_id, from_block=start, to_block=end)
    invoices = [InvoiceLine.of(crm.escrow.invoice(invoice_id)) for invoice_id in pipeline.invoices_of(deal_id)]
    return DealRead(deal, history, invoices, deal_documents(crm, deal_id, to_block=end), CHAIN, end)


def deal_documents(crm: Crm, deal_id: int, to_block: int | str = "latest") -> list[DealDocument]:
    """A deal's documents from its DealDocumentAttached logs since the deployment, in chain order."""
    logs = crm.chain.logs.events(
        crm.pipeline.contract.events.DealDocumentAttached,
        from_block=crm.deployment.block_number,
        to_block=to_block,
        argument_filters={"dealId": deal_id},
    )
    logs = sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"]))
    return [
        DealDocument(
            kind=DocumentKind(log["args"]["documentKind"]),
            content_hash=bytes(log["args"]["contentHash"]),
            cid_digest=bytes(log["args"]["cidDigest"]),
            author=to_checksum_address(log["args"]["actor"]),
            block_number=int(log["blockNumber"]),
            tx_hash=log["transactionHash"].to_0x_hex(),
        )
        for log in logs
    ]


def _from_index(crm: Crm, customer_id: int | None, start: int, database: str | Path | None, home: Path) -> Read | None:
    with _index_snapshot(crm, start, database, home) as snapshot:
        if snapshot is None:
            return None
        connection, last_block = snapshot
        return Read(interactions_in_order(connection, customer_id, start, last_block), INDEX, last_block)


@contextmanager
def _index_snapshot(
    crm: Crm, start: int, database: str | Path | None, home: Path
) -> Iterator[tuple[Connection, int] | None]:
    """A connection reading the index in one snapshot and the last block that snapshot holds, or
    None when there is no index of this deployment holding every block since `start`."""
    deployment = crm.deployment
    engine = open_database(database, home=home)
    try:
        state = read_state(engine)
        followed = None if state is None else (state.chain_id, state.registry, state.pipeline, state.escrow)
        if state is None or followed != (
            deployment.chain_id,
            deployment.registry,
            deployment.pipeline,
            deployment.escrow,
        ):
            yield None
            return
        if state.start_block > start:
            yield None  # it does not hold the blocks since the deployment
            return
        with database_errors(engine), _snapshot(engine.connect()) as connection:
            last_block = _last_block(connection)
            yield None if last_block < state.start_block else (connection, last_block)  # None: no block yet
    finally:
        engine.dispose()


# Where the index keeps each event the timeline reads: its table, the row filter that picks that
# event out of the table (a `kind`, or `granted` for access grants and revocations), and the columns
# whose names are not the argument's in snake case. Every other argument is the column of its name.
_TIMELINE_TABLES: dict[str, tuple[Table, tuple[str, Any] | None, dict[str, str]]] = {
    "CustomerRegistered": (db.customer_events, ("kind", "registered"), {"registrar": "actor"}),
    "ProfileUpdated": (db.profile_versions, None, {}),
    "WalletProposed": (db.customer_events, ("kind", "wallet_proposed"), {"proposer": "actor"}),
    "WalletAccepted": (db.customer_events, ("kind", "wallet_accepted"), {"newWallet": "wallet"}),
    "AccessGranted": (db.access_events, ("granted", True), {}),
    "AccessRevoked": (db.access_events, ("granted", False), {}),
    "ConsentChanged": (db.consent_events, None, {}),
    "CustomerErased": (db.customer_events, ("kind", "erased"), {}),
    "DealOpened": (db.deal_events, ("kind", "opened"), {}),
    "DealStageChanged": (db.stage_changes, None, {"from": "from_stage", "to": "to_stage"}),
    "DealLost": (db.deal_events, ("kind", "lost"), {}),
    "DealReassigned": (db.deal_events, ("kind", "reassigned"), {"newOwner": "owner"}),
    "DealDocumentAttached": (db.documents, None, {"documentKind": "kind"}),
    "InvoiceIssued": (db.invoice_events, ("kind", "issued"), {"amount": "amount_wei"}),
    "InvoicePaid": (db.invoice_events, ("kind", "paid"), {"amount": "amount_wei"}),
    "InvoicePaidOffChain": (db.invoice_events, ("kind", "paid_off_chain"), {}),
    "PointsRedeemed": (db.loyalty_events, ("kind", "redeemed"), {}),
    "PointsAwarded": (db.loyalty_events, ("kind", "awarded"), {}),
    "PointsRestored": (db.loyalty_events, ("kind", "restored"), {}),
    "OfferAccepted": (db.offer_events, ("kind", "accepted"), {}),
    "InvoiceDisputed": (db.invoice_events, ("kind", "disputed"), {}),
    "InvoiceReleased": (db.invoice_events, ("kind", "released"), {"amount": "amount_wei"}),
    "InvoiceRefunded": (db.invoice_events, ("kind", "refunded"), {"amount": "amount_wei"}),
    "InvoiceCancelled": (db.invoice_events, ("kind", "cancelled"), {}),
}  # fmt: skip


def _inputs(crm: Crm, contract: str, name: str) -> list[tuple[str, str]]:
    """(name, ABI type) of an event's arguments, in ABI order."""
    abi = getattr(getattr(crm, contract).contract.events, name).abi
    return [(item["name"], item["type"]) for item in abi["inputs"]]


def _column(name: str, renamed: dict[str, str]) -> str:
    return renamed.get(name, re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower())


def _unindexed(crm: Crm) -> list[str]:
    """The events the timeline shows that the index does not hold in full (none today)."""
    missing = []
    for contract, name in EVENT_NAMES:
        held = _TIMELINE_TABLES.get(name)
        if held is None or any(_column(arg, held[2]) not in held[0].c for arg, _ in _inputs(crm, contract, name)):
            missing.append(name)
    return missing


def _argument(value: Any, abi_type: str) -> Any:
    """A column's value as web3 decodes the argument: the index keeps a zero address and an empty
    key as NULL, hashes as hex."""
    if abi_type == "address":
        return ZERO_ADDRESS if value is None else value
    if abi_type.startswith("bytes"):
        return b"" if value is None else bytes.fromhex(value[2:])
    if abi_type == "bool":
        return bool(value)
    return int(value)


@dataclass(frozen=True)
class _IndexedTimeline:
    """The timeline's events and interactions from the index, in one snapshot, from `start` to `end`."""

    crm: Crm
    connection: Connection
    start: int
    end: int

    def events(self, contract: str, name: str, by: str, ids: list[int]) -> list[EventLog]:
        table, picked, renamed = _TIMELINE_TABLES[name]
        inputs = _inputs(self.crm, contract, name)
        query = select(table).where(
            table.c[_column(by, renamed)].in_(ids), table.c.block_number.between(self.start, self.end)
        )
        if picked is not None:
            query = query.where(table.c[picked[0]] == picked[1])
        return [
            EventLog(
                row.block_number,
                row.log_index,
                row.tx_hash,
                {arg: _argument(row._mapping[_column(arg, renamed)], abi_type) for arg, abi_type in inputs},
                row.at,
            )
            for row in self.connection.execute(query)
        ]

    def interactions(self, customer_id: int) -> list[Interaction]:
        return interactions_in_order(self.connection, customer_id, self.start, self.end)


def _indexed_deal(connection: Connection, last_block: int, deal_id: int, start: int) -> DealRead | None:
    """A deal as the index holds it up to `last_block`; None when it does not hold the deal."""
    row = connection.execute(select(db.deals).where(db.deals.c.id == deal_id)).first()
    if row is None:
        return None
    deal = Deal(
        row.id,
        row.customer_id,
        row.owner,
        Stage(row.stage),
        row.value_wei,
        row.invoice_id,
        row.opened_at,
        discount_bps=int(row.discount_bps),
        currency=row.currency,
    )
    t = db.stage_changes
    moves = connection.execute(
        select(t)
        .where(t.c.deal_id == deal_id, t.c.block_number.between(start, last_block))
        .order_by(t.c.block_number, t.c.log_index)
    )
    history = [
        StageChange(m.deal_id, Stage(m.from_stage), Stage(m.to_stage), m.actor, m.at, m.block_number, m.tx_hash)
        for m in moves
    ]
    i = db.invoices
    invoices = [
        InvoiceLine(r.id, InvoiceStatus(r.status), r.payer, r.amount_wei, r.due_at, r.currency)
        for r in connection.execute(select(i).where(i.c.deal_id == deal_id).order_by(i.c.id))
    ]
    d = db.documents
    attached = connection.execute(
        select(d)
        .where(d.c.deal_id == deal_id, d.c.block_number.between(start, last_block))
        .order_by(d.c.block_number, d.c.log_index)
    )
    documents = [
        DealDocument(
            DocumentKind(r.kind),
            bytes.fromhex(r.content_hash[2:]),
            bytes.fromhex(r.cid_digest[2:]),
            r.actor,
            r.block_number,
            r.tx_hash,
        )
        for r in attached
    ]
    return DealRead(deal, history, invoices, documents, INDEX, last_block)


def _snapshot(connection: Connection) -> Connection:
    """`connection`, reading in one snapshot until it closes: a transaction (SQLite in WAL mode
    keeps its first read's snapshot for the transaction; PostgreSQL needs REPEATABLE READ for that)."""
    if connection.engine.url.get_backend_name() == "postgresql":
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
    connection.begin()
    return connection


def _last_block(connection: Connection) -> int:
    """The last block the index holds, read in the caller's transaction."""
    query = select(db.sync_state.c.last_block).where(db.sync_state.c.id == 1)
    return int(connection.execute(query).scalar_one())


__all__ = [
    "CHAIN",
    "INDEX",
    "DealDocument",
    "DealRead",
    "InvoiceLine",
    "Read",
    "TimelineRead",
    "deal_documents",
    "read_deal",
    "read_interactions",
    "read_timeline",
]
