"""The demo's payment reminders: a real SMTP server on loopback (aiosmtpd), the keeper's pass as an
agent who reads its customers' profiles, the reminders recorded on-chain, the e-mails received.

The e-mails go only to the local server started here, which keeps them in memory; the demo prints
how many arrived and their subjects, never an address.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from rich.console import Console

from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.models import InteractionKind
from chaincrm.privacy.customers import CustomerData
from chaincrm.services.anvil import free_port

SCHEDULE = """
[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
sender = "Billing <billing@chaincrm.invalid>"
retries = 1

[[level]]
name = "due-soon"
days_before_due = 3
channels = ["email"]

[[level]]
name = "due"
days_after_due = 0
channels = ["email"]

[[level]]
name = "overdue"
days_after_due = 7
channels = ["email"]
subject = "Invoice {{invoice_id}} is overdue"

[[level]]
name = "final-notice"
days_after_due = 14
channels = ["email"]
subject = "Final notice: invoice {{invoice_id}}"
"""


@dataclass
class _Inbox:
    """aiosmtpd's handler: keeps what the server accepted."""

    subjects: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        from email import message_from_bytes

        message = message_from_bytes(envelope.content)
        self.subjects.append(str(message["Subject"]))
        return "250 Message accepted for delivery"


def send_reminders(console: Console, settings: Settings, crm: Crm, data: CustomerData, keeper: LocalAccount) -> None:
    """Index the chain, run one keeper pass against a local SMTP server, show what arrived and what
    the chain recorded; a second pass shows that nothing goes out twice."""
    from aiosmtpd.controller import Controller

    from chaincrm.automation.journal import Journal
    from chaincrm.automation.keeper import Keeper
    from chaincrm.automation.schedule import parse_schedule
    from chaincrm.automation.sources import Sources
    from chaincrm.index.indexer import Indexer

    inbox = _Inbox()
    port = free_port()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    try:
        with Indexer.from_settings(settings, confirmations=0) as indexer:
            indexer.sync_once()
        schedule = parse_schedule(SCHEDULE.format(port=port), "the demo's schedule")
        sources = Sources(crm, None, settings.home)
        with tempfile.TemporaryDirectory(prefix="chaincrm-demo-journal-") as folder:
            journal = Journal(Path(folder) / "reminders-journal.sqlite")
            runner = Keeper(crm, data, keeper, schedule, sources, journal)
            try:
                first = runner.pass_once()
                second = runner.pass_once()
            finally:
                runner.close()
                journal.close()
                sources.close()
    finally:
        server.stop()
    batches = {tx_hash.removeprefix("0x") for tx_hash in first.tx_hashes}
    records = [
        entry
        for entry in crm.registry.interactions()
        if entry.tx_hash.removeprefix("0x") in batches and entry.kind is InteractionKind.REMINDER
    ]
    console.print(
        f"[bold]Reminders[/]: the keeper ({keeper.address}, an agent who reads its customers' profiles) found "
        f"{first.open_invoices} open invoices; {first.line()}"
    )
    console.print(
        f"  the local SMTP server (aiosmtpd on 127.0.0.1:{port}) received {len(inbox.subjects)} e-mails, e.g. "
        f"{inbox.subjects[0]!r}; the keeper's batch holds {len(records)} records of kind reminder by "
        f"{keeper.address[:10]}… (a content hash each, nothing personal); a second pass: {second.line()}"
        if inbox.subjects
        else f"  the local SMTP server received no e-mail: {first.line()}"
    )
    if not inbox.subjects or len(records) != first.recorded or second.emails_sent or second.recorded:
        raise AssertionError("the reminder story did not go as told: see the lines above")
