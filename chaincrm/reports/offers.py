"""Offers in figures: how many were sent, how many accepted, and the revenue of the deals they won.

* **Sent** is counted from the local log of offers issued (:mod:`chaincrm.offers.log`): an offer is
  an off-chain signature, so the chain does not know of one until it is accepted or cancelled.
  Offers signed elsewhere (another machine, another log) are not counted as sent.
* **Accepted** is read from the pipeline's ``OfferAccepted`` events (one per acceptance: an offer
  with several uses can be accepted several times). :func:`offer_acceptances` is the one place
  that reads them: from the event index's ``offer_events`` when an index follows this deployment,
  else from the chain's logs.
* **Revenue** is over the deals that an acceptance opened or discounted: the amounts of their
  invoices paid (in escrow, disputed or released) and released to the treasury, per currency, as
  the escrow holds them now (paid off-chain counts as paid); the discount granted is each such
  deal's value times its discount.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from chaincrm.contracts.client import Crm
from chaincrm.models import InvoiceStatus
from chaincrm.offers.log import IssuedOffer, read_issued

BPS_PER_WHOLE = 10_000
ETH = "ETH"
PAID_STATUSES = frozenset(
    {InvoiceStatus.PAID, InvoiceStatus.DISPUTED, InvoiceStatus.RELEASED, InvoiceStatus.PAID_OFF_CHAIN}
)


@dataclass(frozen=True)
class Acceptance:
    """One OfferAccepted event."""

    digest: bytes
    customer_id: int
    deal_id: int
    issuer: str
    nonce: int
    discount_bps: int
    uses: int
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class CurrencyRevenue:
    currency: str  # "ETH" or the token's address
    paid: int  # base units
    released: int
    discount_granted: int


@dataclass(frozen=True)
class OfferReport:
    sent: int  # offers in the local log for this deployment
    accepted: int  # acceptances (OfferAccepted events)
    offers_accepted: int  # distinct offers accepted at least once
    sent_and_accepted: int  # offers in the log accepted at least once
    customers: int  # distinct customers who accepted
    deals: tuple[int, ...]  # the deals the acceptances opened or discounted
    revenue: tuple[CurrencyRevenue, ...]
    end_block: int  # the acceptances are read up to it
    log: Path
    source: str = "chain"  # where the acceptances were read: "index" or "chain"

    @property
    def acceptance_rate(self) -> float | None:
        """Offers in the log accepted at least once, over offers sent."""
        return self.sent_and_accepted / self.sent if self.sent else None

    def as_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "accepted": self.accepted,
            "offers_accepted": self.offers_accepted,
            "sent_and_accepted": self.sent_and_accepted,
            "acceptance_rate": self.acceptance_rate,
            "customers": self.customers,
            "deals": list(self.deals),
            "revenue": [
                {
                    "currency": r.currency,
                    "paid": str(r.paid),
                    "released": str(r.released),
                    "discount_granted": str(r.discount_granted),
                }
                for r in self.revenue
            ],
            "end_block": self.end_block,
            "source": self.source,
            "sent_from": str(self.log),
        }


def offer_acceptances(
    crm: Crm, *, database: str | Path | None = None, home: Path | None = None, from_chain: bool = False
) -> tuple[list[Acceptance], str, int]:
    """Every OfferAccepted of the pipeline in chain order, where it was read ("index" or "chain")
    and up to which block: the index's ``offer_events`` when an index of this deployment is there
    (`home` given, not `from_chain`), else the chain's logs. The one place these events are read."""
    if not from_chain and home is not None:
        found = _acceptances_from_index(crm, database, home)
        if found is not None:
            return found[0], "index", found[1]
    end = crm.chain.block_number("latest")
    logs = crm.chain.logs.events(
        crm.pipeline.contract.events.OfferAccepted, from_block=crm.deployment.block_number, to_block=end
    )
    acceptances = [
        Acceptance(
            digest=bytes(log["args"]["digest"]),
            customer_id=int(log["args"]["customerId"]),
            deal_id=int(log["args"]["dealId"]),
            issuer=to_checksum_address(log["args"]["issuer"]),
            nonce=int(log["args"]["nonce"]),
            discount_bps=int(log["args"]["discountBps"]),
            uses=int(log["args"]["uses"]),
            block_number=int(log["blockNumber"]),
            tx_hash=log["transactionHash"].to_0x_hex(),
        )
        for log in logs
    ]
    return acceptances, "chain", end


