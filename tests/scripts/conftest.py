"""The scripts' tests use the embedded IPFS node fixture of the SDK tests."""

pytest_plugins = ["tests.sdk.ipfs_fixtures"]
