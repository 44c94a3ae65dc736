"""A local Anvil chain as a child process (Anvil comes from npm: @foundry-rs/anvil).

Attached, the chain is stopped when its owner ends, also on Ctrl-C or failure (context manager,
and the child gets SIGTERM when the parent dies, where Linux allows it). Detached, it outlives the
command that started it (`chaincrm node up`). A port already in use is reported at once instead of
hanging on a node that is not ours.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from chaincrm.errors import NodeError
from chaincrm.services import supervisor
from chaincrm.services.supervisor import free_port

__all__ = [
    "ANVIL_VARIABLE",
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

DEFAULT_PORT = 8545
DEFAULT_CHAIN_ID = 31337
DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"
DEFAULT_ACCOUNTS = 10
DEFAULT_BALANCE_ETH = 10_000
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = supervisor.STOP_TIMEOUT_SECONDS
PROBE_TIMEOUT_SECONDS = 1.0
PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The checkout, when this package runs from one (an installed package finds Anvil on the PATH)."""
ANVIL_VARIABLE = "CHAINCRM_ANVIL"
PROCESS_MARKER = "anvil"
"""Every Anvil we start has this in its command line (the binary, or npm's wrapper of it)."""


def anvil_executable() -> str:
    """The Anvil to run: ``$CHAINCRM_ANVIL``; else, in a checkout, the project's npm install (run as
    itself, see tools/bin/anvil); else ``anvil`` on the PATH."""
    configured = os.environ.get(ANVIL_VARIABLE)
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise NodeError(f"{ANVIL_VARIABLE}={configured} is not an executable")
        return found
    local = PROJECT_ROOT / "tools" / "bin" / "anvil"
    if local.is_file() and any((PROJECT_ROOT / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil")):
        return str(local)
    found = shutil.which("anvil")
    if found is None:
        raise NodeError(
            f"anvil is not installed: put it on the PATH or name it in {ANVIL_VARIABLE} "
            "(in a checkout, the README's set-up command installs it)"
        )
    return found


def port_in_use(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port``."""
    return supervisor.port_in_use(port)


@dataclass(frozen=True)
class AnvilOptions:
    port: int = DEFAULT_PORT
    chain_id: int = DEFAULT_CHAIN_ID
    accounts: int = DEFAULT_ACCOUNTS
    balance_eth: int = DEFAULT_BALANCE_ETH
    block_time: float | None = None
    state_file: Path | None = None
    gas_limit: int | None = None
    log_file: Path | None = None


@dataclass(frozen=True)
class AnvilNode:
    pid: int
    url: str
    options: AnvilOptions


def start_anvil(options: AnvilOptions, *, detach: bool = False) -> tuple[AnvilNode, subprocess.Popen[bytes]]:
    """Start Anvil and wait until it answers. ``detach`` keeps it running after this process ends."""
    supervisor.require_free_port(options.port)
    command = [
        anvil_executable(),
        "--host", supervisor.LOOPBACK_HOST,
        "--port", str(options.port),
        "--chain-id", str(options.chain_id),
        "--accounts", str(options.accounts),
        "--balance", str(options.balance_eth),
        "--mnemonic", DEFAULT_MNEMONIC,
    ]  # fmt: skip
    if options.block_time:
        command += ["--block-time", str(options.block_time)]
    if options.state_file is not None:
        options.state_file.parent.mkdir(parents=True, exist_ok=True)
        command += ["--state", str(options.state_file)]
    if options.gas_limit:
        command += ["--gas-limit", str(options.gas_limit)]
    process = supervisor.spawn(command, log_file=options.log_file, detach=detach)
    url = f"http://{supervisor.LOOPBACK_HOST}:{options.port}"
    exit_code = supervisor.wait_until_ready(
        process,
        lambda: _answers(url),
        name=f"anvil at {url}",
        timeout_seconds=STARTUP_TIMEOUT_SECONDS,
        log_file=options.log_file,
    )
    if exit_code is not None:
        raise NodeError(f"anvil exited with code {exit_code} while starting")
    return AnvilNode(pid=process.pid, url=url, options=options), process


def _answers(url: str) -> bool:
    try:
        reply = requests.post(
            url,
            json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
            timeout=PROBE_TIMEOUT_SECONDS,
        )
    except requests.RequestException:
        return False
    return reply.ok


def stop_process(pid: int, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; a process already gone is fine."""
    supervisor.stop(pid, timeout_seconds=timeout)


@contextmanager
def anvil(options: AnvilOptions | None = None) -> Iterator[AnvilNode]:
    """Run Anvil for the duration of a block; it is stopped on exit, error or Ctrl-C."""
    node, process = start_anvil(options or AnvilOptions(port=free_port()))
    try:
        yield node
    finally:
        stop_process(process.pid)


def dev_private_keys(count: int = DEFAULT_ACCOUNTS) -> list[bytes]:
    """The private keys of Anvil's default dev accounts (public test keys: never for real funds)."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return [
        bytes(Account.from_mnemonic(DEFAULT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key) for i in range(count)
    ]
