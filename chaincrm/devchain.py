"""Moved to :mod:`chaincrm.services.anvil`; this module re-exports it for existing imports."""

from __future__ import annotations

from chaincrm.services.anvil import (
    DEFAULT_CHAIN_ID,
    DEFAULT_MNEMONIC,
    DEFAULT_PORT,
    PROJECT_ROOT,
    STOP_TIMEOUT_SECONDS,
    AnvilNode,
    AnvilOptions,
    anvil,
    anvil_executable,
    dev_private_keys,
    free_port,
    port_in_use,
    start_anvil,
    stop_process,
)

__all__ = [
    "DEFAULT_CHAIN_ID",
    "DEFAULT_MNEMONIC",
    "DEFAULT_PORT",
    "PROJECT_ROOT",
    "STOP_TIMEOUT_SECONDS",
    "AnvilNode",
    "AnvilOptions",
    "anvil",
    "anvil_executable",
    "dev_private_keys",
    "free_port",
    "port_in_use",
    "start_anvil",
    "stop_process",
]
