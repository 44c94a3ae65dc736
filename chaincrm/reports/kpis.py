"""Management reports: KPIs computed from plain event records, whichever source produced them.

This module gathers the reports' public names in one import; each lives in a module with one job:

==============  ==================================================================================
``records``     the records the KPIs read (one per contract event that matters) and ``History``
``history``     reading a History from the event index or straight from the chain
``filters``     a report's window and agents, and the agents of on-chain branches
``figures``     computing the KPIs from a History alone; the KPI definitions are in its docstring
``reconcile``   ``report --verify``: the index's report against the same report from the chain
``render``      tables, CSV, PNG charts and HTML
==============  ==================================================================================
"""

from __future__ import annotations

from chaincrm.reports.figures import (
    AGING_BUCKETS,
    FUNNEL_STAGES,
    SECONDS_PER_DAY,
    UNKNOWN_OWNER,
    AgingBucket,
    FunnelStep,
    MonthRevenue,
    OverdueInvoice,
    Report,
    StaffRow,
    StageTime,
    aging_of,
    compute,
    days_past_due,
    deal_owners,
    funnel_of,
    month_of,
    overdue_of,
    percentile,
    refunds_owed_of,
    revenue_of,
    staff_of,
    stage_times_of,
    time_in_stages,
)
from chaincrm.reports.filters import BRANCH_MEMBERSHIP, ReportFilter, agents_for
from chaincrm.reports.history import block_timestamps, history_from_chain, history_from_database, history_from_index
from chaincrm.reports.reconcile import Check, reconcile, reconcile_with_chain
from chaincrm.reports.records import (
    DealRecord,
    History,
    InteractionRecord,
    InvoiceEventRecord,
    InvoiceRecord,
    ReassignRecord,
    RefundWithdrawalRecord,
    StageRecord,
)

__all__ = [
    "AGING_BUCKETS",
    "BRANCH_MEMBERSHIP",
    "FUNNEL_STAGES",
    "SECONDS_PER_DAY",
    "UNKNOWN_OWNER",
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
    "aging_of",
    "block_timestamps",
    "compute",
    "days_past_due",
    "deal_owners",
    "funnel_of",
    "history_from_chain",
    "history_from_database",
    "history_from_index",
    "month_of",
    "overdue_of",
    "percentile",
    "refunds_owed_of",
    "revenue_of",
    "staff_of",
    "stage_times_of",
    "time_in_stages",
    "reconcile",
    "reconcile_with_chain",
]
