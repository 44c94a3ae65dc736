"""The index read back as the portal's JSON: one invoice (the payment page), and a customer's area.

Every read is a few indexed lookups on one connection of the app's engine: the payment page costs
one query (the invoice joined with its deal and the index's last block), and one more for the
loyalty rates of its currency while it is open. Amounts are in the base units of the row's currency
(``currency_address``: None for ETH); :mod:`~chaincrm.portal.tokens` presents them in its units. Codes become the
lower-case names of :mod:`chaincrm.models` (``unknown(N)`` for a code this version does not know),
wei amounts decimal strings, times unix seconds, hashes in full.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, select

from chaincrm.index import schema as db
from chaincrm.index.queries import customer_timeline
from chaincrm.models import (
    CONSENT_PURPOSES,
    ChainCode,
    CustomerStatus,
    InvoiceStatus,
    Purpose,
    Stage,
)
from chaincrm.units import WEI_PER_ETH

MAX_ID = 2**64 - 1  # ids are uint64 on chain
MAX_ID_DIGITS = len(str(MAX_ID))
INDEX_MAX_ID = 2**63 - 1  # the index stores ids in signed 64-bit columns: none above this can be there
TIMELINE_LIMIT = 200
RELEASED_BY = (
    "after the dispute window: the payer, the treasury or a manager; a disputed invoice: a manager before "
    "the resolution deadline, else the payer reclaims"
)
PROFILE_NOTE = "Your profile is encrypted; read it with `chaincrm me profile` and your keystore."


class BadId(ValueError):
    """Not an id: non-digits, a sign, too large."""


@dataclass(frozen=True)
class EscrowTerms:
    """The escrow's immutables, read once at start."""

    chain_id: int
    address: str
    dispute_window_seconds: int
    dispute_resolution_seconds: int


def parse_id(text: str) -> int:
    """A record id from a URL or query: ASCII digits only (no sign, space or exponent), below 2**64."""
    if not text or len(text) > MAX_ID_DIGITS or not (text.isascii() and text.isdigit()):
        raise BadId(text)
    number = int(text)
    if number > MAX_ID:
        raise BadId(text)
    return number


def label(enum: type[ChainCode], code: int | None) -> str | None:
    return None if code is None else enum(code).label


def eth_text(wei: int) -> str:
    """Exact ETH as text: 17510000000000000000 -> "17.51" (no float, no rounding)."""
    whole, fraction = divmod(wei, WEI_PER_ETH)
    decimals = str(fraction).zfill(18).rstrip("0")
    return f"{whole}.{decimals}" if decimals else str(whole)


# ---------------------------------------------------------------------- bookkeeping


def as_of_block(conn: Connection) -> int | None:
    """The last block the index read (None: no index yet)."""
    value = conn.execute(select(db.sync_state.c.last_block).where(db.sync_state.c.id == 1)).scalar()
    return None if value is None else int(value)


def chain_time(conn: Connection) -> int | None:
    """The timestamp of the newest block the index holds (the chain's clock, as far as it read)."""
    value = conn.execute(select(db.blocks.c.timestamp).order_by(db.blocks.c.number.desc()).limit(1)).scalar()
    return None if value is None else int(value)


# ---------------------------------------------------------------------- invoices

_INVOICE_COLUMNS = (
    db.invoices.c.id,
    db.invoices.c.status,
    db.invoices.c.amount_wei,
    db.invoices.c.due_at,
    db.invoices.c.payer,
    db.invoices.c.customer_id,
    db.invoices.c.payment_reference,
    db.invoices.c.deal_id,
    db.invoices.c.paid_at,
    db.invoices.c.released_at,
    db.invoices.c.refunded_at,
    db.invoices.c.cancelled_at,
    db.invoices.c.disputed_at,
    db.invoices.c.resolve_by,
    db.invoices.c.currency,
    db.invoices.c.amount_issued,
    db.invoices.c.off_chain_method,
    db.invoices.c.points_redeemed,
    db.invoices.c.points_discount,
)
OFF_CHAIN_METHODS = {1: "bank_transfer", 2: "card", 3: "other"}
POINTS_HISTORY_LIMIT = 200
_LAST_BLOCK = select(db.sync_state.c.last_block).where(db.sync_state.c.id == 1).scalar_subquery()
_INVOICE_QUERY = select(
    *_INVOICE_COLUMNS,
    db.deals.c.stage.label("deal_stage"),
    db.deals.c.value_wei.label("deal_value_wei"),
    db.deals.c.owner.label("deal_owner"),
    _LAST_BLOCK.label("as_of_block"),
).select_from(db.invoices.outerjoin(db.deals, db.deals.c.id == db.invoices.c.deal_id))