def _acceptances_from_index(crm: Crm, database: str | Path | None, home: Path) -> tuple[list[Acceptance], int] | None:
    from sqlalchemy import select

    from chaincrm.index import schema as ix
    from chaincrm.index.reads import _index_snapshot

    with _index_snapshot(crm, crm.deployment.block_number, database, home) as snapshot:
        if snapshot is None:
            return None
        connection, last_block = snapshot
        oe = ix.offer_events.c
        rows = connection.execute(
            select(oe.digest, oe.customer_id, oe.deal_id, oe.issuer, oe.nonce, oe.discount_bps, oe.uses)
            .add_columns(oe.block_number, oe.tx_hash)
            .where(oe.kind == "accepted")
            .order_by(oe.block_number, oe.log_index)
        )
        return [
            Acceptance(
                digest=bytes.fromhex(str(r.digest)[2:]),
                customer_id=int(r.customer_id),
                deal_id=int(r.deal_id),
                issuer=to_checksum_address(r.issuer),
                nonce=int(r.nonce),
                discount_bps=int(r.discount_bps),
                uses=int(r.uses),
                block_number=int(r.block_number),
                tx_hash=str(r.tx_hash),
            )
            for r in rows
        ], last_block


def offer_report(
    crm: Crm, log: Path, *, database: str | Path | None = None, home: Path | None = None, from_chain: bool = False
) -> OfferReport:
    """The figures; acceptances from the index when there is one of this deployment (see
    :func:`offer_acceptances`), the deals' invoices as the escrow holds them now."""
    issued: list[IssuedOffer] = read_issued(log, chain_id=crm.deployment.chain_id, pipeline=crm.pipeline.address)
    accepted, source, end = offer_acceptances(crm, database=database, home=home, from_chain=from_chain)
    digests = {a.digest for a in accepted}
    deals = sorted({a.deal_id for a in accepted})
    discount_of = {a.deal_id: a.discount_bps for a in accepted}
    paid: dict[str, int] = defaultdict(int)
    released: dict[str, int] = defaultdict(int)
    granted: dict[str, int] = defaultdict(int)
    for deal_id in deals:
        deal = crm.pipeline.deal(deal_id)
        deal_currency = _currency(deal.currency)
        granted[deal_currency] += deal.value_wei * discount_of[deal_id] // BPS_PER_WHOLE
        for invoice_id in crm.pipeline.invoices_of(deal_id):
            invoice = crm.escrow.invoice(invoice_id)
            currency = _currency(invoice.currency)
            if invoice.status in PAID_STATUSES:
                paid[currency] += invoice.amount_wei
            if invoice.status is InvoiceStatus.RELEASED:
                released[currency] += invoice.amount_wei
    currencies = sorted({*paid, *released, *granted}, key=lambda c: (c != ETH, c))
    return OfferReport(
        sent=len(issued),
        accepted=len(accepted),
        offers_accepted=len(digests),
        sent_and_accepted=sum(1 for entry in issued if entry.digest in digests),
        customers=len({a.customer_id for a in accepted}),
        deals=tuple(deals),
        revenue=tuple(CurrencyRevenue(c, paid[c], released[c], granted[c]) for c in currencies),
        end_block=end,
        log=log,
        source=source,
    )


def _currency(address: str | None) -> str:
    return ETH if address is None else to_checksum_address(address)


__all__ = ["Acceptance", "CurrencyRevenue", "OfferReport", "offer_acceptances", "offer_report"]
