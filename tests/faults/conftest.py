"""Fixtures for the fault suite and the orphan sweep: the SDK's session Anvil and module deployment,
and an IPFS node of this module's own (a sweep judges every pin on its node, so no other test's
documents may share it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chaincrm.services.supervisor import free_port
from chaincrm.storage import KuboStore
from chaincrm.storage.node import NodeHandle, start_node, stop_node
from tests.sdk.conftest import Staff, anvil_node, chain, crm, snapshot, staff  # noqa: F401 - fixtures
from tests.sdk.ipfs_fixtures import pytest_configure  # noqa: F401 - the ipfshttpclient warning filter


@pytest.fixture(scope="module")
def own_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeHandle]:
    folder = tmp_path_factory.mktemp("ipfs")
    node = start_node(folder / "repo", free_port(), folder / "node.log")
    try:
        yield node
    finally:
        stop_node(node)


@pytest.fixture
def store(own_node: NodeHandle) -> Iterator[KuboStore]:
    with KuboStore(own_node.api_addr) as opened:
        yield opened
