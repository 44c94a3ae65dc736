"""Fixtures for the staff console's tests (HTTP here, Chromium in ``browser/``).

The console's tests run on a stack of their own (Anvil + the embedded IPFS node, the CRM deployed:
the fixtures of ``tests.cli.conftest`` imported here, so this folder gets its own instances),
because they move the chain's clock forward to make an invoice overdue, which the portal's tests
must not see.

- ``console_server`` (session): the portal served with the console for the agent (its keystore
  unlocked as ``--staff --keystore`` does) and its access ``token``; seeded with customers the
  agent reads (``ada_id`` = "Ada Okafor", ``bruno_id`` = "Bruno Tavares"), one it does not
  (``carla_id`` = "Carla Mendes", registered by the marketer), an invoice 10 days past due
  (``overdue_invoice_id``) and a few deals across the board's columns.
- ``staff``: an httpx client holding a console session (the token exchanged for the cookie), with
  the page's CSRF token in ``staff.csrf``.
- helpers: :func:`new_deal`, :func:`open_url`.

As in the portal's tests, the chain only moves forward (the index follows it); each test that
moves a deal opens its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from eth_account.signers.local import LocalAccount

from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.models import LossReason, Purpose, Stage
from chaincrm.portal import PortalConfig
from chaincrm.portal.state import Portal
from chaincrm.privacy import CustomerProfile
from chaincrm.privacy.customers import CustomerData
from chaincrm.storage import KuboStore
from tests.cli.conftest import (  # noqa: F401 - fixtures (this folder's own instances) and the warning filter
    PASSWORD,
    PROFILE,
    Accounts,
    accounts,
    advance_time,
    crm,
    pytest_configure,
    settings,
    store,
)
from tests.portal.conftest import indexed_up_to, local_config, new_invoice, serve
from tests.support import no_unexpected_errors

TOKEN = "console-test-token-" + "x" * 32  # fixed, so a test can also offer a wrong one
DEAL_VALUE_WEI = 125 * 10**16  # 1.25 ETH: below the approval threshold, so the agent may close it as won
DAY_SECONDS = 86_400
OVERDUE_BY_DAYS = 10
PAYMENT_TERM_DAYS = 30  # the deployment's default payment term
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@dataclass(frozen=True)
class ConsoleServer:
    url: str  # the portal's origin; the console is at url + "/staff/"
    token: str
    app_config: PortalConfig
    portal: Portal
    settings: Settings
    crm: Crm
    store: KuboStore
    staff: LocalAccount  # the agent
    other_agent: LocalAccount  # the marketer: an agent whose deals the staff member may not move
    manager: LocalAccount
    ada_id: int
    bruno_id: int
    carla_id: int
    overdue_invoice_id: int

    def deal_stage(self, deal_id: int) -> Stage:
        return self.crm.pipeline.deal(deal_id).stage

    def indexed(self) -> None:
        """Wait until the index holds the chain's newest block."""
        indexed_up_to(self.url, self.crm.chain.block_number())


def customer_named(
    crm: Crm,  # noqa: F811
    store: KuboStore,  # noqa: F811
    name: str,
    registrar: LocalAccount,
    manager: LocalAccount,
    wallet: LocalAccount | None,
) -> int:
    """A customer registered by `registrar` (a sales grant), its wallet (if any) accepted and the
    profile re-sealed for it."""
    data = CustomerData(crm, store)
    ref = data.add(
        CustomerProfile(name=name, email=f"{name.split()[0].lower()}@example.org"),
        wallet=wallet.address if wallet else None,
        purpose=Purpose.SALES,
        agent=registrar,
    )
    if wallet is not None:
        data.approve_wallet(ref.customer_id, wallet.address, manager)
        data.accept_wallet(ref.customer_id, wallet)
        data.reseal(ref.customer_id, registrar)
    return ref.customer_id


