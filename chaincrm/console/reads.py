"""The index read back for the staff console: the board, customers, a customer's timeline, invoices.

Each function takes one connection of the portal's engine and answers plain dicts for the
templates: codes as the lower-case names of :mod:`chaincrm.models`, amounts as ints in their
currency's base units with ``currency`` (the token's address, None for ETH; the pages add the
text, ``1234.56 TUSD``, from the token's symbol and decimals), times as Unix seconds. Nothing here
decrypts: names come from :class:`~chaincrm.console.names.NameBook`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Select, desc, func, select

from chaincrm.currency import TokenInfo, amount_text, currency_key, info_for
from chaincrm.index import schema as db
from chaincrm.models import (
    OPEN_STAGES,
    CustomerStatus,
    InteractionKind,
    InvoiceStatus,
    LossReason,
    Outcome,
    Purpose,
    Stage,
)
from chaincrm.portal.reads import label
from chaincrm.reports.figures import AGING_BUCKETS, days_past_due

OFF_CHAIN_METHODS = {1: "bank transfer", 2: "card", 3: "other"}  # InvoicePaidOffChain's method

BOARD_STAGES = (*OPEN_STAGES, Stage.WON, Stage.LOST)
CLOSED_SHOWN = 20  # per final column: the most recently closed deals
OPEN_SHOWN = 500  # per open column
TIMELINE_LIMIT = 200


def _page(query: Select[Any], limit: int, offset: int) -> Select[Any]:
    return query.limit(limit).offset(offset)


# ---------------------------------------------------------------------- the board


def board(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    """Deals by stage name: every open deal (up to OPEN_SHOWN a stage, oldest first) and the most
    recently closed won and lost ones."""
    d, c = db.deals, db.customers
    columns = (
        d.c.id,
        d.c.customer_id,
        d.c.owner,
        d.c.value_wei,
        d.c.currency,
        d.c.discount_bps,
        d.c.stage,
        d.c.invoice_id,
        d.c.opened_at,
        d.c.closed_at,
        c.c.profile_version,
    )
    joined = d.outerjoin(c, c.c.id == d.c.customer_id)
    found: dict[str, list[dict[str, Any]]] = {}
    for stage in BOARD_STAGES:
        query = select(*columns).select_from(joined).where(d.c.stage == int(stage))
        if stage.is_final:
            query = query.order_by(desc(d.c.closed_at), desc(d.c.id)).limit(CLOSED_SHOWN)
        else:
            query = query.order_by(d.c.id).limit(OPEN_SHOWN)
        found[stage.label] = [_deal(row) for row in conn.execute(query).mappings()]
    return found


def deal_counts(conn: Connection) -> dict[str, int]:
    d = db.deals
    counts = {stage.label: 0 for stage in BOARD_STAGES}
    for stage, count in conn.execute(select(d.c.stage, func.count()).group_by(d.c.stage)):
        name = Stage(stage).label
        if name in counts:
            counts[name] = int(count)
    return counts


def _deal(row: Any) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "customer_id": int(row["customer_id"]),
        "owner": row["owner"],
        "value_wei": int(row["value_wei"]),  # in `currency`'s base units
        "currency": row["currency"],
        "discount_bps": int(row["discount_bps"] or 0),
        "stage": label(Stage, row["stage"]),
        "invoice_id": row["invoice_id"],
        "opened_at": row["opened_at"],
        "closed_at": row["closed_at"],
        "profile_version": row["profile_version"],
    }


# ---------------------------------------------------------------------- customers


def readable(conn: Connection, staff: str, *, manager: bool) -> list[tuple[int, int]]:
    """(id, profile version) of the active customers whose profile `staff` reads: all of them for
    a manager; else those whose latest access event for `staff` is a grant."""
    c = db.customers
    active = select(c.c.id, c.c.profile_version).where(c.c.status == int(CustomerStatus.ACTIVE))
    if manager:
        return [(int(i), int(v)) for i, v in conn.execute(active.order_by(c.c.id))]
    a = db.access_events
    latest: dict[int, bool] = {}
    events = select(a.c.customer_id, a.c.granted).where(a.c.staff == staff).order_by(a.c.block_number, a.c.log_index)
    for customer_id, granted in conn.execute(events):
        latest[int(customer_id)] = bool(granted)
    granted_ids = sorted(customer_id for customer_id, granted in latest.items() if granted)
    if not granted_ids:
        return []
    rows = conn.execute(active.where(c.c.id.in_(granted_ids)).order_by(c.c.id))
    return [(int(i), int(v)) for i, v in rows]


_CUSTOMER_COLUMNS = (
    db.customers.c.id,
    db.customers.c.status,
    db.customers.c.wallet,
    db.customers.c.pending_wallet,
    db.customers.c.registrar,
    db.customers.c.registered_at,
    db.customers.c.profile_version,
    db.customers.c.consent_bits,
)


def customers(
    conn: Connection, *, ids: Sequence[int] | None = None, limit: int = 50, offset: int = 0
) -> list[dict[str, Any]]:
    """Customers by id (all, or only `ids`), a page at a time."""
    c = db.customers
    query = select(*_CUSTOMER_COLUMNS).order_by(c.c.id)
    if ids is not None:
        if not ids:
            return []
        query = query.where(c.c.id.in_(list(ids)))
    return [_customer(row) for row in conn.execute(_page(query, limit, offset)).mappings()]


def customer_total(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(db.customers)).scalar() or 0)


def customer(conn: Connection, customer_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(*_CUSTOMER_COLUMNS).where(db.customers.c.id == customer_id)).mappings().first()
    return None if row is None else _customer(row)


def _customer(row: Any) -> dict[str, Any]:
    bits = int(row["consent_bits"])
    return {
        "id": int(row["id"]),
        "status": label(CustomerStatus, row["status"]),
        "wallet": row["wallet"],
        "pending_wallet": row["pending_wallet"],
        "registrar": row["registrar"],
        "registered_at": row["registered_at"],
        "profile_version": int(row["profile_version"]),
        "consents": [purpose.label for purpose in Purpose if (bits >> int(purpose)) & 1],
    }


# ---------------------------------------------------------------------- a customer's timeline


def customer_currencies(conn: Connection, customer_id: int) -> set[str | None]:
    """The currencies (token addresses, None for ETH) of one customer's deals and invoices."""
    found: set[str | None] = set()
    for table in (db.deals, db.invoices):
        found |= set(conn.execute(select(table.c.currency).where(table.c.customer_id == customer_id)).scalars())
    return found


