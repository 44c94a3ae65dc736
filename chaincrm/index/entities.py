"""The state tables (``customers``, ``deals``, ``invoices``) folded from their event tables.

A deal also folds its currency (``DealCurrency``) and an accepted offer's discount (``offer_events``);
an invoice its currency, an off-chain payment, and its loyalty points (``loyalty_events``: a
redemption lowers its amount to what was paid, as the escrow does).

Each entity names the event tables that feed it (:attr:`Entity.sources`) and a fold that applies
one event row, in chain order, to the rows being built. :func:`rebuild` is the one loop that reads
an entity's events, folds them and replaces its rows; the indexer runs it for every entity a range
of logs touched (:func:`touched_ids`) and for every entity a reorg rolled back (:func:`touched_from`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, RowMapping, Table, delete, insert, select

from chaincrm.index import branches as branch_rows
from chaincrm.index import schema as db
from chaincrm.models import CustomerStatus, InvoiceStatus, Stage

ID_CHUNK = 500  # ids per IN (...) list: well under every backend's parameter limit
CONSENT_BITS = 8  # the registry keeps consents in a uint8 bitmap

Rows = dict[int, dict[str, Any]]
Fold = Callable[[Rows, Table, RowMapping], None]


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one object per state table
class Entity:
    """A state table and the event tables (with their id column) whose rows, in chain order, make it.
    `key` is the target's column those ids match (a branch's staff: many rows per branch id)."""

    target: Table
    sources: tuple[tuple[Table, str], ...]
    fold: Fold
    key: str = "id"


# ---------------------------------------------------------------------- folds


def _fold_customer(rows: Rows, source: Table, e: RowMapping) -> None:
    customer_id = e["customer_id"]
    if source is db.customer_events and e["kind"] == "registered":
        rows[customer_id] = {
            "id": customer_id,
            "wallet": None,
            "pending_wallet": None,
            "registrar": e["actor"],
            "registered_at": e["at"],
            "profile_version": 0,
            "consent_bits": 0,
            "status": int(CustomerStatus.ACTIVE),
            "erased_at": None,
            "receipt_hash": None,
            "block_number": e["block_number"],
        }
        return
    row = rows.get(customer_id)
    if row is None:
        return  # registered before the index starts: nothing to attach this to
    if source is db.profile_versions:
        row["profile_version"] = max(row["profile_version"], int(e["version"]))
    elif source is db.consent_events:
        flag = 1 << int(e["purpose"]) if 0 <= int(e["purpose"]) < CONSENT_BITS else 0
        row["consent_bits"] = row["consent_bits"] | flag if e["granted"] else row["consent_bits"] & ~flag
    elif e["kind"] == "wallet_proposed":
        row["pending_wallet"] = e["wallet"]
    elif e["kind"] == "wallet_accepted":
        row["wallet"], row["pending_wallet"] = e["wallet"], None
    elif e["kind"] == "erased":
        # Erasure clears the wallet, the proposal, the consents and (by AccessRevoked) the grants.
        row |= {
            "wallet": None,
            "pending_wallet": None,
            "consent_bits": 0,
            "status": int(CustomerStatus.ERASED),
            "erased_at": e["at"],
            "receipt_hash": e["receipt_hash"],
        }


def _fold_deal(rows: Rows, source: Table, e: RowMapping) -> None:
    deal_id = e["deal_id"]
    if source is db.deal_events and e["kind"] == "opened":
        rows[deal_id] = {
            "id": deal_id,
            "customer_id": e["customer_id"],
            "owner": e["owner"],
            "value_wei": e["value_wei"],
            "currency": None,
            "discount_bps": 0,
            "stage": int(Stage.NONE),
            "opened_at": e["at"],
            "closed_at": None,
            "lost_reason": None,
            "invoice_id": None,
            "invoices": 0,
            "block_number": e["block_number"],
        }
        return
    row = rows.get(deal_id)
    if row is None:
        return
    if source is db.stage_changes:
        row["stage"] = e["to_stage"]
        if Stage(e["to_stage"]).is_final:
            row["closed_at"] = e["at"]
    elif source is db.offer_events:
        if e["kind"] == "accepted":
            row["discount_bps"] = e["discount_bps"]
    elif e["kind"] == "currency":
        row["currency"] = e["currency"]
    elif e["kind"] == "reassigned":
        row["owner"] = e["owner"]
    elif e["kind"] == "lost":
        row["lost_reason"] = e["reason"]
    elif e["kind"] == "invoiced":
        row["invoice_id"] = e["invoice_id"]
        row["invoices"] += 1


_INVOICE_STATUS: dict[str, tuple[InvoiceStatus, str]] = {
    "paid": (InvoiceStatus.PAID, "paid_at"),
    "disputed": (InvoiceStatus.DISPUTED, "disputed_at"),
    "released": (InvoiceStatus.RELEASED, "released_at"),
    "refunded": (InvoiceStatus.REFUNDED, "refunded_at"),
    "cancelled": (InvoiceStatus.CANCELLED, "cancelled_at"),
    "paid_off_chain": (InvoiceStatus.PAID_OFF_CHAIN, "paid_at"),
}
# What each loyalty event adds to: points burned for a discount, minted at release, minted back at refund.
_POINTS_COLUMN = {"redeemed": "points_redeemed", "awarded": "points_awarded", "restored": "points_restored"}


def _fold_invoice(rows: Rows, source: Table, e: RowMapping) -> None:
    invoice_id = e["invoice_id"]
    if source is db.loyalty_events:
        _fold_points(rows.get(invoice_id), e)
        return
    if e["kind"] == "issued":
        rows[invoice_id] = {
            "id": invoice_id,
            "deal_id": e["deal_id"],
            "customer_id": e["customer_id"],
            "payer": e["payer"],
            "amount_wei": e["amount_wei"],
            "amount_issued": e["amount_wei"],
            "currency": e["currency"],
            "due_at": e["due_at"],
            "payment_reference": e["payment_reference"],
            "status": int(InvoiceStatus.OPEN),
            "treasury": None,
            "issued_at": e["at"],
            "paid_at": None,
            "off_chain_method": None,
            "receipt_hash": None,
            "receipt_cid_digest": None,
            "points_redeemed": 0,
            "points_discount": 0,
            "points_awarded": 0,
            "points_restored": 0,
            "disputed_at": None,
            "resolve_by": None,
            "released_at": None,
            "refunded_at": None,
            "cancelled_at": None,
            "block_number": e["block_number"],
        }
        return
    row = rows.get(invoice_id)
    if row is None or e["kind"] not in _INVOICE_STATUS:
        return
    status, column = _INVOICE_STATUS[e["kind"]]
    row["status"] = int(status)
    row[column] = e["at"]
    if e["kind"] == "paid":
        row["treasury"] = e["treasury"]
    elif e["kind"] == "disputed":
        row["resolve_by"] = e["resolve_by"]
    elif e["kind"] == "paid_off_chain":
        row |= {
            "off_chain_method": e["method"],
            "receipt_hash": e["receipt_hash"],
            "receipt_cid_digest": e["cid_digest"],
        }


def _fold_points(row: dict[str, Any] | None, e: RowMapping) -> None:
    column = _POINTS_COLUMN.get(e["kind"])
    if row is None or column is None:
        return
    row[column] += int(e["points"])
    if e["kind"] == "redeemed":
        # The escrow lowers the invoice's amount to what is left to pay (the payment follows in the same tx).
        discount = int(e["discount"] or 0)
        row["points_discount"] += discount
        row["amount_wei"] = max(0, int(row["amount_wei"]) - discount)


CUSTOMERS = Entity(
    db.customers,
    ((db.customer_events, "customer_id"), (db.profile_versions, "customer_id"), (db.consent_events, "customer_id")),
    _fold_customer,
)
DEALS = Entity(
    db.deals, ((db.deal_events, "deal_id"), (db.stage_changes, "deal_id"), (db.offer_events, "deal_id")), _fold_deal
)
INVOICES = Entity(db.invoices, ((db.invoice_events, "invoice_id"), (db.loyalty_events, "invoice_id")), _fold_invoice)
BRANCHES = Entity(db.branches, ((db.branch_events, "branch_id"),), branch_rows.fold_branch)
BRANCH_STAFF = Entity(db.branch_staff, ((db.branch_events, "branch_id"),), branch_rows.fold_staff, key="branch_id")
BRANCH_CUSTOMERS = Entity(
    db.branch_customers, ((db.branch_events, "customer_id"),), branch_rows.fold_customer, key="customer_id"
)
ENTITIES: tuple[Entity, ...] = (CUSTOMERS, DEALS, INVOICES, BRANCHES, BRANCH_STAFF, BRANCH_CUSTOMERS)


# ---------------------------------------------------------------------- the loop


def _chunks(ids: Iterable[int], size: int = ID_CHUNK) -> Iterator[list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def rebuild(conn: Connection, entity: Entity, ids: Iterable[int]) -> None:
    """Replace the rows of `ids` in `entity`'s table by the fold of their events, in chain order."""
    target = entity.target
    for chunk in _chunks(ids):
        events: list[tuple[int, int, Table, RowMapping]] = []
        for table, column in entity.sources:
            found = conn.execute(select(table).where(table.c[column].in_(chunk))).mappings()
            events += [(e["block_number"], e["log_index"], table, e) for e in found]
        events.sort(key=lambda item: (item[0], item[1]))
        rows: Rows = {}
        for _block, _index, table, e in events:
            entity.fold(rows, table, e)
        conn.execute(delete(target).where(target.c[entity.key].in_(chunk)))
        if rows:
            conn.execute(insert(target), list(rows.values()))


def rebuild_all(conn: Connection, touched: Mapping[Entity, Iterable[int]]) -> None:
    for entity, ids in touched.items():
        rebuild(conn, entity, ids)


def touched_ids(rows_by_table: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[Entity, set[int]]:
    """The entities that new event rows (by table name) feed."""
    return {
        entity: {
            row[column]
            for table, column in entity.sources
            for row in rows_by_table.get(table.name, ())
            if row[column] is not None  # an offer's cancellation names no deal
        }
        for entity in ENTITIES
    }


def touched_from(conn: Connection, fork: int) -> dict[Entity, set[int]]:
    """The entities with event rows in blocks >= fork."""
    return {
        entity: {
            entity_id
            for table, column in entity.sources
            for entity_id in conn.execute(select(table.c[column]).where(table.c.block_number >= fork).distinct())
            .scalars()
            .all()
            if entity_id is not None
        }
        for entity in ENTITIES
    }


__all__ = [
    "BRANCHES",
    "BRANCH_CUSTOMERS",
    "BRANCH_STAFF",
    "CUSTOMERS",
    "DEALS",
    "ENTITIES",
    "INVOICES",
    "Entity",
    "rebuild",
    "rebuild_all",
    "touched_from",
    "touched_ids",
]
