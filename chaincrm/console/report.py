"""The report page's figures and charts: `chaincrm report` computed from the index, kept per block.

The KPIs come from :mod:`chaincrm.reports` (History from the index, then ``compute``), the tables
and PNG charts from its ``render`` module, the same code as ``chaincrm report --html``. One report
is kept, for the index's last block; the next request after the index moves computes it again.
Charts are drawn on first request (matplotlib's Agg, in a worker thread).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine

from chaincrm.chain import Chain
from chaincrm.currency import tokens_info
from chaincrm.index.database import database_errors
from chaincrm.portal.reads import as_of_block
from chaincrm.reports.figures import Report, compute, report_currencies, with_tokens
from chaincrm.reports.history import history_from_index
from chaincrm.reports.render import ReportTable, charts, tables

CHART_NAMES = ("funnel", "stage_times", "staff", "aging", "revenue")  # the tables that have a chart


@dataclass
class _Kept:
    block: int
    report: Report
    tables: list[ReportTable]
    charts: dict[str, bytes] | None = field(default=None)


class ReportBook:
    """The report for the index's newest block, and its charts."""

    def __init__(self, engine: Engine, chain: Chain | None = None) -> None:
        self.engine = engine
        self.chain = chain  # to show the tokens' symbols and decimals (None: short addresses)
        self._kept: _Kept | None = None
        self._lock = threading.Lock()

    def current(self) -> tuple[Report, list[ReportTable]]:
        """The report as of the index's last block (blocking; ConfigError before the index exists)."""
        kept = self._current()
        return kept.report, kept.tables

    def chart(self, name: str) -> bytes | None:
        """The PNG chart `name` of the current report (None: no such chart)."""
        if name not in CHART_NAMES:
            return None
        kept = self._current()
        with self._lock:
            if kept.charts is None:
                kept.charts = charts(kept.report)
            return kept.charts[name]

    def _current(self) -> _Kept:
        with self._lock, database_errors(self.engine), self.engine.connect() as conn:
            block = as_of_block(conn)
            if self._kept is not None and self._kept.block == block:
                return self._kept
            report = compute(history_from_index(conn))
            if self.chain is not None:
                report = with_tokens(report, tokens_info(self.chain, report_currencies(report)).values())
            self._kept = _Kept(block=report.end_block, report=report, tables=tables(report))
            return self._kept


__all__ = ["CHART_NAMES", "ReportBook"]
