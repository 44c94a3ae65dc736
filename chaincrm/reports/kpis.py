"""Management reports: KPIs computed from plain event records, whichever source produced them.

The KPI functions never read a database or a node. They take a :class:`History` (lists of small
frozen records, one per contract event that matters) and a :class:`ReportFilter`. A History comes
either from the event index (``history_from_index``, SQL over ``chaincrm.index.schema``) or straight
from the chain (``history_from_chain``: ``eth_getLogs`` over the three contracts from the deployment
block, decoded with the SDK's ABIs). The same code computes both, so ``verify`` comparing the two
is meaningful: every figure in a report can be recomputed from the chain alone.

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
    value in wei (a win goes to the deal's owner when it was won, not to whoever clicked).
  - Revenue by month (UTC, ``YYYY-MM``): invoice amounts paid into escrow (by payment time),
    released to the treasury and refunded (by block time of the release or refund). A refund (a
    manager's, or the payer reclaiming an unresolved dispute) is a credit to the payer, counted
    when credited; the payer withdraws it later (``RefundWithdrawn``), which is no revenue event.
* **Snapshot KPIs** (aging, overdue, refunds owed) are as of ``as_of``. Aging and overdue: invoices
  issued by then and still open (neither paid nor cancelled). A won deal may have several invoices
  (a manager cancels an unpaid one and re-issues it): the cancelled one leaves the receivables, the
  new one enters them, so a deal is never counted twice. Days past due are whole days rounded up,
  so an invoice is past due exactly when the contract's ``isOverdue`` says so: current (not yet
  due), 1-30, 31-60, 61-90, 90+. Refunds owed: refunds credited minus refunds withdrawn, over the
  whole escrow (a withdrawal is per payer, not per invoice), so only in a report without an agent
  filter.
* **Agents and branches.** A filter on agents keeps their interactions and staff rows, and the
  deals (with their invoices) whose owner as of ``as_of`` is one of them; a deal's owner changes
  only through ``DealReassigned`` while it is open. A branch is a named group of agents in
  ``<home>/branches.json``: ``{"lisbon": ["0x...", "0x..."]}``; there is no branch on chain.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from eth_utils import is_hex_address, to_checksum_address
from sqlalchemy import Connection, select
from web3.contract import Contract

from chaincrm.chain import event_topic
from chaincrm.contracts.client import Crm
from chaincrm.contracts.registry import unpack_records
from chaincrm.errors import ChainError, ConfigError
from chaincrm.index import schema as ix
from chaincrm.index.indexer import database_errors, describe_database, open_database, read_state
from chaincrm.models import OPEN_STAGES, Deployment, InvoiceStatus, Stage

SECONDS_PER_DAY = 86_400
LOG_CHUNK_BLOCKS = 10_000  # eth_getLogs range per request: public nodes refuse wide ranges
BLOCK_BATCH_SIZE = 100
FUNNEL_STAGES = (*OPEN_STAGES, Stage.WON)
BRANCHES_FILE = "branches.json"
UNKNOWN_OWNER = "unknown"  # an invoice whose deal has no opening: only a damaged index has one


# ------------------------------------------------------------------ the records KPIs read


@dataclass(frozen=True)
class DealRecord:
    """A deal as opened (DealOpened)."""

    deal_id: int
    customer_id: int
    owner: str
    value_wei: int
    at: int


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
    amount_wei: int
    due_at: int
    at: int


@dataclass(frozen=True)
class InvoiceEventRecord:
    """What happened to an invoice after issue: the status it moved to, the amount the event
    carries (0 for disputes and cancellations), and its time (the event's own, else its block's)."""

    invoice_id: int
    status: InvoiceStatus
    amount_wei: int
    at: int


@dataclass(frozen=True)
class RefundWithdrawalRecord:
    """One RefundWithdrawn: a payer took out every refund credited to them, timed by its block."""

    payer: str
    amount_wei: int
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
        )


# ------------------------------------------------------------------ filter and branches


@dataclass(frozen=True)
class ReportFilter:
    """The window (inclusive Unix seconds, None for open-ended) and the agents to keep (None: all)."""

    since: int | None = None
    until: int | None = None
    agents: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ConfigError("the report's start (--since) is after its end (--until)")

    def in_window(self, at: int) -> bool:
        return (self.since is None or at >= self.since) and (self.until is None or at <= self.until)

    def keeps(self, agent: str) -> bool:
        return self.agents is None or agent in self.agents


def load_branches(path: Path) -> dict[str, tuple[str, ...]]:
    """Branches from a JSON file `{"lisbon": ["0x..", ...]}`; no file means no branches."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"branch file {path} is not readable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f'branch file {path} must map branch names to address lists: {{"lisbon": ["0x.."]}}')
    branches: dict[str, tuple[str, ...]] = {}
    for name, members in data.items():
        if not isinstance(members, list) or not all(isinstance(m, str) and is_hex_address(m) for m in members):
            raise ConfigError(f"branch {name!r} in {path} must be a list of addresses")
        branches[str(name)] = tuple(to_checksum_address(m) for m in members)
    return branches