def invoice(conn: Connection, invoice_id: int, terms: EscrowTerms, now: int) -> dict[str, Any] | None:
    """The invoice JSON of the payment page, or None when the index holds no such invoice."""
    if invoice_id > INDEX_MAX_ID:
        return None  # binding it would overflow the column; the index cannot hold it
    row = conn.execute(_INVOICE_QUERY.where(db.invoices.c.id == invoice_id)).mappings().first()
    if row is None:
        return None
    deal = None
    if row["deal_stage"] is not None:
        deal = {
            "id": row["deal_id"],
            "stage": label(Stage, row["deal_stage"]),
            "value_wei": str(row["deal_value_wei"]),
            "owner": row["deal_owner"],
        }
    found = _invoice_json(row, deal, terms, now, row["as_of_block"])
    if found["status"] == InvoiceStatus.OPEN.label:
        found["loyalty_rates"] = loyalty_rates(conn, row["currency"])
    return found


def loyalty_rates(conn: Connection, currency: str | None) -> tuple[int, int] | None:
    """(earnWad, redeemWad) of a currency (None: ETH) as last set, or None if never set."""
    t = db.token_events
    token = t.c.token.is_(None) if currency is None else t.c.token == currency
    row = conn.execute(
        select(t.c.earn_wad, t.c.redeem_wad)
        .where(t.c.kind == "loyalty_rates_changed", token)
        .order_by(t.c.block_number.desc(), t.c.log_index.desc())
        .limit(1)
    ).first()
    return None if row is None else (int(row.earn_wad), int(row.redeem_wad))


def points_of(conn: Connection, wallet: str) -> dict[str, Any]:
    """A wallet's loyalty points as the index saw them: the balance (earned and given back, less
    redeemed: points never move between holders, so the escrow's events are the whole ledger) and
    the history, oldest first (the last POINTS_HISTORY_LIMIT entries)."""
    e = db.loyalty_events
    rows = (
        conn.execute(
            select(e.c.kind, e.c.invoice_id, e.c.points, e.c.discount, e.c.at, e.c.block_number, e.c.tx_hash)
            .where(e.c.payer == wallet)
            .order_by(e.c.block_number, e.c.log_index)
        )
        .mappings()
        .all()
    )
    balance = sum(-int(row["points"]) if row["kind"] == "redeemed" else int(row["points"]) for row in rows)
    history = [
        {
            "kind": row["kind"],
            "invoice_id": row["invoice_id"],
            "points": str(row["points"]),
            "discount": None if row["discount"] is None else str(row["discount"]),
            "at": row["at"],
            "block_number": row["block_number"],
            "tx_hash": row["tx_hash"],
        }
        for row in rows[-POINTS_HISTORY_LIMIT:]
    ]
    return {"balance": str(balance), "history": history}


def _invoice_json(
    row: Any, deal: dict[str, Any] | None, terms: EscrowTerms, now: int, as_of: int | None
) -> dict[str, Any]:
    status = InvoiceStatus(row["status"])
    paid_at = row["paid_at"]
    method = row["off_chain_method"]
    eth = row["currency"] is None
    return {
        "id": row["id"],
        "status": status.label,
        # in the currency's base units: wei for ETH (amount_wei and amount_eth are kept for ETH's
        # sake; an ERC-20 invoice's amount_eth is null)
        "amount": str(row["amount_wei"]),
        "amount_issued": str(row["amount_issued"]),
        "amount_wei": str(row["amount_wei"]),
        "amount_eth": eth_text(row["amount_wei"]) if eth else None,
        "currency_address": row["currency"],
        "off_chain": None
        if method is None
        else {"method": OFF_CHAIN_METHODS.get(method, f"unknown({method})"), "at": paid_at},
        "points": None
        if not row["points_redeemed"]
        else {"redeemed": str(row["points_redeemed"]), "discount": str(row["points_discount"])},
        "loyalty_rates": None,
        "due_at": row["due_at"],
        "overdue": status is InvoiceStatus.OPEN and now > row["due_at"],
        "payer": row["payer"],
        "customer_id": row["customer_id"],
        "payment_reference": row["payment_reference"],
        "deal": deal,
        "escrow": {
            "address": terms.address,
            "dispute_window_seconds": terms.dispute_window_seconds,
            "dispute_resolution_seconds": terms.dispute_resolution_seconds,
            "released_by": RELEASED_BY,
            "dispute_window_ends_at": paid_at + terms.dispute_window_seconds if paid_at is not None else None,
            "resolve_by": row["resolve_by"],
        },
        "paid_at": paid_at,
        "released_at": row["released_at"],
        "refunded_at": row["refunded_at"],
        "cancelled_at": row["cancelled_at"],
        "disputed_at": row["disputed_at"],
        "chain_id": terms.chain_id,
        "as_of_block": as_of,
    }


# ---------------------------------------------------------------------- the customer's area


def customers_of(conn: Connection, wallet: str) -> list[int]:
    """The active customers whose accepted wallet is `wallet` (checksummed), by id."""
    c = db.customers
    query = select(c.c.id).where(c.c.wallet == wallet, c.c.status == int(CustomerStatus.ACTIVE)).order_by(c.c.id)
    return [int(value) for value in conn.execute(query).scalars()]


