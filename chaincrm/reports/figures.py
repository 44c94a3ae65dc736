"""Computing the KPIs of one report from a :class:`~chaincrm.reports.records.History` alone:
never a database or a node, so a report from the index and one from the chain are computed by the
same code (see :mod:`chaincrm.reports.reconcile`).

KPI definitions (times are chain time, Unix seconds, UTC):

* **Window.** ``since``/``until`` are inclusive. The history is first cut at ``until``: events after
  it do not exist for the report. The report's end, ``as_of``, is ``until`` or, without it (or if it
  lies beyond the data), the timestamp of the last block the source covers: never the wall clock,
  so the index and the chain agree at the same block.
* **Cohort KPIs** (funnel, win rate, time in stage) are over the deals *opened* in the window.
  - Funnel: how many cohort deals reached each stage Lead ... Contracting, Won. Moves are one step
    at a time, so reaching a stage means having passed every earlier one; a deal moved back still
    counts for the furthest stage it reached. Lost deals are counted apart.
  - Win rate: won / (won + lost) among cohort deals closed by ``as_of``; none when nothing closed.
  - Time in stage: per deal, the total seconds spent in each open stage (visits summed when a deal
    moved back), from its stage-change timestamps. A deal still in a stage counts up to ``as_of``
    (so open deals pull the figures up as they age, rather than being left out). Median and 90th
    percentile over the deals that entered the stage, by linear interpolation between ranks
    (numpy's default): the median of 2 values is their mean.
* **Activity KPIs** (staff, revenue) count events whose time falls in the window.
  - Staff, per address: interactions authored (a batch counts each of its records), stage moves
    made (any change but the opening, Lost included), distinct deals moved, deals won and their
    value per currency (a win goes to the deal's owner when it was won, not to whoever clicked).
  - Revenue by month (UTC, ``YYYY-MM``): invoice amounts paid into escrow (by payment time),
    released to the treasury and refunded (by block time of the release or refund). A refund (a
    manager's, or the payer reclaiming an unresolved dispute) is a credit to the payer, counted
    when credited; the payer withdraws it later (``RefundWithdrawn``), which is no revenue event.
* **Money** is per currency, never summed across currencies: see :mod:`chaincrm.reports.currencies`
  for revenue (on-chain and off-chain apart), refunds owed, loyalty points and offers.
* **Snapshot KPIs** (aging, overdue, refunds owed) are as of ``as_of``. Aging and overdue: invoices
  issued by then and still open (neither paid, on or off the chain, nor cancelled); aging amounts
  per currency. A won deal may have several invoices
  (a manager cancels an unpaid one and re-issues it): the cancelled one leaves the receivables, the
  new one enters them, so a deal is never counted twice. Days past due are whole days rounded up,
  so an invoice is past due exactly when the contract's ``isOverdue`` says so: current (not yet
  due), 1-30, 31-60, 61-90, 90+. Refunds owed: refunds credited minus refunds withdrawn, over the
  whole escrow (a withdrawal is per payer, not per invoice), so only in a report without an agent
  filter.
* **Agents and branches.** A filter on agents keeps their interactions and staff rows, and the
  deals (with their invoices) whose owner as of ``as_of`` is one of them; a deal's owner changes
  only through ``DealReassigned`` while it is open. A branch (on chain, the BranchDirectory)
  stands for the agents who were its staff at some moment of the window
  (:func:`chaincrm.reports.filters.agents_for`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from chaincrm.currency import ETH, TokenInfo
from chaincrm.models import OPEN_STAGES, InvoiceStatus, Stage
from chaincrm.reports import currencies
from chaincrm.reports.currencies import (
    Amounts,
    LoyaltyFigures,
    MonthRevenue,
    OfferFigures,
    loyalty_of,
    money_figures,
    month_of,
    offers_of,
    ordered,
    revenue_of,
    unit,
)
from chaincrm.reports.filters import ReportFilter
from chaincrm.reports.records import History, InvoiceRecord, StageRecord

SECONDS_PER_DAY = 86_400
FUNNEL_STAGES = (*OPEN_STAGES, Stage.WON)
UNKNOWN_OWNER = "unknown"  # an invoice whose deal has no opening: only a damaged index has one


# ------------------------------------------------------------------ KPI results


@dataclass(frozen=True)
class FunnelStep:
    stage: Stage
    deals: int
    of_previous: float | None  # share of the previous step's deals that got here
    of_first: float | None


@dataclass(frozen=True)
class StageTime:
    stage: Stage
    deals: int  # deals that entered the stage
    median_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True)
class StaffRow:
    agent: str
    interactions: int
    stage_moves: int
    deals_moved: int
    deals_won: int
    revenue_won_wei: int  # ETH deals only
    revenue_won: Amounts = ()  # per currency, ETH included


@dataclass(frozen=True)
class AgingBucket:
    label: str
    invoices: int
    amount_wei: int  # ETH invoices only
    amounts: Amounts = ()  # per currency, ETH included


@dataclass(frozen=True)
class OverdueInvoice:
    invoice_id: int
    deal_id: int
    customer_id: int
    owner: str
    amount_wei: int
    due_at: int
    days_past_due: int
    currency: str = ETH  # `amount_wei` is in its base units


@dataclass(frozen=True)
class Report:
    report_filter: ReportFilter
    as_of: int
    end_block: int
    deals: int  # the cohort: deals opened in the window
    funnel: tuple[FunnelStep, ...]
    won: int
    lost: int
    stage_times: tuple[StageTime, ...]
    staff: tuple[StaffRow, ...]
    aging: tuple[AgingBucket, ...]
    overdue: tuple[OverdueInvoice, ...]
    revenue: tuple[MonthRevenue, ...]  # per month and currency
    refunds_owed_wei: int | None = None  # ETH; None with an agent filter: withdrawals are per payer
    refunds_owed: Amounts | None = None  # per currency; None with an agent filter
    loyalty: LoyaltyFigures = LoyaltyFigures(0, 0, 0, None, ())
    offers: OfferFigures = OfferFigures(0, 0, ())
    tokens: tuple[TokenInfo, ...] = ()  # how each token is displayed (symbol, decimals): see `with_tokens`

    @property
    def closed(self) -> int:
        return self.won + self.lost

    @property
    def win_rate(self) -> float | None:
        return self.won / self.closed if self.closed else None

    def figures(self) -> dict[str, str]:
        """Every figure by a stable name, as text: what `verify` compares."""
        out: dict[str, str] = {
            "deals opened": str(self.deals),
            "deals won": str(self.won),
            "deals lost": str(self.lost),
            "win rate": _ratio(self.win_rate),
        }
        for step in self.funnel:
            out[f"funnel {step.stage.label}"] = str(step.deals)
        for time in self.stage_times:
            name = time.stage.label
            out[f"time in {name}: deals"] = str(time.deals)
            out[f"time in {name}: median s"] = _number(time.median_seconds)
            out[f"time in {name}: p90 s"] = _number(time.p90_seconds)
        for row in self.staff:
            out[f"staff {row.agent}: interactions"] = str(row.interactions)
            out[f"staff {row.agent}: stage moves"] = str(row.stage_moves)
            out[f"staff {row.agent}: deals moved"] = str(row.deals_moved)
            out[f"staff {row.agent}: deals won"] = str(row.deals_won)
            out[f"staff {row.agent}: revenue won wei"] = str(row.revenue_won_wei)
            for currency, amount in row.revenue_won:
                if currency != ETH:
                    out[f"staff {row.agent}: revenue won {unit(currency)}"] = str(amount)
        for bucket in self.aging:
            out[f"aging {bucket.label}: invoices"] = str(bucket.invoices)
            out[f"aging {bucket.label}: wei"] = str(bucket.amount_wei)
            for currency, amount in bucket.amounts:
                if currency != ETH:
                    out[f"aging {bucket.label}: {unit(currency)}"] = str(amount)
        out["overdue invoices"] = ",".join(str(item.invoice_id) for item in self.overdue) or "-"
        out |= money_figures(self.revenue, self.refunds_owed, self.loyalty, self.offers)
        return out


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.6f}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


# ------------------------------------------------------------------ computing


AGING_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("current", 0, 0),
    ("1-30", 1, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("90+", 91, None),
)


def compute(history: History, report_filter: ReportFilter | None = None) -> Report:
    """Every KPI of one report, from records alone."""
    flt = report_filter or ReportFilter()
    as_of = history.end_at if flt.until is None else min(flt.until, history.end_at)
    seen = history.cut(as_of)
    owners = deal_owners(seen)
    kept_deals = {deal.deal_id for deal in seen.deals if flt.keeps(owners[deal.deal_id])}
    cohort = {deal.deal_id for deal in seen.deals if deal.deal_id in kept_deals and flt.in_window(deal.at)}
    paths = _paths(seen.stage_changes)

    funnel = funnel_of(cohort, paths)
    won = sum(1 for deal_id in cohort if _final(paths.get(deal_id, ())) is Stage.WON)
    lost = sum(1 for deal_id in cohort if _final(paths.get(deal_id, ())) is Stage.LOST)
    invoice_deal = {invoice.invoice_id: invoice.deal_id for invoice in seen.invoices}
    kept_invoices = {i for i, d in invoice_deal.items() if d in kept_deals}
    owed = currencies.refunds_owed_of(seen) if flt.agents is None else None
    return Report(
        report_filter=flt,
        as_of=as_of,
        end_block=history.end_block,
        deals=len(cohort),
        funnel=funnel,
        won=won,
        lost=lost,
        stage_times=stage_times_of(cohort, paths, as_of),
        staff=staff_of(seen, flt, owners),
        aging=aging_of(seen, kept_deals, as_of),
        overdue=overdue_of(seen, kept_deals, owners, as_of),
        revenue=revenue_of(seen, flt, kept_invoices),
        refunds_owed_wei=None if owed is None else dict(owed)[ETH],
        refunds_owed=owed,
        loyalty=loyalty_of(seen, flt, kept_invoices),
        offers=offers_of(seen, flt, kept_deals),
    )


def deal_owners(history: History) -> dict[int, str]:
    """Each deal's owner at the end of `history` (after its reassignments)."""
    owners = {deal.deal_id: deal.owner for deal in history.deals}
    for move in sorted(history.reassignments, key=lambda r: (r.at, r.block_number, r.log_index)):
        owners[move.deal_id] = move.new_owner
    return owners


