"""`chaincrm automate` through the console script, on the CLI tests' stack (deployment record and
keystores in a home): one pass with --once, its one-line summary and --json; a bad schedule file is
one line naming the key and the line, before anything is unlocked or sent."""

from __future__ import annotations

from pathlib import Path

from chaincrm.contracts.client import Crm
from chaincrm.models import InteractionKind
from tests.automation.conftest import SmtpServer, schedule_text
from tests.cli.conftest import (  # noqa: F401 - fixtures
    Accounts,
    Cli,
    accounts,
    advance_time,
    cli,
    crm,
    customer_id,
    deal_id,
    invoice_id,
    proposed_customer_id,
    pytest_configure,
    settings,
    snapshot,
    store,
)

DAY = 86_400


def test_automate_once_sends_the_reminder_and_prints_one_line(
    cli: Cli,  # noqa: F811
    crm: Crm,  # noqa: F811
    accounts: Accounts,  # noqa: F811
    invoice_id: int,  # noqa: F811
    smtp: SmtpServer,
    tmp_path: Path,
) -> None:
    schedule = tmp_path / "automation.toml"
    schedule.write_text(schedule_text(smtp.port))
    database = tmp_path / "index.sqlite"
    advance_time(crm, 30 * DAY)
    options = ("--schedule", schedule, "--keystore", accounts.agent.address, "--database", database)
    first = cli("automate", *options, "--once", "--sync")
    assert first.exit_code == 0, first.stderr
    assert first.stdout.startswith("1 reminder recorded in 1 batch (tx 0x")
    assert "1 e-mail sent" in first.stdout
    assert (database.parent / "reminders-journal.sqlite").exists()
    again = cli("automate", *options, "--once", "--sync", "--json").json()
    assert (again["recorded"], again["emails_sent"]) == (0, 0)
    assert [str(m["To"]) for m in smtp.messages] == ["ada.okafor@example.org"]
    reminders = [i for i in crm.registry.interactions() if i.kind == InteractionKind.REMINDER]
    assert [i.author for i in reminders] == [accounts.agent.address]


def test_a_bad_schedule_file_is_one_line_naming_the_key_and_line(cli: Cli, tmp_path: Path) -> None:  # noqa: F811
    schedule = tmp_path / "automation.toml"
    schedule.write_text(schedule_text(2525).replace("days_after_due = 7", "days_after_due = -7"))
    run = cli("automate", "--schedule", schedule, "--once")
    assert run.error == f"error: {schedule} line 22: level[3].days_after_due: must be from 0 to 3650 days"
    schedule.write_text(schedule_text(2525).replace('name = "due"', 'name = "due"\nwhen = 1'))
    assert "line 18: level[2].when: unknown key" in cli("automate", "--schedule", schedule, "--once").error
    schedule.write_text("[smtp\nhost = 1\n")
    assert "line 1:" in cli("automate", "--schedule", schedule, "--once").error
