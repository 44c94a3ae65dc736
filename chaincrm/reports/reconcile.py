"""The cross-check behind ``chaincrm report --verify``: the report computed from the index, side
by side with the same report recomputed from the chain's logs alone, figure by figure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaincrm.contracts.client import Crm
from chaincrm.reports.figures import Report, compute
from chaincrm.reports.history import history_from_chain
from chaincrm.reports.records import History

if TYPE_CHECKING:
    from chaincrm.storage import DocumentStore


@dataclass(frozen=True)
class Check:
    kpi: str
    index_value: str | None
    chain_value: str | None

    @property
    def matches(self) -> bool:
        return self.index_value == self.chain_value


def reconcile(from_index: Report, from_chain: Report) -> list[Check]:
    """Every figure of both reports side by side; a figure only one side has is a mismatch."""
    index_figures, chain_figures = from_index.figures(), from_chain.figures()
    names = list(index_figures) + [name for name in chain_figures if name not in index_figures]
    checks = [Check(name, index_figures.get(name), chain_figures.get(name)) for name in names]
    checks.insert(0, Check("as of (chain time)", str(from_index.as_of), str(from_chain.as_of)))
    return checks


def reconcile_with_chain(
    crm: Crm, indexed: History, from_index: Report, *, store: DocumentStore | None = None
) -> list[Check]:
    """Recompute `from_index` (same filter) from the chain's logs up to the index's last block;
    interactions anchored in batches from their documents in `store` (the index's rules). An
    anchored batch whose document is unavailable stops the check with one StorageError line."""
    chain_history = history_from_chain(crm, to_block=indexed.end_block, store=store)
    from_chain = compute(chain_history, from_index.report_filter)
    return reconcile(from_index, from_chain)


__all__ = ["Check", "reconcile", "reconcile_with_chain"]
