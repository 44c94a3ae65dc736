"""The scripts' tests use the embedded IPFS node fixture of the SDK tests."""

from tests.sdk.ipfs_fixtures import ipfs_node, pytest_configure  # noqa: F401 - fixtures
