"""The KPIs in money and points, per currency, from a :class:`~chaincrm.reports.records.History` alone.

Definitions (on top of :mod:`chaincrm.reports.figures`'):

* **Currencies.** ETH and each ERC-20 an invoice or deal is in are kept apart: every amount is in its
  own currency's base units (wei, or the token's smallest unit), named ``"ETH"`` or by the token's
  address. Nothing is summed across currencies; a token's symbol is for display only.
* **Revenue by month and currency** (activity, in the window): paid into escrow on the chain (the
  ``InvoicePaid`` amount, after any points discount), paid off-chain (a manager's
  ``InvoicePaidOffChain``: the invoice's amount as issued, at the time the event records),
  released to the treasury and refunded (credited to the payer).
* **Refunds owed** (snapshot, whole escrow, no agent filter): per currency, refunds credited minus
  refunds withdrawn (``RefundWithdrawn`` for ETH, ``TokenRefundWithdrawn`` per token).
* **Loyalty points** (point base units): minted at release (``PointsAwarded``), redeemed (burned for
  a discount, ``PointsRedeemed``) and restored (minted back at a refund, ``PointsRestored``), in the
  window, on the invoices the report keeps; the discount the redemptions bought, per currency.
  Outstanding: minted + restored - redeemed over the whole history up to the report's end (points
  move only by the escrow's mint and burn, so this is their total supply); only without an agent
  filter.
* **Offers** (``OfferAccepted``): acceptances in the window on the deals the report keeps; deals
  with an accepted offer (by the report's end); the revenue of those deals' invoices in the window
  (paid on-chain, paid off-chain, released) per currency; and the discount granted, each accepted
  deal's value x its discount (basis points) / 10,000, counted when accepted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from chaincrm.currency import ETH
from chaincrm.models import InvoiceStatus
from chaincrm.reports.filters import ReportFilter
from chaincrm.reports.records import History, InvoiceRecord

BPS_PER_WHOLE = 10_000
Amounts = tuple[tuple[str, int], ...]  # (currency, amount) pairs, ETH first then tokens by address


def ordered(amounts: Mapping[str, int]) -> Amounts:
    """`amounts` as pairs: ETH first, then tokens by address."""
    return tuple(sorted(amounts.items(), key=lambda pair: (pair[0] != ETH, pair[0])))


def unit(currency: str) -> str:
    """How a figure's name ends for an amount in `currency`: ``wei`` for ETH, else the token's address."""
    return "wei" if currency == ETH else currency


@dataclass(frozen=True)
class MonthRevenue:
    """One month's revenue in one currency (base units)."""

    month: str
    paid_wei: int  # paid into escrow on the chain; "wei" for ETH, the token's base units otherwise
    released_wei: int
    refunded_wei: int
    currency: str = ETH
    paid_off_chain: int = 0


@dataclass(frozen=True)
class LoyaltyFigures:
    minted: int  # point base units (18 decimals)
    redeemed: int
    restored: int
    outstanding: int | None  # None with an agent filter
    discounts: Amounts  # what the redeemed points took off invoices, per currency


@dataclass(frozen=True)
class OfferRevenue:
    currency: str
    paid: int
    paid_off_chain: int
    released: int
    discount_granted: int


@dataclass(frozen=True)
class OfferFigures:
    accepted: int  # acceptances in the window
    deals: int  # kept deals with an accepted offer by the report's end
    revenue: tuple[OfferRevenue, ...]


