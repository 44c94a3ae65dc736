"""A report drawn four ways: terminal tables (rich), CSV files, PNG charts and one HTML file.

Every table comes from :func:`tables`, so the terminal, the CSV files and the HTML show the same
rows. Charts are drawn with matplotlib's Agg canvas on a `Figure` built here (no pyplot, so no
global figure state and no display needed). The HTML report is self-contained: inline CSS, charts
embedded as base64 PNG data URIs, no script and no external resource.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table

from chaincrm.currency import ETH, TokenInfo, amount_text, info_for
from chaincrm.models import Stage
from chaincrm.reports.currencies import Amounts
from chaincrm.reports.figures import Report
from chaincrm.reports.json_out import checks_json as checks_json  # re-exported: the CLI and the API import them here
from chaincrm.reports.json_out import report_json as report_json
from chaincrm.reports.reconcile import Check
from chaincrm.units import WEI_PER_ETH as UNIT_WEI_PER_ETH

POINTS = TokenInfo("points", 18)

WEI_PER_ETH = Decimal(UNIT_WEI_PER_ETH)
CHART_DPI = 100
CHART_SIZE_INCHES = (7.0, 3.6)
BAR_COLOUR = "#3b6ea5"
SECOND_COLOUR = "#e0873a"
THIRD_COLOUR = "#9a9a9a"
DAYS_FROM_HOURS = 72  # time-in-stage chart switches to days when a p90 passes this many hours


@dataclass(frozen=True)
class ReportTable:
    """One table of a report: a file-friendly name, a title, column names and rows of text."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


# ------------------------------------------------------------------ formatting


def eth_text(wei: int) -> str:
    text = format(Decimal(wei) / WEI_PER_ETH, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} ETH"


