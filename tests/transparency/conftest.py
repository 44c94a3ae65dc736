"""Fixtures for the customer's own view and for verification: the CLI tests' running stack (Anvil
and the embedded IPFS node, the CRM deployed, keystores for every named account), imported
explicitly, and a `cli` that also knows `me` and `verify`.

`customer_id` is a customer whose wallet accepted and whose profile was re-sealed for it (trust
model v2: a proposed wallet reads nothing); `proposed_customer_id` the same before the acceptance.

`cli` runs through `chaincrm.cli.main`, exactly as the console script does, with the root group
swapped for one that has the two commands added: it works the same before and after they are
registered in `chaincrm.cli.commands`.
"""

from __future__ import annotations

from collections.abc import Iterator
from unittest import mock

import click
import pytest

from chaincrm.cli import commands
from chaincrm.cli.me import me_group
from chaincrm.cli.verify import verify_command
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


def root_group() -> click.Group:
    """`chaincrm` as registered, plus `me` and `verify`."""
    root = commands.cli
    return click.Group(
        name=root.name,
        callback=root.callback,
        params=root.params,
        help=root.help,
        commands={**root.commands, "me": me_group, "verify": verify_command},
    )


@pytest.fixture(scope="session")
def cli(settings: Settings, crm: Crm) -> Iterator[Cli]:  # noqa: F811 - the imported fixtures
    """Run `chaincrm ARGS...` (with `me` and `verify`) against the session's stack; returns a Run."""
    with mock.patch.object(commands, "cli", root_group()):
        yield cli_for(environment_for(settings))


@pytest.fixture
def data(crm: Crm, store: KuboStore) -> CustomerData:  # noqa: F811 - the imported fixtures
    return CustomerData(crm, store)


@pytest.fixture
def notes(crm: Crm, store: KuboStore) -> CustomerNotes:  # noqa: F811 - the imported fixtures
    return CustomerNotes(crm, store)