def customer_area(
    conn: Connection, customer_id: int, terms: EscrowTerms, now: int, nonce: int, as_of: int | None
) -> dict[str, Any] | None:
    """One customer's section of /api/me (None if the index has no such customer)."""
    customer = conn.execute(select(db.customers).where(db.customers.c.id == customer_id)).mappings().first()
    if customer is None:
        return None
    deals = _deals(conn, customer_id)
    deals_by_id = {deal["id"]: deal for deal in deals}
    return {
        "id": customer_id,
        "status": label(CustomerStatus, customer["status"]),
        "profile": {"version": customer["profile_version"], "readable_in_browser": False, "note": PROFILE_NOTE},
        "interactions": [
            {
                "at": item.at,
                "kind": item.kind.label,
                "outcome": item.outcome.label,
                "author": item.author,
                "content_hash": "0x" + item.content_hash.hex(),
                "tx_hash": item.tx_hash,
                "block_number": item.block_number,
            }
            for item in customer_timeline(conn, customer_id, limit=TIMELINE_LIMIT)
        ],
        "deals": deals,
        "invoices": _invoices(conn, customer_id, deals_by_id, terms, now, as_of),
        "access": _access(conn, customer_id),
        "grants": _grants(conn, customer_id),
        "consents": _consents(conn, customer_id, int(customer["consent_bits"])),
        "nonce": nonce,
    }


def _deals(conn: Connection, customer_id: int) -> list[dict[str, Any]]:
    d, s = db.deals, db.stage_changes
    rows = conn.execute(select(d).where(d.c.customer_id == customer_id).order_by(d.c.id)).mappings().all()
    if not rows:
        return []
    changes = conn.execute(
        select(s).where(s.c.deal_id.in_([row["id"] for row in rows])).order_by(s.c.block_number, s.c.log_index)
    ).mappings()
    stages: dict[int, list[dict[str, Any]]] = {}
    for change in changes:
        stages.setdefault(change["deal_id"], []).append(
            {
                "from": label(Stage, change["from_stage"]),
                "to": label(Stage, change["to_stage"]),
                "at": change["at"],
                "actor": change["actor"],
                "tx_hash": change["tx_hash"],
            }
        )
    return [
        {
            "id": row["id"],
            "stage": label(Stage, row["stage"]),
            "value_wei": str(row["value_wei"]),  # in the deal's currency's base units
            "currency_address": row["currency"],
            "discount_bps": row["discount_bps"],
            "owner": row["owner"],
            "invoice_id": row["invoice_id"],
            "stages": stages.get(row["id"], []),
        }
        for row in rows
    ]


def _invoices(
    conn: Connection,
    customer_id: int,
    deals: dict[int, dict[str, Any]],
    terms: EscrowTerms,
    now: int,
    as_of: int | None,
) -> list[dict[str, Any]]:
    i = db.invoices
    rows = conn.execute(select(*_INVOICE_COLUMNS).where(i.c.customer_id == customer_id).order_by(i.c.id)).mappings()
    found = []
    for row in rows:
        deal = deals.get(row["deal_id"])
        summary = None if deal is None else {key: deal[key] for key in ("id", "stage", "value_wei", "owner")}
        found.append(_invoice_json(row, summary, terms, now, as_of))
    return found


def _access(conn: Connection, customer_id: int) -> list[dict[str, Any]]:
    a = db.access_events
    rows = conn.execute(
        select(a).where(a.c.customer_id == customer_id).order_by(a.c.block_number, a.c.log_index)
    ).mappings()
    return [
        {
            "staff": row["staff"],
            "granted": bool(row["granted"]),
            "purpose": label(Purpose, row["purpose"]),
            "lawful_basis": Purpose(row["purpose"]).basis.label,
            "actor": row["actor"],
            "at": row["at"],
            "tx_hash": row["tx_hash"],
        }
        for row in rows
    ]


def _grants(conn: Connection, customer_id: int) -> list[dict[str, Any]]:
    """Active grants now: each staff member's latest access event, when it granted."""
    a = db.access_events
    latest: dict[str, Any] = {}
    for row in conn.execute(
        select(a.c.staff, a.c.granted, a.c.purpose, a.c.at)
        .where(a.c.customer_id == customer_id)
        .order_by(a.c.block_number, a.c.log_index)
    ).mappings():
        latest[row["staff"]] = row
    return [
        {"staff": staff, "purpose": label(Purpose, row["purpose"]), "since": row["at"]}
        for staff, row in sorted(latest.items())
        if row["granted"]
    ]


def _consents(conn: Connection, customer_id: int, bits: int) -> list[dict[str, Any]]:
    c = db.consent_events
    newest = (
        select(c.c.purpose, func.max(c.c.at).label("at"))
        .where(and_(c.c.customer_id == customer_id))
        .group_by(c.c.purpose)
    )
    changed = {int(row.purpose): int(row.at) for row in conn.execute(newest)}
    return [
        {
            "purpose": purpose.label,
            "given": bool((bits >> int(purpose)) & 1),
            "changed_at": changed.get(int(purpose)),
        }
        for purpose in CONSENT_PURPOSES
    ]


__all__ = [
    "PROFILE_NOTE",
    "RELEASED_BY",
    "BadId",
    "EscrowTerms",
    "as_of_block",
    "chain_time",
    "customer_area",
    "customers_of",
    "eth_text",
    "invoice",
    "loyalty_rates",
    "parse_id",
    "points_of",
]