def utc_text(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration_text(seconds: float | None) -> str:
    """`2d 3h 4m 5s` (whole seconds; a half second from a median is kept: `1m 0.5s`)."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    fraction = seconds - whole
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours else []
    parts += [f"{minutes}m"] if minutes else []
    if secs or fraction or not parts:
        parts.append(f"{secs + fraction:g}s")
    return " ".join(parts)


def percent_text(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.1f}%"


def stage_name(stage: Stage) -> str:
    """`lead`, `won`; a stage code this version does not know reads `unknown(9)`."""
    return stage.label


def seconds_text(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:g}"


def _known(report: Report) -> dict[str, TokenInfo]:
    return {token.key: token for token in report.tokens}


def money_text(report: Report, currency: str, amount: int) -> str:
    """An amount in its own currency: `1.5 ETH`, `200 USDC` (a token without a known symbol: its
    short address, in base units)."""
    return amount_text(amount, info_for(currency, _known(report)))


def amounts_text(report: Report, amounts: Amounts) -> str:
    """Several currencies side by side, never added: `1 ETH; 200 USDC` (`0 ETH` when empty)."""
    shown = [money_text(report, c, a) for c, a in amounts if a or c == ETH] or [money_text(report, ETH, 0)]
    return "; ".join(shown)


def currency_name(report: Report, currency: str) -> str:
    return info_for(currency, _known(report)).symbol


# ------------------------------------------------------------------ tables


def tables(report: Report) -> list[ReportTable]:
    """The report's tables in display order."""
    flt = report.report_filter
    summary = (
        ("as of", utc_text(report.as_of)),
        ("block", str(report.end_block)),
        ("since", utc_text(flt.since) if flt.since is not None else "the deployment"),
        ("until", utc_text(flt.until) if flt.until is not None else "the last block"),
        ("agents", ", ".join(sorted(flt.agents)) if flt.agents is not None else "all"),
        ("deals opened", str(report.deals)),
        ("deals won", str(report.won)),
        ("deals lost", str(report.lost)),
        ("win rate (won / closed)", percent_text(report.win_rate)),
        ("overdue invoices", str(len(report.overdue))),
        (
            "refunds owed (credited, not withdrawn)",
            "- (not per agent)" if report.refunds_owed is None else amounts_text(report, report.refunds_owed),
        ),
    )
    loyalty = report.loyalty
    loyalty_rows = (
        ("points minted (at release)", amount_text(loyalty.minted, POINTS)),
        ("points redeemed (burned for a discount)", amount_text(loyalty.redeemed, POINTS)),
        ("points restored (at a refund)", amount_text(loyalty.restored, POINTS)),
        (
            "points outstanding",
            "- (not per agent)" if loyalty.outstanding is None else amount_text(loyalty.outstanding, POINTS),
        ),
        ("discount bought with points", amounts_text(report, loyalty.discounts)),
    )
    offers = report.offers
    return [
        ReportTable("summary", "Summary", ("figure", "value"), summary),
        ReportTable(
            "funnel",
            "Conversion funnel",
            ("stage", "deals", "of previous", "of leads"),
            tuple(
                (stage_name(s.stage), str(s.deals), percent_text(s.of_previous), percent_text(s.of_first))
                for s in report.funnel
            ),
            "Deals opened in the window that reached each stage by the report's end.",
        ),
        ReportTable(
            "stage_times",
            "Time in stage",
            ("stage", "deals", "median", "p90", "median s", "p90 s"),
            tuple(
                (
                    stage_name(t.stage),
                    str(t.deals),
                    duration_text(t.median_seconds),
                    duration_text(t.p90_seconds),
                    seconds_text(t.median_seconds),
                    seconds_text(t.p90_seconds),
                )
                for t in report.stage_times
            ),
            "Per deal opened in the window, total time in each stage; a deal still in a stage counts up to the "
            "report's end. p90 by linear interpolation between ranks.",
        ),
        ReportTable(
            "staff",
            "Staff effectiveness",
            ("agent", "interactions", "stage moves", "deals moved", "deals won", "revenue won", "revenue won wei"),
            tuple(
                (
                    r.agent,
                    str(r.interactions),
                    str(r.stage_moves),
                    str(r.deals_moved),
                    str(r.deals_won),
                    amounts_text(report, r.revenue_won),
                    str(r.revenue_won_wei),
                )
                for r in report.staff
            ),
            "Activity in the window. A win and its value go to the deal's owner, whoever moved it. Values per "
            "currency, never added; the wei column is the ETH deals'.",
        ),
        ReportTable(
            "aging",
            "Receivables aging",
            ("bucket", "invoices", "amount", "amount wei"),
            tuple((b.label, str(b.invoices), amounts_text(report, b.amounts), str(b.amount_wei)) for b in report.aging),
            "Invoices open (unpaid on and off the chain, not cancelled) at the report's end, by whole days past "
            "due, rounded up. An invoice cancelled and re-issued counts once, as the new invoice. Amounts per "
            "currency; the wei column is the ETH invoices'.",
        ),
        ReportTable(
            "overdue",
            "Overdue invoices",
            ("invoice", "deal", "customer", "owner", "amount", "currency", "amount units", "due", "days past due"),
            tuple(
                (
                    str(o.invoice_id),
                    str(o.deal_id),
                    str(o.customer_id),
                    o.owner,
                    money_text(report, o.currency, o.amount_wei),
                    o.currency,
                    str(o.amount_wei),
                    utc_text(o.due_at),
                    str(o.days_past_due),
                )
                for o in report.overdue
            ),
        ),
        ReportTable(
            "revenue",
            "Revenue by month (UTC) and currency",
            (
                "month",
                "currency",
                "paid on-chain",
                "paid off-chain",
                "released",
                "refunded",
                "paid units",
                "paid off-chain units",
                "released units",
                "refunded units",
            ),
            tuple(
                (
                    m.month,
                    currency_name(report, m.currency),
                    money_text(report, m.currency, m.paid_wei),
                    money_text(report, m.currency, m.paid_off_chain),
                    money_text(report, m.currency, m.released_wei),
                    money_text(report, m.currency, m.refunded_wei),
                    str(m.paid_wei),
                    str(m.paid_off_chain),
                    str(m.released_wei),
                    str(m.refunded_wei),
                )
                for m in report.revenue
            ),
            "Per currency, in its own units: invoice amounts paid into escrow on the chain, recorded as paid "
            "off-chain (bank transfer, card) by a manager, released to the treasury and refunded, by month of the "
            "event. A refund is credited to the payer then, and withdrawn by them later.",
        ),
        ReportTable(
            "loyalty",
            "Loyalty points",
            ("figure", "value"),
            loyalty_rows,
            "Points minted, redeemed and restored in the window on the report's invoices; outstanding over the "
            "whole escrow at the report's end.",
        ),
        ReportTable(
            "offers",
            "Signed offers",
            ("currency", "paid on-chain", "paid off-chain", "released", "discount granted"),
            tuple(
                (
                    currency_name(report, r.currency),
                    money_text(report, r.currency, r.paid),
                    money_text(report, r.currency, r.paid_off_chain),
                    money_text(report, r.currency, r.released),
                    money_text(report, r.currency, r.discount_granted),
                )
                for r in offers.revenue
            ),
            f"{offers.accepted} offer acceptances in the window; {offers.deals} deals with an accepted offer. "
            "Revenue of those deals' invoices in the window, and the discount the offers granted.",
        ),
    ]


def check_table(checks: Sequence[Check]) -> ReportTable:
    return ReportTable(
        "verify",
        "Index against chain",
        ("KPI", "index", "chain", "match"),
        tuple(
            (
                c.kpi,
                "(none)" if c.index_value is None else c.index_value,
                "(none)" if c.chain_value is None else c.chain_value,
                "✓" if c.matches else "✗",
            )
            for c in checks
        ),
    )


# ------------------------------------------------------------------ terminal


def rich_table(source: ReportTable, *, hidden: Sequence[str] = ()) -> Table:
    keep = [i for i, column in enumerate(source.columns) if column not in hidden]
    grid = Table(title=source.title, title_justify="left")
    for i in keep:
        grid.add_column(source.columns[i], no_wrap=True)
    for row in source.rows:
        grid.add_row(*(row[i] for i in keep))
    return grid


# The exact wei and seconds columns belong in files; a person reads the ETH and duration columns.
TERMINAL_HIDDEN = (
    "median s",
    "p90 s",
    "revenue won wei",
    "amount wei",
    "currency",
    "amount units",
    "paid units",
    "paid off-chain units",
    "released units",
    "refunded units",
)


def print_report(report: Report, console: Console) -> None:
    for source in tables(report):
        if source.name != "summary" and not source.rows:
            console.print(f"[bold]{source.title}[/bold]: none")
            continue
        console.print(rich_table(source, hidden=TERMINAL_HIDDEN))
        if source.note:
            console.print(source.note, style="dim")


def print_checks(checks: Sequence[Check], console: Console) -> None:
    console.print(rich_table(check_table(checks)))


# ------------------------------------------------------------------ CSV


def write_csv(report: Report, folder: Path) -> list[Path]:
    """One CSV file per table (`funnel.csv`, `staff.csv`, ...), header row first."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for source in tables(report):
        path = folder / f"{source.name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(source.columns)
            writer.writerows(source.rows)
        written.append(path)
    return written


# ------------------------------------------------------------------ charts


def charts(report: Report) -> dict[str, bytes]:
    """PNG images by name: funnel, stage_times, staff, aging, revenue."""
    longest = max((t.p90_seconds or 0 for t in report.stage_times), default=0)
    time_unit, time_label = (86_400, "days") if longest > DAYS_FROM_HOURS * 3_600 else (3_600, "hours")
    eth_revenue = [m for m in report.revenue if m.currency == ETH]
    return {
        "funnel": _bars(
            "Conversion funnel",
            [stage_name(s.stage) for s in report.funnel],
            [("deals", [float(s.deals) for s in report.funnel], BAR_COLOUR)],
            "deals",
        ),
        "stage_times": _bars(
            "Time in stage",
            [stage_name(t.stage) for t in report.stage_times],
            [
                ("median", [(t.median_seconds or 0) / time_unit for t in report.stage_times], BAR_COLOUR),
                ("p90", [(t.p90_seconds or 0) / time_unit for t in report.stage_times], SECOND_COLOUR),
            ],
            time_label,
        ),
        "staff": _bars(
            "Staff effectiveness",
            [_short(r.agent) for r in report.staff],
            [
                ("interactions", [float(r.interactions) for r in report.staff], BAR_COLOUR),
                ("deals moved", [float(r.deals_moved) for r in report.staff], SECOND_COLOUR),
                ("deals won", [float(r.deals_won) for r in report.staff], THIRD_COLOUR),
            ],
            "count",
        ),
        "aging": _bars(
            "Receivables aging",
            [b.label for b in report.aging],
            [("open (ETH)", [_eth_float(b.amount_wei) for b in report.aging], BAR_COLOUR)],
            "ETH",
        ),
        "revenue": _bars(
            "Revenue by month (ETH)",
            [m.month for m in eth_revenue],
            [
                ("paid", [_eth_float(m.paid_wei + m.paid_off_chain) for m in eth_revenue], BAR_COLOUR),
                ("released", [_eth_float(m.released_wei) for m in eth_revenue], SECOND_COLOUR),
                ("refunded", [_eth_float(m.refunded_wei) for m in eth_revenue], THIRD_COLOUR),
            ],
            "ETH",
        ),
    }


def write_charts(report: Report, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, png in charts(report).items():
        path = folder / f"{name}.png"
        path.write_bytes(png)
        written.append(path)
    return written


def _short(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}"


def _eth_float(wei: int) -> float:
    return float(Decimal(wei) / WEI_PER_ETH)


def _bars(title: str, labels: list[str], series: list[tuple[str, list[float], str]], unit: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=CHART_SIZE_INCHES, dpi=CHART_DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(title, loc="left")
    axes.set_ylabel(unit)
    if not labels:
        axes.text(0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes)
        axes.set_xticks([])
    else:
        width = 0.8 / len(series)
        positions = range(len(labels))
        for k, (name, values, colour) in enumerate(series):
            offsets = [p - 0.4 + width * (k + 0.5) for p in positions]
            axes.bar(offsets, values, width=width, label=name, color=colour)
        if unit in ("deals", "count"):
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xticks(list(positions), labels)
        if len(series) > 1:
            axes.legend(frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# ------------------------------------------------------------------ HTML

_CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d2630;
       margin: 2em auto; max-width: 1100px; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.1em; margin-top: 2em; border-bottom: 1px solid #d8dee4; padding-bottom: .2em; }
p.meta { color: #57606a; margin-top: 0; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { padding: .25em .8em; border-bottom: 1px solid #eaeef2; text-align: left; white-space: nowrap; }
th { background: #f6f8fa; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; display: block; margin: .6em 0; }
.none { color: #57606a; font-style: italic; }
.bad { color: #b42318; font-weight: 600; }
.good { color: #1a7f37; font-weight: 600; }
"""

_CHART_FOR = {
    "funnel": "funnel",
    "stage_times": "stage_times",
    "staff": "staff",
    "aging": "aging",
    "revenue": "revenue",
}  # the charts show ETH; the tables every currency


def html_report(report: Report, checks: Sequence[Check] | None = None) -> str:
    """The whole report as one self-contained HTML page."""
    images = charts(report)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>chaincrm report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>chaincrm report</h1>",
        f'<p class="meta">As of {html.escape(utc_text(report.as_of))}, block {report.end_block}. '
        "Every figure is computed from contract events and can be recomputed from the chain "
        "(<code>chaincrm report --verify</code>).</p>",
    ]
    for source in tables(report):
        parts.append(f"<h2>{html.escape(source.title)}</h2>")
        chart = _CHART_FOR.get(source.name)
        if chart is not None:
            encoded = base64.b64encode(images[chart]).decode("ascii")
            parts.append(f'<img alt="{html.escape(source.title)}" src="data:image/png;base64,{encoded}">')
        parts.append(_html_table(source))
        if source.note:
            parts.append(f'<p class="meta">{html.escape(source.note)}</p>')
    if checks is not None:
        source = check_table(checks)
        parts.append(f"<h2>{html.escape(source.title)}</h2>")
        parts.append(_html_table(source))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html(report: Report, path: Path, checks: Sequence[Check] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html_report(report, checks), encoding="utf-8")
    return path


def _html_table(source: ReportTable) -> str:
    if not source.rows:
        return '<p class="none">none</p>'
    head = "".join(f"<th>{html.escape(column)}</th>" for column in source.columns)
    body = []
    for row in source.rows:
        cells = []
        for cell in row:
            css = _cell_class(cell)
            cells.append(f"<td{css}>{html.escape(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell_class(cell: str) -> str:
    if cell == "✓":
        return ' class="good"'
    if cell == "✗":
        return ' class="bad"'
    if cell.replace(".", "", 1).replace("%", "").isdigit() or cell.endswith(" ETH"):
        return ' class="num"'
    return ""
