"""Fixtures for the reminder keeper: the SDK's session Anvil and module deployment, the session's
IPFS node, a real SMTP server (aiosmtpd) on loopback, an index over a SQLite file in the test's
folder, and keepers built over them.

``world`` (function, under an Anvil snapshot): customers with readable profiles, open invoices, and
a ``keeper(account)`` factory; ``world.sync()`` runs one indexer pass, ``world.travel(days)`` moves
the chain's clock (evm_increaseTime + evm_mine)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chaincrm.api.database import open_integration
from chaincrm.automation.journal import Journal
from chaincrm.automation.keeper import Keeper
from chaincrm.automation.mailer import Mailer
from chaincrm.automation.schedule import Schedule, parse_schedule
from chaincrm.automation.sources import Sources
from chaincrm.chain import Chain
from chaincrm.contracts.client import Crm
from chaincrm.index.indexer import Indexer
from chaincrm.models import Purpose, Role, Stage
from chaincrm.privacy import CustomerProfile
from chaincrm.privacy.customers import CustomerData
from chaincrm.services.anvil import free_port
from chaincrm.storage import KuboStore
from chaincrm.webhooks import store as webhook_tables
from tests.sdk.conftest import Staff, anvil_node, chain, crm, snapshot, staff  # noqa: F401 - fixtures
from tests.sdk.ipfs_fixtures import document_store, ipfs_node  # noqa: F401 - fixtures

DAY = 86_400
DEAL_VALUE_WEI = 2 * 10**18
PATH_TO_WON = (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON)


def schedule_text(port: int, *, retries: int = 2) -> str:
    return f"""
[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
sender = "billing@crm.example"
retries = {retries}
retry_seconds = 0.05
timeout_seconds = 2

[[level]]
name = "due-soon"
days_before_due = 3
channels = ["email", "webhook"]

[[level]]
name = "due"
days_after_due = 0

[[level]]
name = "overdue"
days_after_due = 7
subject = "Invoice {{invoice_id}} is overdue"
"""


@dataclass
class _Inbox:
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        with self.lock:
            self.messages.append(message_from_bytes(envelope.original_content))
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on a free loopback port; `stop()` and `start()` take it down and up on that port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = _Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[Message]:
        with self.inbox.lock:
            return list(self.inbox.messages)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class World:
    crm: Crm
    chain: Chain
    staff: Staff
    store: KuboStore
    folder: Path
    smtp: SmtpServer
    indexer: Indexer
    schedule: Schedule
    made: list[Any] = field(default_factory=list)
    wallets: dict[int, LocalAccount] = field(default_factory=dict)

    @property
    def customers(self) -> CustomerData:
        return CustomerData(self.crm, self.store)

    def customer(self, profile: CustomerProfile, agent: LocalAccount | None = None) -> int:
        """A customer registered by `agent` (default: the agent) with its own funded wallet bound
        (the invoice's payer)."""
        wallet: LocalAccount = Account.create()
        self.crm.chain.transfer(wallet.address, 5 * 10**18, self.staff.admin)
        data = self.customers
        customer_id = data.add(profile, wallet=wallet.address, purpose=Purpose.BILLING, agent=agent or self.staff.agent)
        data.approve_wallet(customer_id.customer_id, wallet.address, self.staff.manager)
        data.accept_wallet(customer_id.customer_id, wallet)
        self.wallets[customer_id.customer_id] = wallet
        return customer_id.customer_id

    def invoice(self, customer_id: int, agent: LocalAccount | None = None) -> int:
        owner = agent or self.staff.agent
        deal_id = self.crm.pipeline.open_deal(customer_id, owner.address, DEAL_VALUE_WEI, owner)
        for stage in PATH_TO_WON:
            self.crm.pipeline.move(deal_id, stage, owner)
        return self.crm.pipeline.invoices_of(deal_id)[-1]

    def sync(self) -> None:
        self.indexer.sync_once()

    def travel(self, days: float) -> None:
        provider = self.chain.w3.provider
        provider.make_request("evm_increaseTime", [int(days * DAY)])  # type: ignore[arg-type]
        provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def keeper(self, account: LocalAccount, journal: str = "journal", schedule: Schedule | None = None) -> Keeper:
        sources = Sources(self.crm, self.indexer.engine, self.folder)
        kept = Journal(self.folder / f"{journal}.sqlite")
        integration = open_integration(self.folder / "integration.sqlite", self.folder, webhook_tables.metadata)
        chosen = schedule or self.schedule
        assert chosen.smtp is not None
        keeper = Keeper(
            self.crm,
            self.customers,
            account,
            chosen,
            sources,
            kept,
            integration=integration,
            mailer=Mailer(chosen.smtp, sleep=lambda _s: None),
        )
        self.made.append((keeper, kept, integration))
        return keeper

    def close(self) -> None:
        for keeper, kept, integration in self.made:
            keeper.close()
            kept.close()
            integration.dispose()


@pytest.fixture
def world(
    snapshot: None,  # noqa: F811
    crm: Crm,  # noqa: F811
    chain: Chain,  # noqa: F811
    staff: Staff,  # noqa: F811
    document_store: KuboStore,  # noqa: F811
    smtp: SmtpServer,
    tmp_path: Path,
) -> Iterator[World]:
    crm.registry.grant_role(Role.AGENT, staff.manager.address, staff.admin)  # the second keeper records too
    indexer = Indexer(chain, crm.deployment, tmp_path / "index.sqlite", confirmations=0)
    made = World(crm, chain, staff, document_store, tmp_path, smtp, indexer, parse_schedule(schedule_text(smtp.port)))
    try:
        yield made
    finally:
        made.close()
        indexer.close()
