"""Fixtures for the on-chain branch tests: a real Anvil per session, a fresh CRM (with its branch
directory) per module, and named accounts.

A test module imports the fixtures it uses from here (``from tests.branches.branch_fixtures
import ...``): this folder's conftest, if any, belongs to the branch-node tests.

People: the admin deploys; ``manager`` holds the registry's manager role; ``lisbon_boss`` and
``porto_boss`` manage one branch each and hold no registry role; ``veteran`` is an agent the admin
granted directly (in no branch); ``newcomer``, ``newcomer2`` and ``stranger`` hold nothing yet."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chaincrm.chain import Chain
from chaincrm.chain.keystores import create_keystore
from chaincrm.config import Settings
from chaincrm.contracts.client import Crm, connect
from chaincrm.contracts.deployment import deploy, save_record
from chaincrm.models import Purpose, Role
from chaincrm.privacy import readers_hash
from chaincrm.privacy.customers import public_key64
from chaincrm.services.anvil import AnvilNode, dev_private_keys
from tests.cli.conftest import PASSWORD, SCRYPT_N_FOR_TESTS, Cli, cli_for, environment_for
from tests.support import rewound, running_anvil


@dataclass(frozen=True)
class People:
    admin: LocalAccount
    manager: LocalAccount
    lisbon_boss: LocalAccount
    porto_boss: LocalAccount
    veteran: LocalAccount
    newcomer: LocalAccount
    newcomer2: LocalAccount
    stranger: LocalAccount
    treasury: LocalAccount


@pytest.fixture(scope="session")
def branch_anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    with running_anvil(tmp_path_factory.mktemp("branch-anvil")) as node:
        yield node


@pytest.fixture(scope="session")
def people() -> People:
    return People(*(Account.from_key(key) for key in dev_private_keys(9)))


@pytest.fixture(scope="session")
def branch_chain(branch_anvil: AnvilNode) -> Chain:
    return connect(branch_anvil.url)


@pytest.fixture(scope="module")
def crm(branch_chain: Chain, people: People) -> Crm:
    """A fresh deployment (the deployer is the admin, so the directory is connected to the registry),
    a registry manager and an agent granted by the admin."""
    deployment = deploy(branch_chain, people.admin, treasury=people.treasury.address)
    assert deployment.branches is not None
    crm = Crm.attach(branch_chain, deployment)
    crm.registry.grant_role(Role.MANAGER, people.manager.address, people.admin)
    crm.registry.grant_role(Role.AGENT, people.veteran.address, people.admin)
    return crm


@pytest.fixture
def snapshot(branch_chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Undo a test's transactions (Anvil's evm_snapshot / evm_revert)."""
    with rewound(branch_chain, tmp_path_factory.getbasetemp()):
        yield


def register_customer(crm: Crm, agent: LocalAccount) -> int:
    """A customer registered by `agent` with made-up document hashes, declared for the readers the
    chain computes (the agent and the managers with a key)."""
    registry = crm.registry
    if registry.encryption_key_of(agent.address) is None:
        registry.register_encryption_key(public_key64(agent), agent)
    readers = {agent.address, *(m for m in registry.managers() if registry.encryption_key_of(m))}
    return registry.register_customer(os.urandom(32), os.urandom(32), readers_hash(readers), None, Purpose.SALES, agent)


def settings_in(home: Path, crm: Crm) -> Settings:
    """Settings for a home over the deployment's node (no IPFS node: branch commands need none)."""
    return Settings(rpc_url=crm.chain.endpoint, ipfs_api="/ip4/127.0.0.1/tcp/1", home=home)


def cli_in(home: Path, crm: Crm, people: People) -> Cli:
    """`chaincrm` over `crm`'s deployment from `home`, with a keystore for every person."""
    settings = settings_in(home, crm)
    for field in dataclasses.fields(people):
        account = getattr(people, field.name)
        create_keystore(settings.keystore_dir, PASSWORD, private_key=bytes(account.key), scrypt_n=SCRYPT_N_FOR_TESTS)
    save_record(crm.deployment, settings.deployment_path)
    return cli_for(environment_for(settings))


def advance_time(chain: Chain, seconds: int) -> None:
    """Let `seconds` of chain time pass (the next block is mined that much later)."""
    chain.request("evm_increaseTime", [seconds])
    chain.request("evm_mine", [])


__all__ = [
    "advance_time",
    "cli_in",
    "settings_in",
    "People",
    "branch_anvil",
    "branch_chain",
    "crm",
    "people",
    "register_customer",
    "snapshot",
]
