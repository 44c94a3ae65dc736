"""The report drawn as terminal tables, CSV files, PNG charts and one self-contained HTML file."""

from __future__ import annotations

import base64
import csv
import io
import re
from pathlib import Path

import pytest
from PIL import Image
from rich.console import Console

from chaincrm.reports.kpis import Report, compute, history_from_chain
from chaincrm.reports.render import charts, duration_text, html_report, print_report, write_charts, write_csv
from tests.reports.conftest import Story


@pytest.fixture(scope="module")
def report(story: Story) -> Report:
    return compute(history_from_chain(story.crm, to_block=story.end_block))


def test_csv_files_hold_one_table_each_with_exact_figures(report: Report, tmp_path: Path) -> None:
    written = write_csv(report, tmp_path)

    assert sorted(p.name for p in written) == sorted(
        f"{name}.csv"
        for name in ("summary", "funnel", "stage_times", "staff", "aging", "overdue", "revenue", "loyalty", "offers")
    )
    with (tmp_path / "funnel.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["stage", "deals", "of previous", "of leads"]
    assert [(row[0], row[1]) for row in rows[1:]] == [
        ("lead", "6"), ("qualified", "6"), ("proposal", "5"), ("negotiation", "4"), ("contracting", "4"), ("won", "4")
    ]  # fmt: skip
    with (tmp_path / "aging.csv").open(newline="") as handle:
        aging = {row["bucket"]: row["amount wei"] for row in csv.DictReader(handle)}
    assert aging["31-60"] == str(2 * 10**18)


def test_every_chart_is_a_png_that_opens(report: Report, tmp_path: Path) -> None:
    written = write_charts(report, tmp_path)

    assert sorted(p.stem for p in written) == ["aging", "funnel", "revenue", "staff", "stage_times"]
    for path in written:
        with Image.open(path) as image:
            image.verify()
            assert image.format == "PNG"


def test_the_html_report_is_self_contained_with_embedded_charts(report: Report) -> None:
    page = html_report(report)

    assert not re.search(r"https?://", page)
    assert not re.search(r"<(script|link|iframe)\b", page, re.IGNORECASE)
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == len(charts(report)) == 5
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))) as image:
            assert image.format == "PNG"
    assert "<style>" in page and "Conversion funnel" in page and "Receivables aging" in page


def test_the_terminal_shows_every_table(report: Report) -> None:
    console = Console(record=True, width=200)

    print_report(report, console)

    text = console.export_text()
    for title in ("Summary", "Conversion funnel", "Time in stage", "Staff effectiveness", "Receivables aging",
                  "Overdue invoices", "Revenue by month", "Loyalty points"):  # fmt: skip
        assert title in text
    assert "80.0%" in text  # the win rate


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0, "0s"), (3600, "1h"), (9000, "2h 30m"), (90061.5, "1d 1h 1m 1.5s")],
)
def test_durations_read_as_days_hours_minutes_seconds(seconds: float | None, text: str) -> None:
    assert duration_text(seconds) == text
