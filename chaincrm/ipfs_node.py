"""Moved to :mod:`chaincrm.storage.node`; this module re-exports it for existing imports."""

from __future__ import annotations

import sys

from chaincrm.storage.node import (
    DEFAULT_PORT,
    KUBO_VERSION,
    PID_FILE_NAME,
    NodeHandle,
    NodeStatus,
    api_address,
    main,
    node_status,
    private_config,
    serve,
    start_node,
    stop_node,
)

__all__ = [
    "DEFAULT_PORT",
    "KUBO_VERSION",
    "PID_FILE_NAME",
    "NodeHandle",
    "NodeStatus",
    "api_address",
    "main",
    "node_status",
    "private_config",
    "serve",
    "start_node",
    "stop_node",
]

if __name__ == "__main__":
    sys.exit(main())
