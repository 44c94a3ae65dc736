"""A report as JSON (`chaincrm report --json`, the API's KPI answer): wei and base units as decimal
strings, times as Unix seconds. The keys from before ERC-20 invoices keep their meaning in ETH
(``revenue_by_month``, ``refunds_owed_wei``, ``revenue_won_wei``, ``amount_wei`` of aging); every
currency is in ``revenue_by_currency``, ``refunds_owed``, ``revenue_won``, ``amounts``, with
``currencies`` giving each one's symbol and decimals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chaincrm.currency import ETH, info_for
from chaincrm.models import Stage
from chaincrm.reports.currencies import Amounts
from chaincrm.reports.figures import Report, report_currencies
from chaincrm.reports.reconcile import Check


def stage_name(stage: Stage) -> str:
    return stage.label


def report_json(report: Report) -> dict[str, Any]:
    """The report with stable keys: wei as decimal strings, times as Unix seconds."""
    flt = report.report_filter
    return {
        "as_of": report.as_of,
        "block_number": report.end_block,
        "since": flt.since,
        "until": flt.until,
        "agents": sorted(flt.agents) if flt.agents is not None else None,
        "deals_opened": report.deals,
        "won": report.won,
        "lost": report.lost,
        "win_rate": report.win_rate,
        "funnel": [
            {"stage": stage_name(s.stage), "deals": s.deals, "of_previous": s.of_previous, "of_first": s.of_first}
            for s in report.funnel
        ],
        "time_in_stage": [
            {
                "stage": stage_name(t.stage),
                "deals": t.deals,
                "median_seconds": t.median_seconds,
                "p90_seconds": t.p90_seconds,
            }
            for t in report.stage_times
        ],
        "staff": [
            {
                "agent": r.agent,
                "interactions": r.interactions,
                "stage_moves": r.stage_moves,
                "deals_moved": r.deals_moved,
                "deals_won": r.deals_won,
                "revenue_won_wei": str(r.revenue_won_wei),
                "revenue_won": _amounts_json(r.revenue_won),
            }
            for r in report.staff
        ],
        "aging": [
            {
                "bucket": b.label,
                "invoices": b.invoices,
                "amount_wei": str(b.amount_wei),
                "amounts": _amounts_json(b.amounts),
            }
            for b in report.aging
        ],
        "overdue": [
            {
                "invoice_id": o.invoice_id,
                "deal_id": o.deal_id,
                "customer_id": o.customer_id,
                "owner": o.owner,
                "amount_wei": str(o.amount_wei),
                "currency": o.currency,
                "due_at": o.due_at,
                "days_past_due": o.days_past_due,
            }
            for o in report.overdue
        ],
        "revenue_by_month": [
            {
                "month": m.month,
                "paid_wei": str(m.paid_wei),
                "released_wei": str(m.released_wei),
                "refunded_wei": str(m.refunded_wei),
            }
            for m in report.revenue
            if m.currency == ETH
        ],
        "refunds_owed_wei": None if report.refunds_owed_wei is None else str(report.refunds_owed_wei),
        "currencies": {
            key: {"symbol": info.symbol, "decimals": info.decimals}
            for key, info in ((c, info_for(c, {t.key: t for t in report.tokens})) for c in _currencies(report))
        },
        "revenue_by_currency": [
            {
                "month": m.month,
                "currency": m.currency,
                "paid": str(m.paid_wei),
                "paid_off_chain": str(m.paid_off_chain),
                "released": str(m.released_wei),
                "refunded": str(m.refunded_wei),
            }
            for m in report.revenue
        ],
        "refunds_owed": None if report.refunds_owed is None else _amounts_json(report.refunds_owed),
        "loyalty": {
            "points_minted": str(report.loyalty.minted),
            "points_redeemed": str(report.loyalty.redeemed),
            "points_restored": str(report.loyalty.restored),
            "points_outstanding": None if report.loyalty.outstanding is None else str(report.loyalty.outstanding),
            "discounts": _amounts_json(report.loyalty.discounts),
        },
        "offers": {
            "accepted": report.offers.accepted,
            "deals": report.offers.deals,
            "revenue": [
                {
                    "currency": r.currency,
                    "paid": str(r.paid),
                    "paid_off_chain": str(r.paid_off_chain),
                    "released": str(r.released),
                    "discount_granted": str(r.discount_granted),
                }
                for r in report.offers.revenue
            ],
        },
    }


def _amounts_json(amounts: Amounts) -> list[dict[str, str]]:
    return [{"currency": currency, "amount": str(amount)} for currency, amount in amounts]


def _currencies(report: Report) -> tuple[str, ...]:
    return report_currencies(report)


def checks_json(checks: Sequence[Check]) -> list[dict[str, Any]]:
    return [{"kpi": c.kpi, "index": c.index_value, "chain": c.chain_value, "match": c.matches} for c in checks]


__all__ = ["checks_json", "report_json"]