def new_deal(
    server: ConsoleServer, customer_id: int, stage: Stage = Stage.LEAD, owner: LocalAccount | None = None
) -> int:
    """A deal of `owner` (the staff member by default) moved to `stage`, indexed."""
    agent = owner or server.staff
    server.crm.chain.nonces.reset(agent.address)  # the console sends with the same key
    deal_id = server.crm.pipeline.open_deal(customer_id, agent.address, DEAL_VALUE_WEI, agent)
    path = (Stage.LEAD, Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON)
    for step in path[1 : path.index(stage) + 1]:
        server.crm.pipeline.move(deal_id, step, agent)
    server.indexed()
    return deal_id


def open_url(server: ConsoleServer, path: str = "/staff/") -> str:
    """The URL `chaincrm serve --staff` prints: the page with the access token."""
    return f"{server.url}{path}?token={server.token}"


@pytest.fixture(scope="session")
def console_server(
    settings: Settings,  # noqa: F811
    crm: Crm,  # noqa: F811
    store: KuboStore,  # noqa: F811
    accounts: Accounts,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ConsoleServer]:
    agent, manager = accounts.agent, accounts.manager
    ada_id = customer_named(crm, store, PROFILE.name, agent, manager, accounts.customer)
    bruno_id = customer_named(crm, store, "Bruno Tavares", agent, manager, accounts.stranger)
    carla_id = customer_named(crm, store, "Carla Mendes", accounts.marketer, manager, accounts.stranger)
    # Issued, then let fall OVERDUE_BY_DAYS past due: before anything else, so it is the only one.
    overdue_invoice_id = new_invoice(crm, ada_id, agent, DEAL_VALUE_WEI)
    advance_time(crm, (PAYMENT_TERM_DAYS + OVERDUE_BY_DAYS) * DAY_SECONDS - DAY_SECONDS // 2)
    database = tmp_path_factory.mktemp("console") / "index.sqlite"
    config = local_config(settings, database, staff=agent, staff_token=TOKEN)
    with serve(config) as portal:
        server = ConsoleServer(
            url=config.public_url,
            token=TOKEN,
            app_config=config,
            portal=portal,
            settings=settings,
            crm=crm,
            store=store,
            staff=agent,
            other_agent=accounts.marketer,
            manager=manager,
            ada_id=ada_id,
            bruno_id=bruno_id,
            carla_id=carla_id,
            overdue_invoice_id=overdue_invoice_id,
        )
        for customer_id, stage in (
            (ada_id, Stage.LEAD),
            (bruno_id, Stage.QUALIFIED),
            (ada_id, Stage.PROPOSAL),
            (bruno_id, Stage.NEGOTIATION),
            (ada_id, Stage.CONTRACTING),
            (ada_id, Stage.WON),
        ):
            new_deal(server, customer_id, stage)
        crm.pipeline.mark_lost(new_deal(server, bruno_id, Stage.QUALIFIED), LossReason.PRICE, agent)
        new_deal(server, carla_id, Stage.LEAD, owner=accounts.marketer)
        server.indexed()
        yield server


@pytest.fixture
def client(console_server: ConsoleServer) -> Iterator[httpx.Client]:
    """A client with no console session."""
    with httpx.Client(base_url=console_server.url, timeout=30) as http:
        yield http


class StaffClient(httpx.Client):
    csrf: str = ""

    def move(self, deal_id: int | str, body: object, *, csrf: str | None = None) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf if csrf is None else csrf}
        return self.post(f"/staff/api/deals/{deal_id}/move", json=body, headers=headers)


@pytest.fixture
def staff(console_server: ConsoleServer) -> Iterator[StaffClient]:
    """A client that opened the printed URL: it holds the session cookie and the page's CSRF token."""
    with StaffClient(base_url=console_server.url, timeout=60) as http:
        opened = http.get(f"/staff/?token={console_server.token}")
        assert opened.status_code == 303, opened.text
        board = http.get("/staff/")
        assert board.status_code == 200, board.text
        found = CSRF_META.search(board.text)
        assert found is not None
        http.csrf = found.group(1)
        yield http


_no_unexpected_errors = no_unexpected_errors("console_server")
