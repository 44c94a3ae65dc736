"""`chaincrm automate`: the payment-reminder keeper (see :mod:`chaincrm.automation`).

One pass with --once (for cron), else a pass every --poll seconds until Ctrl-C. Each pass prints one
line (or one JSON object with --json) to stdout.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import click

from chaincrm.cli.context import (
    DATABASE_ENV,
    INTEGRATION_DATABASE_ENV,
    App,
    check_database_folder,
    json_option,
    keystore_option,
    pass_app,
)

SCHEDULE_ENV = "CHAINCRM_REMINDER_SCHEDULE"
JOURNAL_ENV = "CHAINCRM_REMINDER_JOURNAL"


@click.command(
    name="automate",
    help="Send payment reminders by the schedule's levels (TOML, see examples/automation.toml): each reminder "
    "is recorded on-chain as an interaction of kind reminder by --keystore (an agent who can read the "
    "customers' profiles), then e-mailed over SMTP and/or queued as an invoice.reminder webhook event, "
    "exactly once across restarts and keepers. Reads the index (run `chaincrm index --follow`, or pass "
    "--sync). The SMTP password comes from the environment variable the schedule names.",
)
@click.option(
    "--schedule",
    "schedule_path",
    envvar=SCHEDULE_ENV,
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"The schedule file (TOML) [env {SCHEDULE_ENV}].",
)
@keystore_option
@click.option(
    "--database",
    envvar=DATABASE_ENV,
    metavar="URL|PATH",
    help=f"The event index [env {DATABASE_ENV}; default <home>/index.sqlite].",
)
@click.option(
    "--journal",
    "journal_path",
    envvar=JOURNAL_ENV,
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"The keeper's journal (SQLite) [env {JOURNAL_ENV}; default beside the index, else <home>].",
)
@click.option(
    "--integration-database",
    envvar=INTEGRATION_DATABASE_ENV,
    metavar="URL|PATH",
    help=f"Where the webhooks' outbox is [env {INTEGRATION_DATABASE_ENV}; default <home>/integration.sqlite].",
)
@click.option("--once", is_flag=True, help="Run one pass and exit (for cron).")
@click.option("--sync", is_flag=True, help="Run one indexer pass before each keeper pass.")
@click.option(
    "--poll",
    "poll_seconds",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds between passes without --once.",
)
@json_option
@pass_app
def automate_command(
    app: App,
    schedule_path: Path,
    keystore: str | None,
    database: str | None,
    journal_path: Path | None,
    integration_database: str | None,
    once: bool,
    sync: bool,
    poll_seconds: float,
    as_json: bool,
) -> None:
    from chaincrm.api.database import open_integration
    from chaincrm.automation.journal import Journal, default_journal_path
    from chaincrm.automation.keeper import Keeper, PassReport
    from chaincrm.automation.schedule import load_schedule
    from chaincrm.automation.sources import Sources
    from chaincrm.index.database import sqlite_file
    from chaincrm.index.indexer import Indexer
    from chaincrm.webhooks import store as webhook_tables

    schedule = load_schedule(schedule_path)  # a bad file stops here, before anything is unlocked or sent
    check_database_folder(database, "--database")
    check_database_folder(integration_database, "--integration-database")
    signer = app.signer(keystore)
    crm = app.crm
    home = app.settings.home
    sources = Sources(crm, database, home)
    journal = Journal(journal_path or default_journal_path(sqlite_file(sources.engine), home))
    wants_webhooks = any(level.webhooks for level in schedule.levels)
    integration = open_integration(integration_database, home, webhook_tables.metadata) if wants_webhooks else None
    indexer = Indexer(crm.chain, crm.deployment, sources.engine, home=home) if sync else None
    keeper = Keeper(crm, app.customers, signer.account, schedule, sources, journal, integration=integration)
    stop = threading.Event()

    def show(report: PassReport) -> None:
        if as_json:
            click.echo(json.dumps(report.fields(), sort_keys=True))
        else:
            click.echo(report.line())

    try:
        while True:
            if indexer is not None:
                indexer.sync_once()
            show(keeper.pass_once())
            if once or stop.wait(poll_seconds):
                break
    except KeyboardInterrupt:  # between two journal writes: the next start resumes from the journal
        pass
    finally:
        keeper.close()
        journal.close()
        sources.close()
        if integration is not None:
            integration.dispose()


__all__ = ["automate_command"]
