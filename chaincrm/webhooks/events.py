"""The index's event rows as webhook events: a type, a stable id and a payload without personal data.

An event's id is ``"{chain_id}:{tx_hash}:{log_index}"`` (``":{position}"`` added for each record of
a batched interaction log), so a receiver that stores the ids it has handled can take a delivery
twice without acting twice. ``invoice.overdue`` has no log of its own: its id is
``"{chain_id}:invoice.overdue:{invoice_id}"`` (once per invoice), seen when the chain's clock (the
newest confirmed block's time) passes the due time of an invoice still open. ``invoice.reminder`` is
not collected from the index: the reminder keeper (`chaincrm automate`) enqueues it, id
``"{chain_id}:invoice.reminder:{invoice_id}:{level}"``, data ``invoice_id, level, customer_id, due_at,
amount_wei, content_hash, at`` (see :mod:`chaincrm.automation.outbox`).

The payload::

    {"id", "type", "created": unix seconds (the block's time), "chain_id", "block_number",
     "tx_hash", "log_index", "data": {...}}

``data`` holds ids, codes by their lower-case names, wei as decimal strings, staff addresses (the
registrar, the author, a deal's owner and actor, an offer's issuer) and the treasury; never an
address that may be a customer's (a wallet, a payer, whoever relayed a consent or confirmed a
delivery, a customer accepting an offer: the opening of a deal by an offer has a null ``actor``),
nor anything from a profile or a note, nor an off-chain payment's reference or receipt.

Money: a deal or an invoice is in ETH or in an ERC-20. ``currency`` is the token's checksummed
address, null for ETH; ``*_base_units`` the amount in the currency's base units (wei, or the token's
smallest unit) as a decimal string; the ``*_wei`` fields keep meaning wei, so they are null in a
token. Loyalty points (``loyalty.*``) are in point base units (18 decimals).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, Table, exists, literal, select

from chaincrm.index import schema as db
from chaincrm.models import InteractionKind, InvoiceStatus, Outcome, Purpose, Stage

EVENT_TYPES = (
    "customer.registered",
    "interaction.logged",
    "deal.opened",
    "deal.stage_changed",
    "invoice.issued",
    "invoice.paid",
    "invoice.released",
    "invoice.refunded",
    "invoice.overdue",
    "invoice.reminder",
    "invoice.paid_off_chain",
    "loyalty.points_awarded",
    "loyalty.points_redeemed",
    "loyalty.points_restored",
    "offer.accepted",
    "offer.cancelled",
    "consent.changed",
)
OVERDUE = "invoice.overdue"
REMINDER = "invoice.reminder"  # enqueued by the reminder keeper (chaincrm.automation), not collected here
REVERTED_SUFFIX = ".reverted"


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    source: str  # the index table the row is in (for the reorg check)
    chain_id: int
    block_number: int
    tx_hash: str | None
    log_index: int | None
    position: int
    created: int
    data: dict[str, Any]

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "created": self.created,
            "chain_id": self.chain_id,
            "block_number": self.block_number,
            "tx_hash": self.tx_hash,
            "log_index": self.log_index,
            "data": self.data,
        }


def reversal(payload: Mapping[str, Any], reverted_at: int) -> dict[str, Any]:
    """The payload of `<type>.reverted`: the same data, its own id (so a receiver that dedups by id
    takes it), and the id of the event it reverts."""
    return {
        **payload,
        "id": f"{payload['id']}:reverted",
        "type": f"{payload['type']}{REVERTED_SUFFIX}",
        "created": reverted_at,
        "reverts": payload["id"],
    }


def _wei(value: int | None) -> str | None:
    return None if value is None else str(value)


def _wei_in(value: int | None, currency: str | None) -> str | None:
    """A ``*_wei`` field: wei for ETH, null for an amount in a token."""
    return None if currency is not None else _wei(value)


def _money(prefix: str, value: int | None, currency: str | None) -> dict[str, Any]:
    """``{prefix}_wei``, ``currency`` and ``{prefix}_base_units`` of an amount in `currency` (None: ETH)."""
    return {f"{prefix}_wei": _wei_in(value, currency), "currency": currency, f"{prefix}_base_units": _wei(value)}


OFF_CHAIN_METHODS = {1: "bank_transfer", 2: "card", 3: "other"}  # InvoicePaidOffChain's method (uint8)


def _method(code: int | None) -> str | None:
    return None if code is None else OFF_CHAIN_METHODS.get(int(code), f"unknown({int(code)})")


def _invoice_columns(query: Select[Any], table: Table) -> Select[Any]:
    """Adds the invoice's currency and amount (`invoice_currency`, `invoice_amount`): only the
    issuing log names the currency."""
    i = db.invoices
    return query.add_columns(i.c.currency.label("invoice_currency"), i.c.amount_wei.label("invoice_amount")).outerjoin(
        i, i.c.id == table.c.invoice_id
    )


def _by_offer(table: Table) -> Any:
    """Whether the row's deal was opened in this transaction by its customer accepting an offer
    (the opener, DealOpened's and the first DealStageChanged's actor, is then the customer's wallet)."""
    o = db.offer_events
    return (
        exists()
        .where(o.c.kind == "accepted", o.c.deal_id == table.c.deal_id, o.c.tx_hash == table.c.tx_hash)
        .label("by_offer")
    )


def _deal_columns(query: Select[Any], table: Table) -> Select[Any]:
    """Adds the deal's currency (`deal_currency`: DealCurrency follows DealOpened in the same
    transaction, and a deal's currency never changes) and `by_offer`."""
    d = db.deals
    return query.add_columns(d.c.currency.label("deal_currency"), _by_offer(table)).outerjoin(
        d, d.c.id == table.c.deal_id
    )


def _offer_columns(query: Select[Any], table: Table) -> Select[Any]:
    return query.add_columns(_by_offer(table))


def _points_columns(query: Select[Any], table: Table) -> Select[Any]:
    i = db.invoices
    return query.add_columns(i.c.currency.label("invoice_currency")).outerjoin(i, i.c.id == table.c.invoice_id)


@dataclass(frozen=True)
class _Source:
    type: str
    table: Table
    kind: str | None  # the `kind` column's value, for the tables that hold several events
    data: Callable[[Any], dict[str, Any]]
    join: Callable[[Select[Any], Table], Select[Any]] | None = None  # adds the columns `data` reads from elsewhere


SOURCES: tuple[_Source, ...] = (
    _Source(
        "customer.registered",
        db.customer_events,
        "registered",
        lambda r: {"customer_id": r.customer_id, "registrar": r.actor, "at": r.at},
    ),
    _Source(
        "interaction.logged",
        db.interactions,
        None,
        lambda r: {
            "customer_id": r.customer_id,
            "author": r.author,
            "kind": InteractionKind(r.kind).label,
            "outcome": Outcome(r.outcome).label,
            "content_hash": r.content_hash,
            "position": r.position,
            "at": r.at,
        },
    ),
    _Source(
        "deal.opened",
        db.deal_events,
        "opened",
        lambda r: {
            "deal_id": r.deal_id,
            "customer_id": r.customer_id,
            "owner": r.owner,
            **_money("value", r.value_wei, r.deal_currency),
            "actor": None if r.by_offer else r.actor,
            "at": r.at,
        },
        _deal_columns,
    ),
    _Source(
        "deal.stage_changed",
        db.stage_changes,
        None,
        lambda r: {
            "deal_id": r.deal_id,
            "from": Stage(r.from_stage).label,
            "to": Stage(r.to_stage).label,
            "actor": None if r.by_offer and r.from_stage == int(Stage.NONE) else r.actor,
            "at": r.at,
        },
        _offer_columns,
    ),
    _Source(
        "invoice.issued",
        db.invoice_events,
        "issued",
        lambda r: {
            "invoice_id": r.invoice_id,
            "deal_id": r.deal_id,
            "customer_id": r.customer_id,
            **_money("amount", r.amount_wei, r.currency),
            "due_at": r.due_at,
            "payment_reference": r.payment_reference,
            "at": r.at,
        },
    ),
    _Source(
        "invoice.paid",  # the payer (the customer's wallet) stays out
        db.invoice_events,
        "paid",
        lambda r: {
            "invoice_id": r.invoice_id,
            **_money("amount", r.amount_wei, r.invoice_currency),
            "treasury": r.treasury,
            "at": r.at,
        },
        _invoice_columns,
    ),
    _Source(
        "invoice.paid_off_chain",  # the receipt's hashes stay out; the reference is never on chain
        db.invoice_events,
        "paid_off_chain",
        lambda r: {
            "invoice_id": r.invoice_id,
            "method": _method(r.method),
            **_money("amount", r.invoice_amount, r.invoice_currency),
            "actor": r.actor,
            "at": r.at,
        },
        _invoice_columns,
    ),
    _Source(
        "invoice.released",  # no actor: the payer may release by confirming delivery
        db.invoice_events,
        "released",
        lambda r: {
            "invoice_id": r.invoice_id,
            **_money("amount", r.amount_wei, r.invoice_currency),
            "treasury": r.treasury,
            "at": r.at,
        },
        _invoice_columns,
    ),
    _Source(
        "invoice.refunded",  # no actor: the payer may reclaim an unresolved dispute
        db.invoice_events,
        "refunded",
        lambda r: {"invoice_id": r.invoice_id, **_money("amount", r.amount_wei, r.invoice_currency), "at": r.at},
        _invoice_columns,
    ),
    _Source(
        "loyalty.points_awarded",  # the payer (who holds the points) stays out
        db.loyalty_events,
        "awarded",
        lambda r: {"invoice_id": r.invoice_id, "points": _wei(r.points), "at": r.at},
    ),
    _Source(
        "loyalty.points_redeemed",
        db.loyalty_events,
        "redeemed",
        lambda r: {
            "invoice_id": r.invoice_id,
            "points": _wei(r.points),
            "currency": r.invoice_currency,
            "discount_base_units": _wei(r.discount),
            "at": r.at,
        },
        _points_columns,
    ),
    _Source(
        "loyalty.points_restored",
        db.loyalty_events,
        "restored",
        lambda r: {"invoice_id": r.invoice_id, "points": _wei(r.points), "at": r.at},
    ),
    _Source(
        "offer.accepted",  # by the customer's wallet, which stays out
        db.offer_events,
        "accepted",
        lambda r: {
            "deal_id": r.deal_id,
            "customer_id": r.customer_id,
            "issuer": r.issuer,
            "nonce": _wei(r.nonce),
            "digest": r.digest,
            "discount_bps": r.discount_bps,
            "uses": r.uses,
            "at": r.at,
        },
    ),
    _Source(
        "offer.cancelled",
        db.offer_events,
        "cancelled",
        lambda r: {"issuer": r.issuer, "nonce": _wei(r.nonce), "at": r.at},
    ),
    _Source(
        "consent.changed",  # who relayed it (possibly the customer's wallet) stays out
        db.consent_events,
        None,
        lambda r: {"customer_id": r.customer_id, "purpose": Purpose(r.purpose).label, "granted": r.granted, "at": r.at},
    ),
)
SOURCE_TABLES = {source.table.name: source.table for source in SOURCES}


def collect(conn: Connection, chain_id: int, after: int, upto: int, types: Collection[str]) -> list[WebhookEvent]:
    """The events of `types` in blocks `after + 1 .. upto`, in chain order."""
    found: list[WebhookEvent] = []
    for source in SOURCES:
        if source.type not in types:
            continue
        table = source.table
        query = select(table)
        if source.join is not None:
            query = source.join(query, table)
        query = query.where(table.c.block_number > after, table.c.block_number <= upto)
        if source.kind is not None:
            query = query.where(table.c.kind == source.kind)
        rows = conn.execute(query).all()
        batched = Counter((row.block_number, row.log_index) for row in rows) if "position" in table.c else Counter()
        for row in rows:
            position = int(getattr(row, "position", 0))
            event_id = f"{chain_id}:{row.tx_hash}:{row.log_index}"
            if position or batched[(row.block_number, row.log_index)] > 1:
                event_id += f":{position}"
            found.append(
                WebhookEvent(
                    id=event_id,
                    type=source.type,
                    source=table.name,
                    chain_id=chain_id,
                    block_number=int(row.block_number),
                    tx_hash=row.tx_hash,
                    log_index=int(row.log_index),
                    position=position,
                    created=int(row.at),
                    data=source.data(row),
                )
            )
    found.sort(key=lambda event: (event.block_number, event.log_index or 0, event.position))
    return found


def overdue(conn: Connection, chain_id: int, chain_time: int, upto: int, block_number: int) -> list[WebhookEvent]:
    """Open invoices (issued at or before block `upto`) whose due time `chain_time` has passed."""
    rows = conn.execute(
        select(db.invoices)
        .where(
            db.invoices.c.status == int(InvoiceStatus.OPEN),
            db.invoices.c.due_at < chain_time,
            db.invoices.c.block_number <= upto,
        )
        .order_by(db.invoices.c.id)
    ).all()
    return [
        WebhookEvent(
            id=f"{chain_id}:{OVERDUE}:{row.id}",
            type=OVERDUE,
            source=db.invoices.name,
            chain_id=chain_id,
            block_number=block_number,
            tx_hash=None,
            log_index=None,
            position=0,
            created=chain_time,
            data={
                "invoice_id": row.id,
                "deal_id": row.deal_id,
                "customer_id": row.customer_id,
                **_money("amount", row.amount_wei, row.currency),
                "due_at": row.due_at,
                "at": chain_time,
            },
        )
        for row in rows
    ]


LogKey = tuple[str, int, int]  # tx hash, log index, position


def logs_in(conn: Connection, source: str, after: int, upto: int) -> dict[LogKey, int]:
    """The logs whose rows the index holds in `source`, blocks `after + 1 .. upto`: key -> block."""
    table = SOURCE_TABLES[source]
    position = table.c.position if "position" in table.c else literal(0)
    rows = conn.execute(
        select(table.c.tx_hash, table.c.log_index, position, table.c.block_number).where(
            table.c.block_number > after, table.c.block_number <= upto
        )
    ).all()
    return {(str(tx), int(log), int(pos)): int(block) for tx, log, pos, block in rows}


def moved_to(conn: Connection, source: str, key: LogKey) -> int | None:
    """The block the index now holds this log's row in, wherever it went; None if it is gone. A scan
    by transaction hash: only for a row a reorg took from its block."""
    table = SOURCE_TABLES[source]
    tx_hash, log_index, position = key
    query = select(table.c.block_number).where(table.c.tx_hash == tx_hash, table.c.log_index == log_index)
    if "position" in table.c:
        query = query.where(table.c.position == position)
    found = conn.execute(query.limit(1)).scalar()
    return None if found is None else int(found)


__all__ = [
    "EVENT_TYPES",
    "OVERDUE",
    "REMINDER",
    "REVERTED_SUFFIX",
    "SOURCE_TABLES",
    "LogKey",
    "WebhookEvent",
    "collect",
    "logs_in",
    "moved_to",
    "overdue",
    "reversal",
]