def timeline(
    conn: Connection, customer_id: int, limit: int = TIMELINE_LIMIT, known: Mapping[str, TokenInfo] | None = None
) -> list[dict[str, Any]]:
    """What the chain recorded about one customer, newest first: registration and wallet, profile
    versions, access and consent, interactions, deals and their stages, offers accepted, invoices
    and loyalty points; amounts in their currency, displayed from `known` (see
    :func:`customer_currencies`)."""
    deal_currency = {
        int(i): c
        for i, c in conn.execute(
            select(db.deals.c.id, db.deals.c.currency).where(db.deals.c.customer_id == customer_id)
        )
    }
    invoice_currency = {
        int(i): c
        for i, c in conn.execute(
            select(db.invoices.c.id, db.invoices.c.currency).where(db.invoices.c.customer_id == customer_id)
        )
    }
    deal_ids, invoice_ids = list(deal_currency), list(invoice_currency)
    shown = known or {}

    def deal_money(deal_id: int, amount: int | None) -> str:
        return money(amount, deal_currency.get(deal_id), shown)

    def invoice_money(invoice_id: int, amount: int | None) -> str:
        return money(amount, invoice_currency.get(invoice_id), shown)

    entries: list[dict[str, Any]] = []
    for table, where, describe in (
        (db.customer_events, db.customer_events.c.customer_id == customer_id, _customer_event),
        (db.profile_versions, db.profile_versions.c.customer_id == customer_id, _profile_version),
        (db.access_events, db.access_events.c.customer_id == customer_id, _access_event),
        (db.consent_events, db.consent_events.c.customer_id == customer_id, _consent_event),
        (db.interactions, db.interactions.c.customer_id == customer_id, _interaction),
        (db.deal_events, db.deal_events.c.deal_id.in_(deal_ids), lambda row: _deal_event(row, deal_money)),
        (db.stage_changes, db.stage_changes.c.deal_id.in_(deal_ids), _stage_change),
        (db.offer_events, db.offer_events.c.customer_id == customer_id, _offer_event),
        (
            db.invoice_events,
            db.invoice_events.c.invoice_id.in_(invoice_ids),
            lambda row: _invoice_event(row, invoice_money),
        ),
        (
            db.loyalty_events,
            db.loyalty_events.c.invoice_id.in_(invoice_ids),
            lambda row: _points_event(row, invoice_money),
        ),
    ):
        order = [desc(table.c.block_number), desc(table.c.log_index)]
        if "position" in table.c:
            order.append(desc(table.c.position))
        for row in conn.execute(select(table).where(where).order_by(*order).limit(limit)).mappings():
            what, detail, actor = describe(row)
            entries.append(
                {
                    "at": row["at"],
                    "block_number": row["block_number"],
                    "tx_hash": row["tx_hash"],
                    "what": what,
                    "detail": detail,
                    "actor": actor,
                    "_key": (row["block_number"], row["log_index"], row.get("position", 0)),
                }
            )
    entries.sort(key=lambda entry: entry["_key"], reverse=True)
    for entry in entries:
        del entry["_key"]
    return entries[:limit]