def agents_for(
    agents: Iterable[str], branch_names: Iterable[str], branches: Mapping[str, Sequence[str]]
) -> frozenset[str] | None:
    """The agents named directly plus the members of each named branch; None when neither is given."""
    chosen = {to_checksum_address(agent) for agent in agents}
    names = list(branch_names)
    for name in names:
        if name not in branches:
            known = ", ".join(sorted(branches)) or f"none: create {BRANCHES_FILE} in the home folder"
            raise ConfigError(f"unknown branch {name!r} (branches: {known})")
        chosen.update(to_checksum_address(agent) for agent in branches[name])
    if not chosen and not names:
        return None
    return frozenset(chosen)


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
    revenue_won_wei: int


@dataclass(frozen=True)
class AgingBucket:
    label: str
    invoices: int
    amount_wei: int


@dataclass(frozen=True)
class OverdueInvoice:
    invoice_id: int
    deal_id: int
    customer_id: int
    owner: str
    amount_wei: int
    due_at: int
    days_past_due: int


@dataclass(frozen=True)
class MonthRevenue:
    month: str
    paid_wei: int
    released_wei: int
    refunded_wei: int


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
    revenue: tuple[MonthRevenue, ...]
    refunds_owed_wei: int | None = None  # None with an agent filter: withdrawals are per payer

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
        for bucket in self.aging:
            out[f"aging {bucket.label}: invoices"] = str(bucket.invoices)
            out[f"aging {bucket.label}: wei"] = str(bucket.amount_wei)
        out["overdue invoices"] = ",".join(str(item.invoice_id) for item in self.overdue) or "-"
        for month in self.revenue:
            out[f"revenue {month.month}: paid wei"] = str(month.paid_wei)
            out[f"revenue {month.month}: released wei"] = str(month.released_wei)
            out[f"revenue {month.month}: refunded wei"] = str(month.refunded_wei)
        out["refunds owed wei"] = "-" if self.refunds_owed_wei is None else str(self.refunds_owed_wei)
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
        revenue=revenue_of(seen, flt, {i for i, d in invoice_deal.items() if d in kept_deals}),
        refunds_owed_wei=refunds_owed_of(seen) if flt.agents is None else None,
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
    revenue: dict[str, int] = defaultdict(int)
    values = {deal.deal_id: deal.value_wei for deal in history.deals}
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
            revenue[owner] += values[change.deal_id]
    agents = sorted(a for a in {*interactions, *moves, *won} if flt.keeps(a))
    return tuple(StaffRow(a, interactions[a], moves[a], len(moved[a]), won[a], revenue[a]) for a in agents)


def _open_invoices(history: History, kept_deals: set[int]) -> list[InvoiceRecord]:
    closed = {
        event.invoice_id
        for event in history.invoice_events
        if event.status in (InvoiceStatus.PAID, InvoiceStatus.CANCELLED)
    }
    return [i for i in history.invoices if i.deal_id in kept_deals and i.invoice_id not in closed]


