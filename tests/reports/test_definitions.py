"""The building blocks of the KPI definitions, without a chain."""

from __future__ import annotations

import pytest

from chaincrm.contracts.branches import Branch, BranchRoster, StaffPeriod
from chaincrm.errors import ConfigError
from chaincrm.models import Stage
from chaincrm.reports.kpis import (
    DealRecord,
    History,
    ReassignRecord,
    ReportFilter,
    StageRecord,
    agents_for,
    compute,
    days_past_due,
    percentile,
    time_in_stages,
)

A = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
B = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([], 0.5, None), ([7], 0.9, 7.0), ([1, 3], 0.5, 2.0), ([1, 2, 3, 4], 0.9, 3.7), ([5, 1, 3], 0.5, 3.0)],
)
def test_percentiles_interpolate_linearly_between_ranks(values: list[int], q: float, expected: float | None) -> None:
    assert percentile(values, q) == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("late_by", "days"), [(-10, 0), (0, 0), (1, 1), (86_400, 1), (86_401, 2), (30 * 86_400, 30), (90 * 86_400 + 1, 91)]
)
def test_days_past_due_round_up_so_one_second_late_is_a_day(late_by: int, days: int) -> None:
    assert days_past_due(1_000_000, 1_000_000 + late_by) == days


def test_a_deal_moved_back_sums_its_visits_and_the_current_stage_runs_to_the_end() -> None:
    def change(from_stage: Stage, to_stage: Stage, at: int) -> StageRecord:
        return StageRecord(1, from_stage, to_stage, A, at, at, 0)

    path = [
        change(Stage.NONE, Stage.LEAD, 0),
        change(Stage.LEAD, Stage.QUALIFIED, 10),
        change(Stage.QUALIFIED, Stage.PROPOSAL, 30),
        change(Stage.PROPOSAL, Stage.QUALIFIED, 35),
    ]

    assert time_in_stages(path, 100) == {Stage.LEAD: 10, Stage.QUALIFIED: 20 + 65, Stage.PROPOSAL: 5}


def test_a_reassigned_deal_belongs_to_its_new_owner() -> None:
    history = History(
        deals=(DealRecord(1, 1, A, 10, 0),),
        stage_changes=(StageRecord(1, Stage.NONE, Stage.LEAD, A, 0, 1, 0),),
        reassignments=(ReassignRecord(1, B, 5, 2, 0),),
        interactions=(),
        invoices=(),
        invoice_events=(),
        end_block=2,
        end_at=10,
    )

    assert compute(history, ReportFilter(agents=frozenset({B}))).deals == 1
    assert compute(history, ReportFilter(agents=frozenset({A}))).deals == 0
    assert compute(history, ReportFilter(agents=frozenset({A}), until=4)).deals == 1


def test_a_branch_stands_for_its_staff_at_some_moment_of_the_window() -> None:
    roster = BranchRoster(
        (Branch(1, "lisbon", None), Branch(2, "porto", None)),
        (StaffPeriod(1, A, 10, 100, 20, 200), StaffPeriod(2, B, 15, 150)),
    )

    assert agents_for([B], ["lisbon"], roster) == frozenset({A, B})
    assert agents_for([], ["lisbon"], roster, since=201) == frozenset()
    assert agents_for([], ["lisbon"], roster, until=99) == frozenset()
    assert agents_for([], ["1", "porto"], roster, since=180, until=300) == frozenset({A, B})
    assert agents_for([], [], None) is None


def test_an_unknown_branch_is_refused_with_the_branches_on_chain() -> None:
    roster = BranchRoster((Branch(2, "porto", None), Branch(1, "lisbon", None)), ())

    with pytest.raises(ConfigError, match=r"^unknown branch 'madrid' \(branches: lisbon, porto\)$"):
        agents_for([], ["madrid"], roster)
    with pytest.raises(ConfigError, match="no branch on chain yet"):
        agents_for([], ["madrid"], BranchRoster((), ()))
