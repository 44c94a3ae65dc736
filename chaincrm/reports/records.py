"""The records the KPIs read: one small frozen record per contract event that matters, and the
:class:`History` that holds them up to one block. Both sources (:mod:`chaincrm.reports.history`:
the index or the chain) produce the same records, so the KPIs cannot tell them apart.

Amounts are in the base units of their currency, named by :func:`~chaincrm.currency.currency_key`
(``"ETH"`` or the token's checksummed address); they are never added across currencies."""

from __future__ import annotations

from dataclasses import dataclass, replace

from chaincrm.currency import ETH
from chaincrm.models import InvoiceStatus, Stage


@dataclass(frozen=True)
class DealRecord:
    """A deal as opened (DealOpened, with the DealCurrency that follows it for an ERC-20)."""

    deal_id: int
    customer_id: int
    owner: str
    value_wei: int  # in `currency`'s base units
    at: int
    currency: str = ETH


@dataclass(frozen=True)
class StageRecord:
    """One DealStageChanged; the opening (None -> Lead) included."""

    deal_id: int
    from_stage: Stage
    to_stage: Stage
    actor: str
    at: int
    block_number: int
    log_index: int


@dataclass(frozen=True)
class ReassignRecord:
    """One DealReassigned, timed by its block."""

    deal_id: int
    new_owner: str
    at: int
    block_number: int
    log_index: int


@dataclass(frozen=True)
class InteractionRecord:
    """One interaction: a single InteractionLogged or one record of an InteractionsLogged batch."""

    author: str
    customer_id: int
    at: int


@dataclass(frozen=True)
class InvoiceRecord:
    """An invoice as issued (InvoiceIssued), timed by its block."""

    invoice_id: int
    deal_id: int
    customer_id: int
    amount_wei: int  # in `currency`'s base units, as issued
    due_at: int
    at: int
    currency: str = ETH


@dataclass(frozen=True)
class InvoiceEventRecord:
    """What happened to an invoice after issue: the status it moved to, the amount the event
    carries (0 for disputes, cancellations and off-chain payments), and its time (the event's own,
    else its block's)."""

    invoice_id: int
    status: InvoiceStatus
    amount_wei: int
    at: int


@dataclass(frozen=True)
class RefundWithdrawalRecord:
    """One RefundWithdrawn (or TokenRefundWithdrawn): a payer took out every refund credited to them
    in one currency, timed by its block."""

    payer: str
    amount_wei: int
    at: int
    currency: str = ETH


@dataclass(frozen=True)
class PointsRecord:
    """One PointsRedeemed, PointsAwarded or PointsRestored (`kind` "redeemed", "awarded", "restored"),
    timed by its block: points in point base units, the redemption's discount in the invoice's currency."""

    invoice_id: int
    kind: str
    points: int
    discount: int
    at: int


@dataclass(frozen=True)
class OfferRecord:
    """One OfferAccepted: the deal it opened or discounted, timed by its block."""

    deal_id: int
    customer_id: int
    discount_bps: int
    at: int


@dataclass(frozen=True)
class History:
    """Everything the reports read, up to block `end_block` whose timestamp is `end_at`."""

    deals: tuple[DealRecord, ...]
    stage_changes: tuple[StageRecord, ...]
    reassignments: tuple[ReassignRecord, ...]
    interactions: tuple[InteractionRecord, ...]
    invoices: tuple[InvoiceRecord, ...]
    invoice_events: tuple[InvoiceEventRecord, ...]
    end_block: int
    end_at: int
    refund_withdrawals: tuple[RefundWithdrawalRecord, ...] = ()
    points: tuple[PointsRecord, ...] = ()
    offers: tuple[OfferRecord, ...] = ()

    def cut(self, until: int) -> History:
        """The history as it stood at time `until` (events after it dropped)."""
        return replace(
            self,
            deals=tuple(r for r in self.deals if r.at <= until),
            stage_changes=tuple(r for r in self.stage_changes if r.at <= until),
            reassignments=tuple(r for r in self.reassignments if r.at <= until),
            interactions=tuple(r for r in self.interactions if r.at <= until),
            invoices=tuple(r for r in self.invoices if r.at <= until),
            invoice_events=tuple(r for r in self.invoice_events if r.at <= until),
            refund_withdrawals=tuple(r for r in self.refund_withdrawals if r.at <= until),
            points=tuple(r for r in self.points if r.at <= until),
            offers=tuple(r for r in self.offers if r.at <= until),
        )

    def currencies(self) -> tuple[str, ...]:
        """Every currency a deal or invoice is in: ETH first, then tokens by address."""
        found = {r.currency for r in self.deals} | {r.currency for r in self.invoices} | {ETH}
        return tuple(sorted(found, key=lambda c: (c != ETH, c)))


__all__ = [
    "DealRecord",
    "History",
    "InteractionRecord",
    "InvoiceEventRecord",
    "InvoiceRecord",
    "OfferRecord",
    "PointsRecord",
    "ReassignRecord",
    "RefundWithdrawalRecord",
    "StageRecord",
]
