"""Fixtures for the writer's tests: an Anvil of their own (they stop mining, drop transactions and
restart the node), a fresh deployment on it, and a customer the agent may log interactions for."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaincrm.chain import Chain
from chaincrm.contracts.client import Crm, connect
from chaincrm.contracts.deployment import deploy
from chaincrm.contracts.interactions import InteractionEntry
from chaincrm.models import InteractionKind, Outcome, Purpose, Role
from chaincrm.privacy import readers_hash
from chaincrm.privacy.customers import public_key64
from chaincrm.services.anvil import AnvilNode, AnvilOptions, free_port, start_anvil, stop_process
from tests.sdk.conftest import Staff, staff  # noqa: F401 - fixture

__all__ = ["entry", "interactions_logged", "mining", "register", "rpc", "staff"]


def rpc(chain: Chain, method: str, *params: object) -> object:
    answer = chain.provider.make_request(method, list(params))
    assert "error" not in answer, answer
    return answer["result"]


def mining(chain: Chain, *, auto: bool) -> None:
    """Automine on (every transaction mined at once) or off (nothing mined until evm_mine)."""
    rpc(chain, "evm_setAutomine", auto)


def entry(customer_id: int) -> InteractionEntry:
    return InteractionEntry(customer_id, InteractionKind.CALL, Outcome.POSITIVE, os.urandom(32))


def register(crm: Crm, staff: Staff) -> int:  # noqa: F811
    readers = readers_hash([staff.agent.address, staff.manager.address])
    return crm.registry.register_customer(os.urandom(32), os.urandom(32), readers, None, Purpose.SALES, staff.agent)


def interactions_logged(crm: Crm, customer_id: int) -> list[bytes]:
    """The content hashes logged on-chain for the customer, in chain order (repeats included)."""
    return [i.content_hash for i in crm.registry.interactions(customer_id)]


def deployed(chain: Chain, staff: Staff) -> Crm:  # noqa: F811
    crm = Crm.attach(chain, deploy(chain, staff.admin, treasury=staff.treasury.address))
    crm.registry.grant_role(Role.AGENT, staff.agent.address, staff.admin)
    crm.registry.grant_role(Role.MANAGER, staff.manager.address, staff.admin)
    for account in (staff.agent, staff.manager):
        crm.registry.register_encryption_key(public_key64(account), account)
    return crm


@pytest.fixture(scope="module")
def writer_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    folder = tmp_path_factory.mktemp("writer-anvil")
    node, process = start_anvil(AnvilOptions(port=free_port(), log_file=folder / "anvil.log"))
    try:
        yield node
    finally:
        stop_process(process.pid)


@pytest.fixture(scope="module")
def crm(writer_node: AnvilNode, staff: Staff, tmp_path_factory: pytest.TempPathFactory) -> Crm:  # noqa: F811
    """A deployment whose chain keeps its journal in a state dir, as a home does."""
    chain = connect(writer_node.url)
    chain.keep_journal(Path(tmp_path_factory.mktemp("writer-home")) / "state")
    return deployed(chain, staff)


@pytest.fixture
def customer(crm: Crm, staff: Staff) -> Iterator[int]:  # noqa: F811
    """A fresh customer; mining is automatic again after the test."""
    yield register(crm, staff)
    mining(crm.chain, auto=True)
