"""Moved to :mod:`chaincrm.services.stack`; this module re-exports it for existing imports."""

from __future__ import annotations

from chaincrm.services.stack import (
    ServiceState,
    StackState,
    anvil_pid_file,
    chain_port_of,
    check_port,
    down,
    ipfs_port_of,
    ipfs_repo,
    status,
    up,
)

__all__ = [
    "ServiceState",
    "StackState",
    "anvil_pid_file",
    "chain_port_of",
    "check_port",
    "down",
    "ipfs_port_of",
    "ipfs_repo",
    "status",
    "up",
]
