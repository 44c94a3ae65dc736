"""Fixtures for the fault suite and the orphan sweep: the SDK's session Anvil and module deployment,
an IPFS node of this module's own (a sweep judges every pin on its node, so no other test's
documents may share it), and a customer whose profile is pinned on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chaincrm.contracts.client import Crm
from chaincrm.models import Purpose
from chaincrm.privacy import CustomerProfile
from chaincrm.privacy.customers import CustomerData
from chaincrm.storage import KuboStore
from chaincrm.storage.node import NodeHandle
from tests.sdk.conftest import Staff, anvil_node, chain, crm, snapshot, staff  # noqa: F401 - fixtures
from tests.sdk.ipfs_fixtures import pytest_configure, running_node  # noqa: F401 - pytest_configure: the warning filter


@pytest.fixture(scope="module")
def own_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeHandle]:
    with running_node(tmp_path_factory.mktemp("ipfs")) as node:
        yield node


@pytest.fixture
def store(own_node: NodeHandle) -> Iterator[KuboStore]:
    with KuboStore(own_node.api_addr) as opened:
        yield opened


@pytest.fixture(scope="module")
def customer_id(crm: Crm, staff: Staff, own_node: NodeHandle) -> int:  # noqa: F811 - crm and staff are fixtures
    """A customer whose sealed profile is pinned on this module's node, as the chain says."""
    with KuboStore(own_node.api_addr) as store:
        ref = CustomerData(crm, store).add(
            CustomerProfile(name="Ada Okafor"), wallet=None, purpose=Purpose.SALES, agent=staff.agent
        )
    return ref.customer_id
