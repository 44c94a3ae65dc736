"""`chaincrm report`: filters, files, and the chain as a source, run in-process."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from chaincrm.errors import ConfigError
from tests.reports.conftest import DAY, ETH, Run, Story


def report(cli: Run, *args: object) -> dict[str, Any]:
    result = cli("--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_an_agent_filter_narrows_every_table(report_cli: Run, story: Story) -> None:
    data = report(report_cli, "--until", story.end, "--agent", story.agent_b)

    assert [step["deals"] for step in data["funnel"]] == [3, 3, 2, 1, 1, 1]
    assert [row["agent"] for row in data["staff"]] == [story.agent_b]
    assert [(b["bucket"], b["invoices"]) for b in data["aging"] if b["invoices"]] == [("current", 1)]
    assert data["overdue"] == [] and data["revenue_by_month"] == []


def test_a_branch_stands_for_the_agents_on_its_staff_on_chain(report_cli: Run, story: Story) -> None:
    by_branch = report(report_cli, "--until", story.end, "--branch", "porto")

    assert by_branch == report(report_cli, "--until", story.end, "--agent", story.agent_b)
    assert by_branch["agents"] == [story.agent_b]


def test_two_branches_keep_both_groups(report_cli: Run, story: Story) -> None:
    data = report(report_cli, "--until", story.end, "--branch", "porto", "--branch", "lisbon")

    assert [row["agent"] for row in data["staff"]] == sorted([story.agent_a, story.agent_b])
    assert data["deals_opened"] == 6


def test_an_unknown_branch_is_refused_with_the_known_ones(report_cli: Run) -> None:
    result = report_cli("--branch", "madrid")

    assert isinstance(result.exception, ConfigError)
    assert "unknown branch 'madrid' (branches: lisbon, porto)" in str(result.exception)


def test_dates_narrow_the_window_and_a_date_until_covers_its_whole_day(report_cli: Run, story: Story) -> None:
    def day(offset: int) -> str:
        return datetime.fromtimestamp(story.t0 + offset, UTC).strftime("%Y-%m-%d")

    data = report(report_cli, "--since", day(30 * DAY), "--until", day(40 * DAY))

    assert data["since"] == story.t0 + 30 * DAY
    assert data["until"] == story.t0 + 41 * DAY - 1
    assert data["deals_opened"] == 1  # deal 5; deal 6 opens on day 50
    assert data["revenue_by_month"] == [
        {"month": story.month(36 * DAY), "paid_wei": str(5 * ETH), "released_wei": "0", "refunded_wei": str(5 * ETH)}
    ]


def test_since_after_until_is_refused(report_cli: Run, story: Story) -> None:
    result = report_cli("--since", story.t0 + DAY, "--until", story.t0)

    assert isinstance(result.exception, ConfigError)
    assert "after its end" in str(result.exception)


def test_a_bad_date_is_a_usage_error(report_cli: Run) -> None:
    result = report_cli("--since", "last tuesday")

    assert result.exit_code == 2
    assert "is not a date" in result.output


def test_the_chain_as_a_source_gives_the_same_report_as_the_index(report_cli: Run, story: Story) -> None:
    from_chain = report(report_cli, "--until", story.end, "--source", "chain")
    from_index = report(report_cli, "--until", story.end)

    # The chain source reads to the head, which other tests may have moved past the indexed block.
    assert from_chain.pop("block_number") >= from_index.pop("block_number") == story.end_block
    assert from_chain == from_index


def test_csv_png_and_html_files_are_written(report_cli: Run, story: Story, tmp_path: Path) -> None:
    result = report_cli(
        "--until", story.end, "--csv", tmp_path / "csv", "--png", tmp_path / "png", "--html", tmp_path / "r.html"
    )

    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "csv").glob("*.csv"))) == 9
    pngs = sorted((tmp_path / "png").glob("*.png"))
    assert [p.stem for p in pngs] == ["aging", "funnel", "revenue", "staff", "stage_times"]
    for png in pngs:
        with Image.open(png) as image:
            assert image.format == "PNG" and image.size[0] > 100
    page = (tmp_path / "r.html").read_text()
    assert not re.search(r"https?://", page)
    assert page.count('src="data:image/png;base64,') == 5
    assert f"wrote {tmp_path / 'r.html'}" in result.stdout


def test_the_html_report_of_a_verified_run_carries_the_checks(report_cli: Run, tmp_path: Path) -> None:
    result = report_cli("--verify", "--html", tmp_path / "r.html")

    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    assert "Index against chain" in page and "✓" in page and "✗" not in page


def test_the_terminal_report_shows_the_tables(report_cli: Run, story: Story) -> None:
    result = report_cli("--until", story.end)

    assert result.exit_code == 0, result.output
    for title in ("Conversion funnel", "Time in stage", "Staff effectiveness", "Receivables aging", "Overdue invoices",
                  "Revenue by month"):  # fmt: skip
        assert title in result.stdout
    assert "8 ETH" in result.stdout  # agent A's revenue won
