"""Fixtures for the REST API's tests: the session's real stack (tests.cli.conftest), the real app
served by uvicorn (tests.portal.conftest's `serve`), following the chain into its own index, with
the agent's and the manager's keystores unlocked for writes and API keys in its own integration
database.

- ``api_server`` (session): an :class:`ApiServer` with ``url``, ``portal`` (its
  ``unexpected_errors`` stays 0: checked after every test), ``crm``, ``store``, ``accounts``,
  ``keys`` (:class:`Keys`: the API key for each role), ``customer_id`` (wallet accepted, the agent
  holds a sales grant), ``invoice_id`` (open), ``key_store`` (the ApiKeys).
- ``api`` (:func:`api_client`): an httpx client with a key's Bearer header.
- :func:`sent_count`: an account's transaction count, to show that a refusal sent nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from chaincrm.api.database import open_integration
from chaincrm.api.keys import ApiKey, ApiKeys, metadata
from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.portal import PortalConfig
from chaincrm.portal.state import Portal
from chaincrm.storage import KuboStore
from tests.cli.conftest import (  # noqa: F401 - fixtures and the warning filter
    Accounts,
    accounts,
    crm,
    pytest_configure,
    settings,
    store,
)
from tests.portal.conftest import (
    indexed_up_to,
    local_config,
    new_customer,
    new_invoice,
    serve,
)
from tests.support import no_unexpected_errors

API = "/api/v1"


@dataclass(frozen=True)
class Keys:
    agent: str
    manager: str
    read_only: str  # the agent's, read-only
    revoked: str  # the agent's, revoked
    marketer: str  # an agent whose keystore the server did not unlock


@dataclass(frozen=True)
class ApiServer:
    url: str
    portal: Portal
    config: PortalConfig
    settings: Settings
    crm: Crm
    store: KuboStore
    accounts: Accounts
    keys: Keys
    key_store: ApiKeys
    customer_id: int
    invoice_id: int

    def catch_up(self) -> int:
        """Wait until the index holds the chain's latest block; that block."""
        block = self.crm.chain.block_number()
        indexed_up_to(self.url, block)
        return block


def _key(keys: ApiKeys, staff: str, **options: bool | str) -> tuple[ApiKey, str]:
    return keys.create(staff, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def api_server(
    settings: Settings,  # noqa: F811
    crm: Crm,  # noqa: F811
    store: KuboStore,  # noqa: F811
    accounts: Accounts,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ApiServer]:
    customer_id = new_customer(crm, store, accounts, accounts.customer)
    invoice_id = new_invoice(crm, customer_id, accounts.agent)
    folder = tmp_path_factory.mktemp("api")
    config = local_config(
        settings,
        folder / "index.sqlite",
        signers=(accounts.agent, accounts.manager),
        integration_database=folder / "integration.sqlite",
    )
    with serve(config) as portal:
        key_store = ApiKeys(integration_engine(config))
        revoked = _key(key_store, accounts.agent.address, name="old")
        key_store.revoke(revoked[0].id)
        keys = Keys(
            agent=_key(key_store, accounts.agent.address, name="agent")[1],
            manager=_key(key_store, accounts.manager.address, name="manager")[1],
            read_only=_key(key_store, accounts.agent.address, read_only=True, name="reports")[1],
            revoked=revoked[1],
            marketer=_key(key_store, accounts.marketer.address, name="marketer")[1],
        )
        server = ApiServer(
            url=config.public_url,
            portal=portal,
            config=config,
            settings=settings,
            crm=crm,
            store=store,
            accounts=accounts,
            keys=keys,
            key_store=key_store,
            customer_id=customer_id,
            invoice_id=invoice_id,
        )
        server.catch_up()
        yield server


def integration_engine(config: PortalConfig) -> Engine:
    """Another engine on the server's integration database (as `chaincrm api-key` opens it)."""
    assert config.integration_database is not None
    return open_integration(config.integration_database, Path(config.settings.home), metadata)


def api_client(server: ApiServer, key: str | None) -> httpx.Client:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    return httpx.Client(base_url=server.url + API, headers=headers, timeout=60)


@pytest.fixture
def agent_api(api_server: ApiServer) -> Iterator[httpx.Client]:
    with api_client(api_server, api_server.keys.agent) as client:
        yield client


@pytest.fixture
def manager_api(api_server: ApiServer) -> Iterator[httpx.Client]:
    with api_client(api_server, api_server.keys.manager) as client:
        yield client


def sent_count(crm: Crm, address: str) -> int:  # noqa: F811
    """Transactions `address` sent (its nonce, pending ones included)."""
    return int(crm.chain.w3.eth.get_transaction_count(address, "pending"))  # type: ignore[arg-type]


def error_of(answer: httpx.Response) -> dict[str, object]:
    """The error object of a refusal, checking the shape."""
    body = answer.json()
    assert set(body) == {"error"}, body
    error: dict[str, object] = body["error"]
    assert {"code", "message"} <= set(error) and set(error) <= {"code", "message", "revert"}, error
    assert isinstance(error["message"], str) and error["message"]
    return error


_no_unexpected_errors = no_unexpected_errors("api_server")


@pytest.fixture(autouse=True)
def _fresh_nonces(request: pytest.FixtureRequest) -> None:
    """The server sends as the agent and the manager too: the tests' client asks the node for nonces."""
    if "api_server" in request.fixturenames:
        server: ApiServer = request.getfixturevalue("api_server")
        server.crm.chain.nonces.reset_all()
