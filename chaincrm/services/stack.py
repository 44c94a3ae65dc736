"""The local stack behind `chaincrm node up|down|status`: Anvil and the embedded IPFS node.

Both run detached, so they outlive the command that started them, and both keep their state in
the home folder: Anvil its chain (``<home>/state/anvil.json``, written when it stops) and the IPFS
node its repository (``<home>/ipfs``). Each leaves a pid file that says which process to stop and
on which port it answers, so `down` and `status` need no ports and find nothing to do twice:

* Anvil: ``<home>/state/anvil.pid``, JSON ``{"pid": ..., "port": ..., "created": ...}``;
* the IPFS node: its own pid file in its repository (:mod:`chaincrm.storage.node`).

`up` starts only what is not already running, and stops again what it started if the other
service cannot start, so a failed `up` leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from urllib.parse import urlsplit

import requests

from chaincrm.config import Settings
from chaincrm.errors import ConfigError
from chaincrm.services import supervisor
from chaincrm.services.anvil import PROCESS_MARKER, AnvilOptions, start_anvil
from chaincrm.storage import node as ipfs_node

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

ANVIL_STATE_FILE_NAME = "anvil.json"
ANVIL_PID_FILE_NAME = "anvil.pid"
ANVIL_LOG_FILE_NAME = "anvil.log"
IPFS_LOG_FILE_NAME = "ipfs.log"
IPFS_REPO_DIR_NAME = "ipfs"
RPC_PROBE_TIMEOUT_SECONDS = 2.0

_TCP_PORT = re.compile(r"/tcp/(\d+)(/|$)")


@dataclasses.dataclass(frozen=True)
class ServiceState:
    """One service of the stack, as `status` reports it and as `up` and `down` leave it."""

    name: str
    running: bool
    url: str | None = None
    pid: int | None = None
    started: bool = False
    """Set by `up` only: this call started the service (False: it was already running)."""
    stopped: bool = False
    """Set by `down` only: this call stopped the service (False: it was not running)."""
    block_number: int | None = None  # the chain's, when it answers
    version: str | None = None  # the IPFS node's Kubo version, when it answers


@dataclasses.dataclass(frozen=True)
class StackState:
    chain: ServiceState
    ipfs: ServiceState


# --- Paths and ports --------------------------------------------------------------------------


def anvil_pid_file(settings: Settings) -> Path:
    return settings.state_dir / ANVIL_PID_FILE_NAME


def ipfs_repo(settings: Settings) -> Path:
    return settings.home / IPFS_REPO_DIR_NAME


def chain_port_of(rpc_url: str) -> int:
    """The port of an RPC URL (the default port of `chaincrm node up --chain-port`)."""
    try:
        port = urlsplit(rpc_url).port
    except ValueError:
        port = None
    if port is None:
        raise ConfigError(f"RPC URL {rpc_url!r} names no port: pass --chain-port")
    return port


def ipfs_port_of(api: str) -> int:
    """The TCP port of an IPFS API multiaddr such as /ip4/127.0.0.1/tcp/5001/http."""
    match = _TCP_PORT.search(api)
    if match is None:
        raise ConfigError(f"IPFS API address {api!r} names no TCP port: pass --ipfs-port")
    return int(match.group(1))


def check_port(port: int, what: str) -> None:
    supervisor.check_port_number(port, what)


# --- Up, down, status -------------------------------------------------------------------------


def up(settings: Settings, *, chain_port: int, ipfs_port: int) -> StackState:
    """Start whatever of Anvil and the IPFS node is not running yet, detached."""
    check_port(chain_port, "chain")
    check_port(ipfs_port, "IPFS")
    if chain_port == ipfs_port:
        raise ConfigError(f"the chain and the IPFS node cannot share port {chain_port}")
    started_chain = _start_anvil(settings, chain_port)
    try:
        started_ipfs = _start_ipfs(settings, ipfs_port)
    except BaseException:
        if started_chain:
            _stop_anvil(settings)
        raise
    current = status(settings)
    return StackState(
        chain=dataclasses.replace(current.chain, started=started_chain),
        ipfs=dataclasses.replace(current.ipfs, started=started_ipfs),
    )


def down(settings: Settings) -> StackState:
    """Stop both services (SIGTERM, then SIGKILL); stopping what is not running is fine."""
    chain_was_running = _stop_anvil(settings)
    ipfs_was_running = ipfs_node.stop_node(ipfs_repo(settings))
    return StackState(
        chain=ServiceState("chain", running=False, stopped=chain_was_running),
        ipfs=ServiceState("ipfs", running=False, stopped=ipfs_was_running),
    )


def status(settings: Settings) -> StackState:
    return StackState(chain=_anvil_state(settings), ipfs=_ipfs_state(settings))


# --- Anvil ------------------------------------------------------------------------------------


def _start_anvil(settings: Settings, port: int) -> bool:
    if _anvil_record(settings) is not None:
        return False
    options = AnvilOptions(
        port=port,
        state_file=settings.state_dir / ANVIL_STATE_FILE_NAME,
        log_file=settings.home / ANVIL_LOG_FILE_NAME,
    )
    settings.home.mkdir(parents=True, exist_ok=True)
    node, _ = start_anvil(options, detach=True)  # NodeError for a port in use
    supervisor.PidFile(anvil_pid_file(settings)).write(node.pid, port)
    return True


def _stop_anvil(settings: Settings) -> bool:
    """Stop the Anvil this home started, and with it npm's wrapper if it came through one.

    The wrapper forwards SIGTERM to the real binary and exits at once; stopping waits for the
    whole process group, so Anvil has written its state file when this returns.
    """
    record = _anvil_record(settings)
    was_running = record is not None and supervisor.stop(record.pid)
    supervisor.PidFile(anvil_pid_file(settings)).remove()
    return was_running


def _anvil_record(settings: Settings) -> supervisor.PidRecord | None:
    """The Anvil this home started, if it still runs; a stale pid file is removed."""
    pid_file = supervisor.PidFile(anvil_pid_file(settings))
    record = pid_file.read()
    if record is None:
        return None
    if supervisor.find(record.pid, (PROCESS_MARKER,), record.created) is None:
        pid_file.remove(record.pid)
        return None
    return record


def _anvil_state(settings: Settings) -> ServiceState:
    record = _anvil_record(settings)
    if record is None:
        return ServiceState("chain", running=False)
    url = f"http://{supervisor.LOOPBACK_HOST}:{record.port}"
    return ServiceState("chain", True, url, record.pid, block_number=_block_number(url))


def _block_number(url: str) -> int | None:
    try:
        reply = requests.post(
            url,
            json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
            timeout=RPC_PROBE_TIMEOUT_SECONDS,
        )
        return int(reply.json()["result"], 16)
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None


# --- IPFS -------------------------------------------------------------------------------------


def _start_ipfs(settings: Settings, port: int) -> bool:
    repo = ipfs_repo(settings)
    if ipfs_node.node_status(repo).running:
        return False
    ipfs_node.start_node(repo, port, settings.home / IPFS_LOG_FILE_NAME)  # NodeError for a port in use
    return True


def _ipfs_state(settings: Settings) -> ServiceState:
    found = ipfs_node.node_status(ipfs_repo(settings))
    if not found.running:
        return ServiceState("ipfs", running=False)
    return ServiceState("ipfs", True, found.api_addr, found.pid, version=found.kubo_version)