def days_past_due(due_at: int, as_of: int) -> int:
    """Whole days past due, rounded up: 0 until the due time, 1 from one second after it."""
    return max(0, -(-(as_of - due_at) // SECONDS_PER_DAY))


def aging_of(history: History, kept_deals: set[int], as_of: int) -> tuple[AgingBucket, ...]:
    counts: dict[str, int] = defaultdict(int)
    amounts: dict[str, int] = defaultdict(int)
    for invoice in _open_invoices(history, kept_deals):
        label = _bucket(days_past_due(invoice.due_at, as_of))
        counts[label] += 1
        amounts[label] += invoice.amount_wei
    return tuple(AgingBucket(label, counts[label], amounts[label]) for label, _, _ in AGING_BUCKETS)


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
        )
        for invoice in _open_invoices(history, kept_deals)
        if as_of > invoice.due_at
    ]
    return tuple(sorted(overdue, key=lambda item: (-item.days_past_due, item.invoice_id)))


def month_of(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m")


def revenue_of(history: History, flt: ReportFilter, kept_invoices: set[int]) -> tuple[MonthRevenue, ...]:
    sums: dict[str, dict[InvoiceStatus, int]] = defaultdict(lambda: defaultdict(int))
    for event in history.invoice_events:
        if event.invoice_id not in kept_invoices or not flt.in_window(event.at):
            continue
        if event.status in (InvoiceStatus.PAID, InvoiceStatus.RELEASED, InvoiceStatus.REFUNDED):
            sums[month_of(event.at)][event.status] += event.amount_wei
    return tuple(
        MonthRevenue(
            month,
            sums[month][InvoiceStatus.PAID],
            sums[month][InvoiceStatus.RELEASED],
            sums[month][InvoiceStatus.REFUNDED],
        )
        for month in sorted(sums)
    )


def refunds_owed_of(history: History) -> int:
    """Refunds credited to payers and not withdrawn yet, over the whole escrow (its
    ``liabilitiesWei`` less the amounts of the invoices it still holds)."""
    credited = sum(e.amount_wei for e in history.invoice_events if e.status is InvoiceStatus.REFUNDED)
    return credited - sum(w.amount_wei for w in history.refund_withdrawals)


# ------------------------------------------------------------------ verification


@dataclass(frozen=True)
class Check:
    kpi: str
    index_value: str | None
    chain_value: str | None

    @property
    def matches(self) -> bool:
        return self.index_value == self.chain_value


def verify(from_index: Report, from_chain: Report) -> list[Check]:
    """Every figure of both reports side by side; a figure only one side has is a mismatch."""
    index_figures, chain_figures = from_index.figures(), from_chain.figures()
    names = list(index_figures) + [name for name in chain_figures if name not in index_figures]
    checks = [Check(name, index_figures.get(name), chain_figures.get(name)) for name in names]
    checks.insert(0, Check("as of (chain time)", str(from_index.as_of), str(from_chain.as_of)))
    return checks


def verify_against_chain(crm: Crm, indexed: History, from_index: Report) -> list[Check]:
    """Recompute `from_index` (same filter) from the chain's logs up to the index's last block."""
    from_chain = compute(history_from_chain(crm, to_block=indexed.end_block), from_index.report_filter)
    return verify(from_index, from_chain)


# ------------------------------------------------------------------ the index as a source


def history_from_database(database: str | Path | None, deployment: Deployment, *, home: Path) -> History:
    """The History in the index database (a URL, a SQLite file, or None for <home>/index.sqlite),
    after checking that the index follows `deployment`'s chain and contracts."""
    engine = open_database(database, home=home)
    try:
        state = read_state(engine)
        where = describe_database(engine)
        if state is None:
            raise ConfigError(f"no index at {where}: build it first (`chaincrm index`) or pass --source chain")
        followed = (state.chain_id, state.registry, state.pipeline, state.escrow)
        if followed != (deployment.chain_id, deployment.registry, deployment.pipeline, deployment.escrow):
            raise ConfigError(f"the index at {where} follows another deployment than this one")
        with database_errors(engine), engine.connect() as connection:
            return history_from_index(connection)
    finally:
        engine.dispose()


def history_from_index(connection: Connection) -> History:
    """The History from the event index's event tables (never its derived state tables), up to
    the last block the indexer read."""
    state = connection.execute(select(ix.sync_state.c.last_block, ix.sync_state.c.start_block)).first()
    if state is None or state.last_block < state.start_block:
        raise ConfigError("the index is empty: build it first (`chaincrm index`)")
    end_block = int(state.last_block)
    end_at = connection.execute(select(ix.blocks.c.timestamp).where(ix.blocks.c.number == end_block)).scalar()
    if end_at is None:
        raise ConfigError(f"the index has no timestamp for its last block {end_block}: sync it again")

    de, sc, it, ie, rw = (
        ix.deal_events.c,
        ix.stage_changes.c,
        ix.interactions.c,
        ix.invoice_events.c,
        ix.refund_withdrawals.c,
    )
    order = (ix.deal_events.c.block_number, ix.deal_events.c.log_index)
    deals: list[DealRecord] = []
    reassignments: list[ReassignRecord] = []
    for row in connection.execute(
        select(de.deal_id, de.kind, de.customer_id, de.owner, de.value_wei, de.at, de.block_number, de.log_index)
        .where(de.kind.in_(("opened", "reassigned")))
        .order_by(*order)
    ):
        if row.kind == "opened":
            deals.append(DealRecord(int(row.deal_id), int(row.customer_id), row.owner, int(row.value_wei), int(row.at)))
        else:
            reassignments.append(
                ReassignRecord(int(row.deal_id), row.owner, int(row.at), int(row.block_number), int(row.log_index))
            )
    stage_changes = [
        StageRecord(
            int(r.deal_id),
            Stage(r.from_stage),
            Stage(r.to_stage),
            r.actor,
            int(r.at),
            int(r.block_number),
            int(r.log_index),
        )
        for r in connection.execute(
            select(sc.deal_id, sc.from_stage, sc.to_stage, sc.actor, sc.at, sc.block_number, sc.log_index).order_by(
                sc.block_number, sc.log_index
            )
        )
    ]
    interactions = [
        InteractionRecord(r.author, int(r.customer_id), int(r.at))
        for r in connection.execute(
            select(it.author, it.customer_id, it.at).order_by(it.block_number, it.log_index, it.position)
        )
    ]
    invoices: list[InvoiceRecord] = []
    invoice_events: list[InvoiceEventRecord] = []
    for r in connection.execute(
        select(ie.invoice_id, ie.kind, ie.deal_id, ie.customer_id, ie.amount_wei, ie.due_at, ie.at).order_by(
            ie.block_number, ie.log_index
        )
    ):
        if r.kind == "issued":
            invoices.append(
                InvoiceRecord(
                    int(r.invoice_id), int(r.deal_id), int(r.customer_id), int(r.amount_wei), int(r.due_at), int(r.at)
                )
            )
        elif r.kind in _INVOICE_KIND:
            invoice_events.append(
                InvoiceEventRecord(int(r.invoice_id), _INVOICE_KIND[r.kind], int(r.amount_wei or 0), int(r.at))
            )
    withdrawals = [
        RefundWithdrawalRecord(r.payer, int(r.amount_wei), int(r.at))
        for r in connection.execute(select(rw.payer, rw.amount_wei, rw.at).order_by(rw.block_number, rw.log_index))
    ]
    return History(
        deals=tuple(deals),
        stage_changes=tuple(stage_changes),
        reassignments=tuple(reassignments),
        interactions=tuple(interactions),
        invoices=tuple(invoices),
        invoice_events=tuple(invoice_events),
        end_block=end_block,
        end_at=int(end_at),
        refund_withdrawals=tuple(withdrawals),
    )


_INVOICE_KIND = {
    "paid": InvoiceStatus.PAID,
    "disputed": InvoiceStatus.DISPUTED,
    "released": InvoiceStatus.RELEASED,
    "refunded": InvoiceStatus.REFUNDED,
    "cancelled": InvoiceStatus.CANCELLED,
}


# ------------------------------------------------------------------ the chain as a source

_EVENTS: dict[str, tuple[str, ...]] = {
    "registry": ("InteractionLogged", "InteractionsLogged"),
    "pipeline": ("DealOpened", "DealStageChanged", "DealReassigned"),
    "escrow": (
        "InvoiceIssued",
        "InvoicePaid",
        "InvoiceDisputed",
        "InvoiceReleased",
        "InvoiceRefunded",
        "InvoiceCancelled",
        "RefundWithdrawn",
    ),
}


@dataclass
class _Collected:
    deals: list[DealRecord] = field(default_factory=list)
    stage_changes: list[StageRecord] = field(default_factory=list)
    reassignments: list[ReassignRecord] = field(default_factory=list)
    interactions: list[InteractionRecord] = field(default_factory=list)
    invoices: list[InvoiceRecord] = field(default_factory=list)
    invoice_events: list[InvoiceEventRecord] = field(default_factory=list)
    refund_withdrawals: list[RefundWithdrawalRecord] = field(default_factory=list)


def history_from_chain(crm: Crm, *, to_block: int | None = None) -> History:
    """The History straight from the node: eth_getLogs over the three contracts from the
    deployment block to `to_block` (default: latest), decoded with the SDK's ABIs. No index.

    Each event is decoded only from the contract that declares it: a log with the same topic from
    another address (whatever the node's filter let through) is dropped."""
    chain = crm.chain
    w3 = chain.w3
    end = chain.rpc(lambda: int(w3.eth.block_number)) if to_block is None else to_block
    start = crm.deployment.block_number
    if end < start:
        raise ChainError(f"block {end} is before the deployment (block {start})")
    contracts: dict[str, Contract] = {
        "registry": crm.registry.contract,
        "pipeline": crm.pipeline.contract,
        "escrow": crm.escrow.contract,
    }
    decoders: dict[tuple[str, bytes], Callable[[Any], Any]] = {}
    for key, names in _EVENTS.items():
        contract = contracts[key]
        for name in names:
            event = contract.events[name]()
            decoders[(contract.address.lower(), event_topic(contract, name))] = event.process_log
    topics = sorted({topic for _, topic in decoders}, key=bytes.hex)
    logs: list[Any] = []
    for low in range(start, end + 1, LOG_CHUNK_BLOCKS):
        high = min(end, low + LOG_CHUNK_BLOCKS - 1)
        params = {
            "address": [c.address for c in contracts.values()],
            "fromBlock": low,
            "toBlock": high,
            "topics": [["0x" + t.hex() for t in topics]],
        }
        logs.extend(chain.rpc(partial(w3.eth.get_logs, params)))  # type: ignore[arg-type]
    decoded = []
    for log in logs:
        decoder = decoders.get((str(log["address"]).lower(), bytes(log["topics"][0])))
        if decoder is not None:
            decoded.append(decoder(log))
    untimed = {
        "DealReassigned",
        "InvoiceIssued",
        "InvoiceReleased",
        "InvoiceRefunded",
        "InvoiceCancelled",
        "RefundWithdrawn",
    }
    times = block_timestamps(crm, {int(e["blockNumber"]) for e in decoded if e["event"] in untimed} | {end})
    collected = _Collected()
    for event in sorted(decoded, key=lambda e: (int(e["blockNumber"]), int(e["logIndex"]))):
        _collect(collected, event, times)
    return History(
        deals=tuple(collected.deals),
        stage_changes=tuple(collected.stage_changes),
        reassignments=tuple(collected.reassignments),
        interactions=tuple(collected.interactions),
        invoices=tuple(collected.invoices),
        invoice_events=tuple(collected.invoice_events),
        end_block=end,
        end_at=times[end],
        refund_withdrawals=tuple(collected.refund_withdrawals),
    )


def _collect(out: _Collected, event: Any, times: Mapping[int, int]) -> None:
    name, args = event["event"], event["args"]
    block, log_index = int(event["blockNumber"]), int(event["logIndex"])
    if name == "InteractionLogged":
        out.interactions.append(
            InteractionRecord(to_checksum_address(args["author"]), int(args["customerId"]), int(args["at"]))
        )
    elif name == "InteractionsLogged":
        author, at = to_checksum_address(args["author"]), int(args["at"])
        out.interactions.extend(
            InteractionRecord(author, entry.customer_id, at) for entry in unpack_records(bytes(args["records"]))
        )
    elif name == "DealOpened":
        # DealOpened carries no time; the DealStageChanged (None -> Lead) right after it does.
        out.deals.append(
            DealRecord(
                int(args["dealId"]),
                int(args["customerId"]),
                to_checksum_address(args["owner"]),
                int(args["valueWei"]),
                0,
            )
        )
    elif name == "DealStageChanged":
        change = StageRecord(
            int(args["dealId"]),
            Stage(args["from"]),
            Stage(args["to"]),
            to_checksum_address(args["actor"]),
            int(args["at"]),
            block,
            log_index,
        )
        out.stage_changes.append(change)
        if change.from_stage is Stage.NONE:
            for i in range(len(out.deals) - 1, -1, -1):
                if out.deals[i].deal_id == change.deal_id:
                    out.deals[i] = replace(out.deals[i], at=change.at)
                    break
    elif name == "DealReassigned":
        out.reassignments.append(
            ReassignRecord(int(args["dealId"]), to_checksum_address(args["newOwner"]), times[block], block, log_index)
        )
    elif name == "InvoiceIssued":
        out.invoices.append(
            InvoiceRecord(
                int(args["invoiceId"]),
                int(args["dealId"]),
                int(args["customerId"]),
                int(args["amount"]),
                int(args["dueAt"]),
                times[block],
            )
        )
    elif name == "InvoicePaid":
        out.invoice_events.append(
            InvoiceEventRecord(int(args["invoiceId"]), InvoiceStatus.PAID, int(args["amount"]), int(args["at"]))
        )
    elif name == "InvoiceDisputed":
        out.invoice_events.append(
            InvoiceEventRecord(int(args["invoiceId"]), InvoiceStatus.DISPUTED, 0, int(args["at"]))
        )
    elif name == "InvoiceReleased":
        out.invoice_events.append(
            InvoiceEventRecord(int(args["invoiceId"]), InvoiceStatus.RELEASED, int(args["amount"]), times[block])
        )
    elif name == "InvoiceRefunded":
        out.invoice_events.append(
            InvoiceEventRecord(int(args["invoiceId"]), InvoiceStatus.REFUNDED, int(args["amount"]), times[block])
        )
    elif name == "InvoiceCancelled":
        out.invoice_events.append(InvoiceEventRecord(int(args["invoiceId"]), InvoiceStatus.CANCELLED, 0, times[block]))
    elif name == "RefundWithdrawn":
        out.refund_withdrawals.append(
            RefundWithdrawalRecord(to_checksum_address(args["payer"]), int(args["amount"]), times[block])
        )


def block_timestamps(crm: Crm, blocks: Iterable[int]) -> dict[int, int]:
    """Timestamps of blocks, read in JSON-RPC batches."""
    wanted = sorted(set(blocks))
    provider = crm.chain.w3.provider
    times: dict[int, int] = {}
    for low in range(0, len(wanted), BLOCK_BATCH_SIZE):
        chunk = wanted[low : low + BLOCK_BATCH_SIZE]
        batch = [("eth_getBlockByNumber", [hex(number), False]) for number in chunk]
        try:
            responses: Any = crm.chain.rpc(partial(provider.make_batch_request, batch))  # type: ignore[attr-defined]
        except AttributeError:  # a provider without batches: one by one
            for number in chunk:
                block = crm.chain.rpc(partial(crm.chain.w3.eth.get_block, number))
                times[number] = int(block["timestamp"])
            continue
        if isinstance(responses, dict):
            raise ChainError(f"the node refused a batch of block queries: {responses.get('error')}")
        for number, response in zip(chunk, sorted(responses, key=lambda r: int(r["id"])), strict=True):
            block = response.get("result")
            if not block:
                raise ChainError(f"the node has no block {number}")
            timestamp = block["timestamp"]
            times[number] = int(timestamp, 16) if isinstance(timestamp, str) else int(timestamp)
    return times


__all__ = [
    "AGING_BUCKETS",
    "FUNNEL_STAGES",
    "AgingBucket",
    "Check",
    "DealRecord",
    "FunnelStep",
    "History",
    "InteractionRecord",
    "InvoiceEventRecord",
    "InvoiceRecord",
    "MonthRevenue",
    "OverdueInvoice",
    "ReassignRecord",
    "RefundWithdrawalRecord",
    "Report",
    "ReportFilter",
    "StageRecord",
    "StageTime",
    "StaffRow",
    "agents_for",
    "compute",
    "history_from_chain",
    "history_from_database",
    "history_from_index",
    "load_branches",
    "percentile",
    "refunds_owed_of",
    "verify",
    "verify_against_chain",
]