def _customer_event(row: Any) -> tuple[str, str, str | None]:
    kind = row["kind"]
    if kind == "registered":
        return "customer registered", "", row["actor"]
    if kind == "wallet_proposed":
        return "wallet proposed", row["wallet"] or "proposal withdrawn", row["actor"]
    if kind == "wallet_accepted":
        return "wallet accepted", row["wallet"] or "", row["relayer"]
    return kind.replace("_", " "), "", row["actor"]


def _profile_version(row: Any) -> tuple[str, str, str | None]:
    return "profile sealed", f"version {row['version']}", row["actor"]


def _access_event(row: Any) -> tuple[str, str, str | None]:
    what = "access granted" if row["granted"] else "access revoked"
    return what, f"{row['staff']} for {label(Purpose, row['purpose'])}", row["actor"]


def _consent_event(row: Any) -> tuple[str, str, str | None]:
    what = "consent given" if row["granted"] else "consent withdrawn"
    return what, str(label(Purpose, row["purpose"])), row["relayer"]


def _interaction(row: Any) -> tuple[str, str, str | None]:
    return (
        f"{label(InteractionKind, row['kind'])} logged",
        f"outcome {label(Outcome, row['outcome'])}",
        row["author"],
    )


def _deal_event(row: Any, deal_money: Any) -> tuple[str, str, str | None]:
    kind, deal_id = row["kind"], row["deal_id"]
    if kind == "opened":
        return (
            "deal opened",
            f"deal {deal_id}, {deal_money(deal_id, row['value_wei'])}, owner {row['owner']}",
            row["actor"],
        )
    if kind == "currency":
        return "deal currency", f"deal {deal_id} in {row['currency']}", row["actor"]
    if kind == "reassigned":
        return "deal reassigned", f"deal {deal_id} to {row['owner']}", row["actor"]
    if kind == "lost":
        return "deal lost", f"deal {deal_id}: {label(LossReason, row['reason'])}", row["actor"]
    return "deal invoiced", f"deal {deal_id}: invoice {row['invoice_id']}", row["actor"]


def _stage_change(row: Any) -> tuple[str, str, str | None]:
    return (
        "stage changed",
        f"deal {row['deal_id']}: {label(Stage, row['from_stage'])} → {label(Stage, row['to_stage'])}",
        row["actor"],
    )


def _offer_event(row: Any) -> tuple[str, str, str | None]:
    return (
        "offer accepted",
        f"deal {row['deal_id']}: {discount_text(row['discount_bps'])} off, signed by {row['issuer']}",
        None,  # accepted from the customer's own wallet
    )


def _invoice_event(row: Any, invoice_money: Any) -> tuple[str, str, str | None]:
    invoice_id = row["invoice_id"]
    amount = f", {invoice_money(invoice_id, row['amount_wei'])}" if row["amount_wei"] is not None else ""
    if row["kind"] == "paid_off_chain":
        method = OFF_CHAIN_METHODS.get(row["method"], f"method {row['method']}")
        return "invoice paid off-chain", f"invoice {invoice_id} by {method}", row["actor"]
    return f"invoice {row['kind']}", f"invoice {invoice_id}{amount}", row["actor"] or row["payer"]


def _points_event(row: Any, invoice_money: Any) -> tuple[str, str, str | None]:
    points = amount_text(int(row["points"]), TokenInfo("points", 18))
    detail = f"invoice {row['invoice_id']}: {points}"
    if row["kind"] == "redeemed" and row["discount"] is not None:
        detail += f" for {invoice_money(row['invoice_id'], row['discount'])} off"
    return f"points {row['kind']}", detail, row["payer"]