def _paths(changes: Iterable[StageRecord]) -> dict[int, list[StageRecord]]:
    paths: dict[int, list[StageRecord]] = defaultdict(list)
    for change in sorted(changes, key=lambda c: (c.at, c.block_number, c.log_index)):
        paths[change.deal_id].append(change)
    return paths


def _final(path: Sequence[StageRecord]) -> Stage | None:
    return path[-1].to_stage if path else None


def funnel_of(cohort: Iterable[int], paths: Mapping[int, Sequence[StageRecord]]) -> tuple[FunnelStep, ...]:
    reached: dict[Stage, int] = dict.fromkeys(FUNNEL_STAGES, 0)
    for deal_id in cohort:
        entered = {change.to_stage for change in paths.get(deal_id, ())}
        for stage in FUNNEL_STAGES:
            if stage in entered:
                reached[stage] += 1
    steps: list[FunnelStep] = []
    first = reached[FUNNEL_STAGES[0]]
    previous: int | None = None
    for stage in FUNNEL_STAGES:
        count = reached[stage]
        steps.append(
            FunnelStep(
                stage=stage,
                deals=count,
                of_previous=None if previous is None else (count / previous if previous else None),
                of_first=count / first if first else None,
            )
        )
        previous = count
    return tuple(steps)


def time_in_stages(path: Sequence[StageRecord], as_of: int) -> dict[Stage, int]:
    """Seconds one deal spent in each open stage it entered; the current stage counts up to `as_of`."""
    spent: dict[Stage, int] = {}
    for change, following in zip(path, [*path[1:], None], strict=True):
        if change.to_stage not in OPEN_STAGES:
            continue
        left_at = following.at if following is not None else as_of
        spent[change.to_stage] = spent.get(change.to_stage, 0) + max(0, left_at - change.at)
    return spent


