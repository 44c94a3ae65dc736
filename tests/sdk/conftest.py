"""Fixtures for SDK tests: a real Anvil per session, a fresh CRM deployment per test module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chaincrm.chain import Chain
from chaincrm.contracts.client import Crm, connect
from chaincrm.contracts.deployment import deploy
from chaincrm.models import Role
from chaincrm.privacy.customers import public_key64
from chaincrm.services.anvil import AnvilNode, dev_private_keys
from tests.sdk.ipfs_fixtures import document_store, ipfs_node, pytest_configure  # noqa: F401 - fixtures
from tests.support import rewound, running_anvil


@dataclass(frozen=True)
class Staff:
    admin: LocalAccount
    agent: LocalAccount
    agent2: LocalAccount
    manager: LocalAccount
    auditor: LocalAccount
    customer: LocalAccount
    customer2: LocalAccount
    stranger: LocalAccount
    treasury: LocalAccount


@pytest.fixture(scope="session")
def anvil_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    with running_anvil(tmp_path_factory.mktemp("anvil")) as node:
        yield node


@pytest.fixture(scope="session")
def staff() -> Staff:
    keys = [Account.from_key(key) for key in dev_private_keys(9)]
    return Staff(*keys)


@pytest.fixture(scope="session")
def chain(anvil_node: AnvilNode) -> Chain:
    return connect(anvil_node.url)


@pytest.fixture(scope="module")
def crm(chain: Chain, staff: Staff) -> Crm:
    """A fresh deployment with roles granted and staff encryption keys published.

    The customers publish no key: their wallet's key travels with its acceptance."""
    deployment = deploy(chain, staff.admin, treasury=staff.treasury.address)
    crm = Crm.attach(chain, deployment)
    crm.registry.grant_role(Role.AGENT, staff.agent.address, staff.admin)
    crm.registry.grant_role(Role.AGENT, staff.agent2.address, staff.admin)
    crm.registry.grant_role(Role.MANAGER, staff.manager.address, staff.admin)
    crm.registry.grant_role(Role.AUDITOR, staff.auditor.address, staff.admin)
    for account in (staff.agent, staff.agent2, staff.manager, staff.auditor):
        crm.registry.register_encryption_key(public_key64(account), account)
    return crm


@pytest.fixture
def snapshot(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Undo a test's transactions (Anvil's evm_snapshot / evm_revert)."""
    with rewound(chain, tmp_path_factory.getbasetemp()):
        yield