def money(amount: int | None, currency: str | None, known: Mapping[str, TokenInfo]) -> str:
    """``1234.56 TUSD``, ``1.75 ETH``: an amount in base units of `currency` (None: ETH); a token
    missing from `known` shows its short address, in base units."""
    return amount_text(int(amount or 0), info_for(currency_key(currency), known))


def discount_text(bps: int | None) -> str:
    """Basis points as a percentage: 1000 -> ``10%``, 250 -> ``2.5%``."""
    whole, rest = divmod(int(bps or 0), 100)
    return f"{whole}.{rest:02d}".rstrip("0").rstrip(".") + "%"


# ---------------------------------------------------------------------- invoices and aging


def bucket_of(days: int) -> str:
    """The report's aging bucket for whole days past due (see chaincrm.reports.figures)."""
    for name, low, high in AGING_BUCKETS:
        if days >= low and (high is None or days <= high):
            return name
    raise AssertionError(days)


def aging(conn: Connection, now: int) -> list[dict[str, Any]]:
    """Open invoices (unpaid, not cancelled) by bucket of whole days past due at `now`, as the
    report counts them: count and amount per bucket, every bucket listed."""
    i = db.invoices
    counts = {name: 0 for name, _, _ in AGING_BUCKETS}
    amounts: dict[str, dict[str | None, int]] = {name: {} for name in counts}
    rows = conn.execute(select(i.c.due_at, i.c.amount_wei, i.c.currency).where(i.c.status == int(InvoiceStatus.OPEN)))
    for due_at, amount_wei, currency in rows:
        name = bucket_of(days_past_due(int(due_at), now))
        counts[name] += 1
        amounts[name][currency] = amounts[name].get(currency, 0) + int(amount_wei)
    return [
        {
            "bucket": name,
            "invoices": counts[name],
            "amount_wei": amounts[name].get(None, 0),  # ETH only: currencies are never summed
            "amounts": sorted(amounts[name].items(), key=lambda pair: (pair[0] is not None, pair[0] or "")),
        }
        for name in counts
    ]


def invoices(
    conn: Connection,
    now: int,
    *,
    status: InvoiceStatus | None = None,
    overdue: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Invoices, newest first, each with its days past due and aging bucket when open."""
    i = db.invoices
    query = select(
        i.c.id,
        i.c.deal_id,
        i.c.customer_id,
        i.c.payer,
        i.c.amount_wei,
        i.c.currency,
        i.c.due_at,
        i.c.status,
        i.c.issued_at,
        i.c.paid_at,
        i.c.off_chain_method,
        i.c.points_redeemed,
    ).order_by(desc(i.c.id))
    if status is not None:
        query = query.where(i.c.status == int(status))
    if overdue:
        query = query.where(i.c.status == int(InvoiceStatus.OPEN), i.c.due_at < now)
    found = []
    for row in conn.execute(_page(query, limit, offset)).mappings():
        is_open = row["status"] == int(InvoiceStatus.OPEN)
        days = days_past_due(int(row["due_at"]), now) if is_open else None
        found.append(
            {
                "id": int(row["id"]),
                "deal_id": int(row["deal_id"]),
                "customer_id": int(row["customer_id"]),
                "payer": row["payer"],
                "amount_wei": int(row["amount_wei"]),  # in `currency`'s base units
                "currency": row["currency"],
                "due_at": int(row["due_at"]),
                "status": label(InvoiceStatus, row["status"]),
                "issued_at": row["issued_at"],
                "paid_at": row["paid_at"],
                "off_chain_method": None
                if row["off_chain_method"] is None
                else OFF_CHAIN_METHODS.get(row["off_chain_method"], f"method {row['off_chain_method']}"),
                "points_redeemed": int(row["points_redeemed"] or 0),
                "days_past_due": days,
                "bucket": None if days is None else bucket_of(days),
            }
        )
    return found


__all__ = [
    "BOARD_STAGES",
    "aging",
    "board",
    "bucket_of",
    "customer",
    "customer_currencies",
    "customer_total",
    "customers",
    "deal_counts",
    "discount_text",
    "invoices",
    "money",
    "readable",
    "timeline",
]
