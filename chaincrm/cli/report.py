"""`chaincrm report`: KPIs for managers as terminal tables, CSV, PNG charts or one HTML file,
read from the event index, and `--verify` to recompute every figure straight from the chain.

Branches are on chain (`chaincrm branch`): `--branch lisbon` keeps the agents who were staff of the
branch at some moment of the window, from the directory's events in the index (or the chain's logs
with `--source chain`). `--agent` and `--branch` may be repeated; the report keeps the union.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from chaincrm.cli.context import ADDRESS, DATABASE_ENV, App, json_option, pass_app
from chaincrm.cli.files import check_writable, check_writable_folder
from chaincrm.cli.output import console, emit, working
from chaincrm.contracts.branches import branches_address
from chaincrm.currency import tokens_info
from chaincrm.index.branches import roster_from_database
from chaincrm.reports.figures import compute, report_currencies, with_tokens
from chaincrm.reports.filters import BRANCH_MEMBERSHIP, ReportFilter, agents_for
from chaincrm.reports.history import history_from_chain, history_from_database
from chaincrm.reports.reconcile import reconcile_with_chain
from chaincrm.reports.render import (
    checks_json,
    print_checks,
    print_report,
    report_json,
    write_charts,
    write_csv,
    write_html,
)

if TYPE_CHECKING:
    from chaincrm.storage import KuboStore


def _batch_store(app: App) -> KuboStore:
    """The settings' IPFS service, read with the indexer's limits: where the chain side reads the
    documents of anchored interaction batches."""
    from chaincrm.batches.chain_records import batch_document_store

    return batch_document_store(app.settings.ipfs_api)


class MomentType(click.ParamType):
    """A UTC date (`2026-01-31`), date and time (`2026-01-31T12:00`, UTC unless an offset is given)
    or Unix seconds. A date alone means its first second for --since and its last for --until."""

    name = "date"

    def __init__(self, *, end_of_day: bool) -> None:
        self.end_of_day = end_of_day

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if text.isdigit():
            return int(text)
        try:
            day = date.fromisoformat(text)
        except ValueError:
            pass
        else:
            if self.end_of_day:
                return int(datetime.combine(day + timedelta(days=1), time(), UTC).timestamp()) - 1
            return int(datetime.combine(day, time(), UTC).timestamp())
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is not a date (2026-01-31, 2026-01-31T12:00 or Unix seconds)", param, ctx)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp())


@click.command(
    name="report",
    help="KPIs from the event index: conversion funnel, win rate, time in stage (median, p90), staff "
    "effectiveness, receivables aging and overdue invoices (a cancelled and re-issued invoice counts once), "
    "revenue by month (refunds when credited), refunds owed (credited, not withdrawn). Prints tables; --csv, "
    "--png and --html write files. --verify recomputes every figure from the chain's logs and compares.",
)
@click.option(
    "--since", type=MomentType(end_of_day=False), help="Window start (inclusive): 2026-01-01, ISO time or Unix s."
)
@click.option("--until", type=MomentType(end_of_day=True), help="Window end (inclusive; a date means its whole day).")
@click.option(
    "--agent", "agents", type=ADDRESS, multiple=True, help="Only this agent's deals and activity (repeatable)."
)
@click.option(
    "--branch",
    "branches",
    multiple=True,
    metavar="NAME",
    help=f"Only the agents of this on-chain branch, by name or id (repeatable): {BRANCH_MEMBERSHIP}.",
)
@click.option(
    "--source",
    type=click.Choice(["index", "chain"]),
    default="index",
    show_default=True,
    help="Read the event index, or the chain's logs directly (slower, needs no index).",
)
@click.option(
    "--database",
    envvar=DATABASE_ENV,
    metavar="URL|PATH",
    help="The index: a database URL (sqlite:///FILE, postgresql://...) or a SQLite file "
    f"[env {DATABASE_ENV}; default <home>/index.sqlite].",
)
@click.option("--csv", "csv_dir", type=click.Path(path_type=Path, file_okay=False), help="Write a CSV per table here.")
@click.option("--png", "png_dir", type=click.Path(path_type=Path, file_okay=False), help="Write the charts here (PNG).")
@click.option(
    "--html", "html_file", type=click.Path(path_type=Path, dir_okay=False), help="Write one self-contained HTML report."
)
@click.option(
    "--verify",
    "check",
    is_flag=True,
    help="Recompute every KPI from the chain (eth_getLogs from the deployment block, no index) at the index's "
    "block and print index value, chain value and ✓/✗; exit 1 on any mismatch. Always reads the index.",
)
@json_option
@pass_app
def report_command(
    app: App,
    since: int | None,
    until: int | None,
    agents: tuple[str, ...],
    branches: tuple[str, ...],
    source: str,
    database: str | None,
    csv_dir: Path | None,
    png_dir: Path | None,
    html_file: Path | None,
    check: bool,
    as_json: bool,
) -> None:
    if csv_dir is not None:
        check_writable_folder(csv_dir, "the CSV folder")
    if png_dir is not None:
        check_writable_folder(png_dir, "the chart folder")
    if html_file is not None:
        check_writable(html_file, "the HTML report", create_folder=True)
    ReportFilter(since=since, until=until)  # a window the wrong way round stops here, before any read
    if branches:
        branches_address(app.crm.deployment)  # a record from before branches: one line
    with working("Reading events"):
        from_chain = source == "chain" and not check
        chain_store = _batch_store(app) if from_chain or check else None
        if from_chain:
            history = history_from_chain(app.crm, store=chain_store)
        else:
            history = history_from_database(database, app.crm.deployment, home=app.settings.home)
        roster = None
        if branches and from_chain:
            roster = app.crm.branches.roster(app.crm.deployment.block_number, history.end_block)
        elif branches:
            roster = roster_from_database(database, home=app.settings.home, to_block=history.end_block)
        chosen = agents_for(agents, branches, roster, since=since, until=until)
        report_filter = ReportFilter(since=since, until=until, agents=chosen)
        report = compute(history, report_filter)
        report = with_tokens(report, tokens_info(app.crm.chain, report_currencies(report)).values())
        checks = reconcile_with_chain(app.crm, history, report, store=chain_store) if check else None
        if chain_store is not None:
            chain_store.close()
    written = []
    if csv_dir is not None:
        written += write_csv(report, csv_dir)
    if png_dir is not None:
        written += write_charts(report, png_dir)
    if html_file is not None:
        written.append(write_html(report, html_file, checks))

    data: dict[str, Any] = report_json(report) | {"files": [str(path) for path in written]}
    if checks is not None:
        data["verify"] = checks_json(checks)

    def human(out: Any) -> None:
        if checks is not None:
            print_checks(checks, out)
        else:
            print_report(report, out)
        for path in written:
            out.print(f"wrote {path}")

    emit(data, as_json, human)
    if checks is not None:
        wrong = [c for c in checks if not c.matches]
        if wrong:
            console(err=True).print(
                f"error: {len(wrong)} of {len(checks)} figures differ between the index and the chain "
                f"(block {history.end_block})"
            )
            sys.exit(1)
