"""`chaincrm index`: follow the contracts' events into the off-chain index (SQLite or PostgreSQL).

A thin layer over :class:`chaincrm.index.indexer.Indexer`: one pass by default, or `--follow` until
Ctrl-C. Progress goes to stderr (a bar on a terminal), the summary to stdout.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from chaincrm.cli.context import DATABASE_ENV, App, json_option, pass_app
from chaincrm.cli.output import console, emit, facts
from chaincrm.errors import ConfigError
from chaincrm.index.indexer import (
    DEFAULT_CONFIRMATIONS,
    DEFAULT_INITIAL_RANGE_BLOCKS,
    DEFAULT_MAX_RANGE_BLOCKS,
    DEFAULT_POLL_SECONDS,
    Indexer,
    SyncProgress,
    SyncReport,
    database_url,
)

CONFIRMATIONS_ENV = "CHAINCRM_INDEX_CONFIRMATIONS"


class _Bar:
    """A progress bar over the blocks of a pass, on stderr, drawn only on a terminal."""

    def __init__(self) -> None:
        err = console(err=True)
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if err.is_terminal:
            self._progress = Progress(
                TextColumn("indexing blocks"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rows]:,} rows"),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            )

    def __enter__(self) -> _Bar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, progress: SyncProgress) -> None:
        if self._progress is None:
            return
        total = progress.head - progress.first_block + 1
        done = progress.block - progress.first_block + 1
        if self._task is None:
            self._task = self._progress.add_task("index", total=total, rows=0)
        self._progress.update(self._task, total=total, completed=done, rows=progress.rows)

    def pass_done(self) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None


@dataclass
class _Totals:
    passes: int = 0
    rows: int = 0
    interactions: int = 0
    logs: int = 0
    foreign_logs: int = 0
    batches_checked: int = 0
    batch_records: int = 0
    seconds: float = 0.0
    rolled_back_from: list[int] = field(default_factory=list)
    last: SyncReport | None = None

    def add(self, report: SyncReport) -> None:
        self.passes += 1
        self.rows += report.rows
        self.interactions += report.interactions
        self.logs += report.logs
        self.foreign_logs += report.foreign_logs
        self.batches_checked += report.batches_checked
        self.batch_records += report.batch_records
        self.seconds += report.seconds
        if report.rolled_back_from is not None:
            self.rolled_back_from.append(report.rolled_back_from)
        self.last = report


@click.command(
    name="index",
    help="Follow the CRM contracts' events into the off-chain index: a SQLite file by default, PostgreSQL "
    "by URL. Blocks behind --confirmations are final; newer rows are provisional and undone by a reorg. "
    "Runs one pass, or keeps following new blocks with --follow (Ctrl-C stops cleanly). Only logs the "
    "deployment's own contracts emitted are indexed; a look-alike from another address is counted "
    "(foreign_logs) and ignored. Anchored interaction batches are read from the IPFS service and checked "
    "(batches_checked, batch_records); one whose document is not there yet (batches_unavailable) is tried "
    "again on every later pass.",
)
@click.option(
    "--database",
    envvar=DATABASE_ENV,
    metavar="URL|PATH",
    help=f"SQLite file or SQLAlchemy URL (postgresql://user@host/db) [env {DATABASE_ENV}; "
    "default <home>/index.sqlite].",
)
@click.option(
    "--confirmations",
    envvar=CONFIRMATIONS_ENV,
    type=click.IntRange(min=0),
    default=DEFAULT_CONFIRMATIONS,
    show_default=True,
    help=f"Blocks behind the head before a block is final [env {CONFIRMATIONS_ENV}].",
)
@click.option("--follow", is_flag=True, help="Keep following new blocks until Ctrl-C.")
@click.option(
    "--poll",
    "poll_seconds",
    type=click.FloatRange(min=0.05),
    default=DEFAULT_POLL_SECONDS,
    show_default=True,
    help="Seconds between passes with --follow.",
)
@click.option(
    "--max-range",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_RANGE_BLOCKS,
    show_default=True,
    help="Most blocks asked for in one eth_getLogs (the range halves when the node refuses it).",
)
@json_option
@pass_app
def index_command(
    app: App,
    database: str | None,
    confirmations: int,
    follow: bool,
    poll_seconds: float,
    max_range: int,
    as_json: bool,
) -> None:
    if database is not None:
        _check_folder(database)
    bar = _Bar()
    totals = _Totals()
    stopped = False
    indexer = Indexer.from_settings(
        app.settings,
        database,
        confirmations=confirmations,
        initial_range=min(DEFAULT_INITIAL_RANGE_BLOCKS, max_range),
        max_range=max_range,
        on_progress=bar.update,
    )

    def on_pass(report: SyncReport) -> None:
        bar.pass_done()
        totals.add(report)
        if follow and not as_json and (report.rows or report.rolled_back_from is not None):
            click.echo(_pass_line(report), err=True)

    with indexer, bar:
        if follow:
            try:
                indexer.follow(poll_seconds=poll_seconds, stop=threading.Event(), on_pass=on_pass)
            except KeyboardInterrupt:  # the range being written was rolled back; the rest stays
                stopped = True
        else:
            on_pass(indexer.sync_once())
        state = indexer.state()
        where = indexer.where

    summary: dict[str, Any] = {
        "database": where,
        "chain_id": state.chain_id if state else None,
        "last_block": state.last_block if state else None,
        "last_final_block": state.last_final_block if state else None,
        "confirmations": confirmations,
        "passes": totals.passes,
        "logs": totals.logs,
        "foreign_logs": totals.foreign_logs,
        "rows": totals.rows,
        "interactions": totals.interactions,
        "batches_checked": totals.batches_checked,
        # still without their document after the last pass (each pass tries them again)
        "batches_unavailable": totals.last.batches_unavailable if totals.last else 0,
        "batch_records": totals.batch_records,
        "rolled_back_from": totals.rolled_back_from,
        "seconds": round(totals.seconds, 3),
        "stopped": stopped,
    }

    def human(out: Console) -> None:
        shown = {key: value for key, value in summary.items() if key != "rolled_back_from"}
        if totals.rolled_back_from:
            shown["rolled back from blocks"] = ", ".join(map(str, totals.rolled_back_from))
        out.print(facts("Index", shown))

    emit(summary, as_json, human)


def _check_folder(database: str) -> None:
    """A SQLite file given by --database goes into a folder that exists: a typo is refused, not
    created (the default <home>/index.sqlite is created with its home)."""
    url = database_url(database)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    folder = Path(str(url.database)).expanduser().parent
    if not folder.is_dir():
        raise ConfigError(f"--database {database}: the folder {folder} does not exist (create it first)")


def _pass_line(report: SyncReport) -> str:
    line = f"blocks {report.first_block}..{report.last_block}: {report.rows:,} rows"
    if report.batch_records:
        line += f" ({report.batch_records:,} interactions from {report.batches_checked} anchored batch(es))"
    if report.batches_unavailable:
        line += f", {report.batches_unavailable} anchored batch(es) without their document yet"
    if report.foreign_logs:
        line += f", {report.foreign_logs} log(s) from other contracts ignored"
    if report.rolled_back_from is not None:
        line += f" (rolled back from block {report.rolled_back_from} after a reorg)"
    return line


__all__ = ["index_command"]