def stage_times_of(
    cohort: Iterable[int], paths: Mapping[int, Sequence[StageRecord]], as_of: int
) -> tuple[StageTime, ...]:
    durations: dict[Stage, list[int]] = {stage: [] for stage in OPEN_STAGES}
    for deal_id in cohort:
        for stage, seconds in time_in_stages(paths.get(deal_id, ()), as_of).items():
            durations[stage].append(seconds)
    return tuple(
        StageTime(stage, len(values), percentile(values, 0.5), percentile(values, 0.9))
        for stage, values in durations.items()
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile by linear interpolation between closest ranks (numpy's default); None if empty."""
    if not values:
        return None
    import numpy  # only reports need it: kept off the CLI's start-up

    return float(numpy.quantile(values, q))


def staff_of(history: History, flt: ReportFilter, owners: Mapping[int, str]) -> tuple[StaffRow, ...]:
    interactions: dict[str, int] = defaultdict(int)
    moves: dict[str, int] = defaultdict(int)
    moved: dict[str, set[int]] = defaultdict(set)
    won: dict[str, int] = defaultdict(int)
    revenue: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    values = {deal.deal_id: (deal.currency, deal.value_wei) for deal in history.deals}
    for interaction in history.interactions:
        if flt.in_window(interaction.at):
            interactions[interaction.author] += 1
    for change in history.stage_changes:
        if not flt.in_window(change.at) or change.from_stage is Stage.NONE:
            continue
        moves[change.actor] += 1
        moved[change.actor].add(change.deal_id)
        owner = owners.get(change.deal_id)  # None only in a damaged index: no opening for the deal
        if change.to_stage is Stage.WON and owner is not None:
            # Reassignment needs an open deal, so the owner at the end is the owner at the win.
            won[owner] += 1
            currency, value = values[change.deal_id]
            revenue[owner][currency] += value
    agents = sorted(a for a in {*interactions, *moves, *won} if flt.keeps(a))
    return tuple(
        StaffRow(a, interactions[a], moves[a], len(moved[a]), won[a], revenue[a].get(ETH, 0), ordered(revenue[a]))
        for a in agents
    )


def _open_invoices(history: History, kept_deals: set[int]) -> list[InvoiceRecord]:
    closed = {
        event.invoice_id
        for event in history.invoice_events
        if event.status in (InvoiceStatus.PAID, InvoiceStatus.PAID_OFF_CHAIN, InvoiceStatus.CANCELLED)
    }
    return [i for i in history.invoices if i.deal_id in kept_deals and i.invoice_id not in closed]


def days_past_due(due_at: int, as_of: int) -> int:
    """Whole days past due, rounded up: 0 until the due time, 1 from one second after it."""
    return max(0, -(-(as_of - due_at) // SECONDS_PER_DAY))


def aging_of(history: History, kept_deals: set[int], as_of: int) -> tuple[AgingBucket, ...]:
    counts: dict[str, int] = defaultdict(int)
    amounts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for invoice in _open_invoices(history, kept_deals):
        label = _bucket(days_past_due(invoice.due_at, as_of))
        counts[label] += 1
        amounts[label][invoice.currency] += invoice.amount_wei
    return tuple(
        AgingBucket(label, counts[label], amounts[label].get(ETH, 0), ordered(amounts[label]))
        for label, _, _ in AGING_BUCKETS
    )


def _bucket(days: int) -> str:
    for label, low, high in AGING_BUCKETS:
        if days >= low and (high is None or days <= high):
            return label
    raise AssertionError(days)  # the buckets cover every day count from 0


def overdue_of(
    history: History, kept_deals: set[int], owners: Mapping[int, str], as_of: int
) -> tuple[OverdueInvoice, ...]:
    overdue = [
        OverdueInvoice(
            invoice_id=invoice.invoice_id,
            deal_id=invoice.deal_id,
            customer_id=invoice.customer_id,
            owner=owners.get(invoice.deal_id, UNKNOWN_OWNER),
            amount_wei=invoice.amount_wei,
            due_at=invoice.due_at,
            days_past_due=days_past_due(invoice.due_at, as_of),
            currency=invoice.currency,
        )
        for invoice in _open_invoices(history, kept_deals)
        if as_of > invoice.due_at
    ]
    return tuple(sorted(overdue, key=lambda item: (-item.days_past_due, item.invoice_id)))


def refunds_owed_of(history: History) -> int:
    """ETH refunds credited to payers and not withdrawn yet, over the whole escrow (its
    ``liabilitiesWei`` less the amounts of the invoices it still holds); per currency:
    :func:`chaincrm.reports.currencies.refunds_owed_of`."""
    return dict(currencies.refunds_owed_of(history))[ETH]


def with_tokens(report: Report, known: Iterable[TokenInfo]) -> Report:
    """`report` with the display (symbol, decimals) of its tokens, e.g. from
    :func:`chaincrm.currency.tokens_info`: the figures do not change."""
    from dataclasses import replace

    return replace(report, tokens=tuple(known))


def report_currencies(report: Report) -> tuple[str, ...]:
    """Every currency the report shows an amount in: ETH first, then tokens by address."""
    found = {m.currency for m in report.revenue} | {ETH}
    found |= {c for row in report.staff for c, _ in row.revenue_won}
    found |= {c for bucket in report.aging for c, _ in bucket.amounts}
    found |= {o.currency for o in report.overdue} | {c for c, _ in report.refunds_owed or ()}
    found |= {c for c, _ in report.loyalty.discounts} | {r.currency for r in report.offers.revenue}
    return tuple(sorted(found, key=lambda c: (c != ETH, c)))


__all__ = [
    "AGING_BUCKETS",
    "FUNNEL_STAGES",
    "SECONDS_PER_DAY",
    "AgingBucket",
    "FunnelStep",
    "MonthRevenue",
    "OverdueInvoice",
    "Report",
    "StaffRow",
    "StageTime",
    "aging_of",
    "compute",
    "days_past_due",
    "deal_owners",
    "funnel_of",
    "month_of",
    "overdue_of",
    "percentile",
    "refunds_owed_of",
    "report_currencies",
    "revenue_of",
    "staff_of",
    "stage_times_of",
    "time_in_stages",
    "with_tokens",
]