def month_of(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m")


def invoices_by_id(history: History) -> dict[int, InvoiceRecord]:
    return {invoice.invoice_id: invoice for invoice in history.invoices}


def revenue_of(history: History, flt: ReportFilter, kept_invoices: set[int]) -> tuple[MonthRevenue, ...]:
    """Revenue per month and currency (see the module docstring)."""
    invoices = invoices_by_id(history)
    sums: dict[tuple[str, str], dict[InvoiceStatus, int]] = defaultdict(lambda: defaultdict(int))
    for event in history.invoice_events:
        invoice = invoices.get(event.invoice_id)
        if invoice is None or event.invoice_id not in kept_invoices or not flt.in_window(event.at):
            continue
        if event.status is InvoiceStatus.PAID_OFF_CHAIN:
            sums[(month_of(event.at), invoice.currency)][event.status] += invoice.amount_wei
        elif event.status in (InvoiceStatus.PAID, InvoiceStatus.RELEASED, InvoiceStatus.REFUNDED):
            sums[(month_of(event.at), invoice.currency)][event.status] += event.amount_wei
    return tuple(
        MonthRevenue(
            month,
            sums[(month, currency)][InvoiceStatus.PAID],
            sums[(month, currency)][InvoiceStatus.RELEASED],
            sums[(month, currency)][InvoiceStatus.REFUNDED],
            currency,
            sums[(month, currency)][InvoiceStatus.PAID_OFF_CHAIN],
        )
        for month, currency in sorted(sums, key=lambda key: (key[0], key[1] != ETH, key[1]))
    )


def refunds_owed_of(history: History) -> Amounts:
    """Per currency: refunds credited to payers and not withdrawn yet, over the whole escrow."""
    invoices = invoices_by_id(history)
    owed: dict[str, int] = defaultdict(int)
    owed[ETH] = 0
    for event in history.invoice_events:
        invoice = invoices.get(event.invoice_id)
        if event.status is InvoiceStatus.REFUNDED:
            owed[invoice.currency if invoice is not None else ETH] += event.amount_wei
    for withdrawal in history.refund_withdrawals:
        owed[withdrawal.currency] -= withdrawal.amount_wei
    return ordered(owed)


def loyalty_of(history: History, flt: ReportFilter, kept_invoices: set[int]) -> LoyaltyFigures:
    invoices = invoices_by_id(history)
    sums: dict[str, int] = defaultdict(int)
    discounts: dict[str, int] = defaultdict(int)
    for record in history.points:
        if record.invoice_id not in kept_invoices or not flt.in_window(record.at):
            continue
        sums[record.kind] += record.points
        if record.kind == "redeemed":
            invoice = invoices.get(record.invoice_id)
            discounts[invoice.currency if invoice is not None else ETH] += record.discount
    outstanding = None
    if flt.agents is None:
        signs = {"awarded": 1, "restored": 1, "redeemed": -1}
        outstanding = sum(signs.get(r.kind, 0) * r.points for r in history.points)
    return LoyaltyFigures(sums["awarded"], sums["redeemed"], sums["restored"], outstanding, ordered(discounts))


def offers_of(history: History, flt: ReportFilter, kept_deals: set[int]) -> OfferFigures:
    deals = {deal.deal_id: deal for deal in history.deals}
    accepted = [offer for offer in history.offers if offer.deal_id in kept_deals]
    offered = {offer.deal_id for offer in accepted}
    granted: dict[str, int] = defaultdict(int)
    for offer in accepted:
        deal = deals.get(offer.deal_id)
        if deal is not None and flt.in_window(offer.at):
            granted[deal.currency] += deal.value_wei * offer.discount_bps // BPS_PER_WHOLE
    invoices = invoices_by_id(history)
    sums: dict[str, dict[InvoiceStatus, int]] = defaultdict(lambda: defaultdict(int))
    for event in history.invoice_events:
        invoice = invoices.get(event.invoice_id)
        if invoice is None or invoice.deal_id not in offered or not flt.in_window(event.at):
            continue
        if event.status is InvoiceStatus.PAID_OFF_CHAIN:
            sums[invoice.currency][event.status] += invoice.amount_wei
        elif event.status in (InvoiceStatus.PAID, InvoiceStatus.RELEASED):
            sums[invoice.currency][event.status] += event.amount_wei
    currencies = sorted({*sums, *granted}, key=lambda c: (c != ETH, c))
    revenue = tuple(
        OfferRevenue(
            c,
            sums[c][InvoiceStatus.PAID],
            sums[c][InvoiceStatus.PAID_OFF_CHAIN],
            sums[c][InvoiceStatus.RELEASED],
            granted[c],
        )
        for c in currencies
    )
    return OfferFigures(sum(1 for offer in accepted if flt.in_window(offer.at)), len(offered), revenue)


def money_figures(
    revenue: Iterable[MonthRevenue],
    refunds_owed: Amounts | None,
    loyalty: LoyaltyFigures,
    offers: OfferFigures,
) -> dict[str, str]:
    """The figures of this module by stable name, as text (what `verify` compares)."""
    out: dict[str, str] = {}
    for month in revenue:
        u = unit(month.currency)
        out[f"revenue {month.month}: paid {u}"] = str(month.paid_wei)
        out[f"revenue {month.month}: paid off-chain {u}"] = str(month.paid_off_chain)
        out[f"revenue {month.month}: released {u}"] = str(month.released_wei)
        out[f"revenue {month.month}: refunded {u}"] = str(month.refunded_wei)
    if refunds_owed is None:
        out["refunds owed wei"] = "-"
    else:
        for currency, amount in refunds_owed:
            out[f"refunds owed {unit(currency)}"] = str(amount)
    out["points minted"] = str(loyalty.minted)
    out["points redeemed"] = str(loyalty.redeemed)
    out["points restored"] = str(loyalty.restored)
    out["points outstanding"] = "-" if loyalty.outstanding is None else str(loyalty.outstanding)
    for currency, amount in loyalty.discounts:
        out[f"points discount {unit(currency)}"] = str(amount)
    out["offers accepted"] = str(offers.accepted)
    out["deals with an accepted offer"] = str(offers.deals)
    for row in offers.revenue:
        u = unit(row.currency)
        out[f"offer deals revenue: paid {u}"] = str(row.paid)
        out[f"offer deals revenue: paid off-chain {u}"] = str(row.paid_off_chain)
        out[f"offer deals revenue: released {u}"] = str(row.released)
        out[f"offer discount granted {u}"] = str(row.discount_granted)
    return out


__all__ = [
    "BPS_PER_WHOLE",
    "Amounts",
    "LoyaltyFigures",
    "MonthRevenue",
    "OfferFigures",
    "OfferRevenue",
    "loyalty_of",
    "money_figures",
    "month_of",
    "offers_of",
    "ordered",
    "refunds_owed_of",
    "revenue_of",
    "unit",
]
