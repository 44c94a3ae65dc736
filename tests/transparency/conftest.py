"""Fixtures for the customer's own view and for verification: the CLI tests' running stack (Anvil
and the embedded IPFS node, the CRM deployed, keystores for every named account), imported
explicitly, and the `cli` that runs `chaincrm` (whose `me` and `verify` these tests drive).

`customer_id` is a customer whose wallet accepted and whose profile was re-sealed for it (trust
model v2: a proposed wallet reads nothing); `proposed_customer_id` the same before the acceptance.

`cli` runs through `chaincrm.cli.main`, exactly as the console script does, with the root group as
registered in `chaincrm.cli.commands` (which loads each command group when it runs).
"""

from __future__ import annotations

import pytest

from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.privacy.customers import CustomerData
from chaincrm.privacy.notes import CustomerNotes
from chaincrm.storage import KuboStore
from tests.cli.conftest import (  # noqa: F401 - fixtures and the warning filter
    Cli,
    accounts,
    cli_for,
    crm,
    customer_id,
    deal_id,
    environment_for,
    invoice_id,
    proposed_customer_id,
    pytest_configure,
    settings,
    snapshot,
    store,
)


@pytest.fixture(scope="session")
def cli(settings: Settings, crm: Crm) -> Cli:  # noqa: F811 - the imported fixtures
    """Run `chaincrm ARGS...` against the session's stack; returns a Run."""
    return cli_for(environment_for(settings))


@pytest.fixture
def data(crm: Crm, store: KuboStore) -> CustomerData:  # noqa: F811 - the imported fixtures
    return CustomerData(crm, store)


@pytest.fixture
def notes(crm: Crm, store: KuboStore) -> CustomerNotes:  # noqa: F811 - the imported fixtures
    return CustomerNotes(crm, store)
