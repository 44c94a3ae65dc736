"""The building blocks of the KPI definitions, without a chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
    load_branches,
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


def test_branches_are_read_with_checksummed_members(tmp_path: Path) -> None:
    path = tmp_path / "branches.json"
    path.write_text(json.dumps({"lisbon": [A.lower()]}))

    assert load_branches(path) == {"lisbon": (A,)}
    assert agents_for([B], ["lisbon"], load_branches(path)) == frozenset({A, B})
    assert agents_for([], [], {}) is None


@pytest.mark.parametrize("content", ["[]", '{"lisbon": "0x12"}', '{"lisbon": ["not an address"]}', "{"])
def test_a_malformed_branch_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "branches.json"
    path.write_text(content)

    with pytest.raises(ConfigError, match="branch"):
        load_branches(path)
