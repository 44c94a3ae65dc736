"""The local stack behind `chaincrm node up|down|status`: Anvil and the embedded IPFS node.

Both run detached, so they outlive the command that started them, and both keep their state in
the home folder: Anvil its chain (``<home>/state/anvil.json``, written when it stops) and the IPFS
node its repository (``<home>/ipfs``). Each leaves a pid file that says which process to stop and
on which port it answers, so `down` and `status` need no ports and find nothing to do twice:

* Anvil: ``<home>/state/anvil.pid``, JSON ``{"pid": ..., "port": ...}``;
* the IPFS node: its own pid file in its repository (:mod:`chaincrm.ipfs_node`).

`up` starts only what is not already running, and stops again what it started if the other
service cannot start, so a failed `up` leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from chaincrm import ipfs_node
from chaincrm.config import Settings
from chaincrm.devchain import STOP_TIMEOUT_SECONDS, AnvilOptions, start_anvil, stop_process
from chaincrm.errors import ConfigError

ANVIL_STATE_FILE_NAME = "anvil.json"
ANVIL_PID_FILE_NAME = "anvil.pid"
ANVIL_LOG_FILE_NAME = "anvil.log"
IPFS_LOG_FILE_NAME = "ipfs.log"
IPFS_REPO_DIR_NAME = "ipfs"
RPC_PROBE_TIMEOUT_SECONDS = 2.0
POLL_INTERVAL_SECONDS = 0.05
MAX_PORT = 65535

_TCP_PORT = re.compile(r"/tcp/(\d+)(/|$)")


@dataclasses.dataclass(frozen=True)
class ServiceState:
    """One service of the stack as `status` reports it."""

    name: str
    running: bool
    url: str | None = None
    pid: int | None = None
    started: bool = False  # `up`: this call started it; `down`: this call stopped it
    block_number: int | None = None  # the chain's, when it answers
    version: str | None = None  # the IPFS node's Kubo version, when it answers


@dataclasses.dataclass(frozen=True)
class StackState:
    chain: ServiceState
    ipfs: ServiceState


# ------------------------------------------------------------------ paths and ports


def anvil_pid_file(settings: Settings) -> Path:
    return settings.state_dir / ANVIL_PID_FILE_NAME


def ipfs_repo(settings: Settings) -> Path:
    return settings.home / IPFS_REPO_DIR_NAME


def chain_port_of(rpc_url: str) -> int:
    """The port of an RPC URL (the default port of `chaincrm node up --chain-port`)."""
    try:
        parts = urlsplit(rpc_url)
        port = parts.port
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
    if not 0 < port <= MAX_PORT:
        raise ConfigError(f"{what} port must be a number from 1 to {MAX_PORT}, not {port}")


# ------------------------------------------------------------------ up, down, status


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
    """Stop both services (SIGTERM, then SIGKILL); stopping what is not running is fine.

    The returned states say which service was running (and so was stopped) by ``started``.
    """
    chain_was_running = _stop_anvil(settings)
    ipfs_was_running = ipfs_node.stop_node(ipfs_repo(settings))
    return StackState(
        chain=ServiceState("chain", running=False, started=chain_was_running),
        ipfs=ServiceState("ipfs", running=False, started=ipfs_was_running),
    )


def status(settings: Settings) -> StackState:
    return StackState(chain=_anvil_state(settings), ipfs=_ipfs_state(settings))


# ------------------------------------------------------------------ Anvil


def _start_anvil(settings: Settings, port: int) -> bool:
    if _anvil_record(settings) is not None:
        return False
    options = AnvilOptions(
        port=port,
        state_file=settings.state_dir / ANVIL_STATE_FILE_NAME,
        log_file=settings.home / ANVIL_LOG_FILE_NAME,
    )
    settings.home.mkdir(parents=True, exist_ok=True)
    node, _ = start_anvil(options, detach=True)  # raises NodeError for a port in use
    _write_json(anvil_pid_file(settings), {"pid": node.pid, "port": port})
    return True


def _stop_anvil(settings: Settings) -> bool:
    record = _anvil_record(settings)
    if record is not None:
        _stop_group(record[0])
    anvil_pid_file(settings).unlink(missing_ok=True)
    return record is not None


def _stop_group(pid: int) -> None:
    """Stop a detached process and everything in its process group.

    npm's `anvil` is a Node wrapper that forwards SIGTERM to the real binary and exits at once,
    so waiting for the wrapper alone would return while Anvil is still writing its state file.
    The wrapper leads its own session (`start_anvil(detach=True)`), so its group is exactly the
    two processes.
    """
    stop_process(pid)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while _group_alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            return
        time.sleep(POLL_INTERVAL_SECONDS)


def _group_alive(pgid: int) -> bool:
    """Whether any process of group `pgid` is still alive (zombies do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc.iterdir():
        fields = _stat_fields(entry) if entry.name.isdigit() else None
        if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def _anvil_record(settings: Settings) -> tuple[int, int] | None:
    """(pid, port) of the Anvil this home started, if it still runs; a stale pid file is removed."""
    path = anvil_pid_file(settings)
    try:
        record = json.loads(path.read_text())
        pid, port = int(record["pid"]), int(record["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _is_running(pid, "anvil"):
        path.unlink(missing_ok=True)
        return None
    return pid, port


def _anvil_state(settings: Settings) -> ServiceState:
    record = _anvil_record(settings)
    if record is None:
        return ServiceState("chain", running=False)
    pid, port = record
    url = f"http://127.0.0.1:{port}"
    return ServiceState("chain", True, url, pid, block_number=_block_number(url))


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


# ------------------------------------------------------------------ IPFS


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


# ------------------------------------------------------------------ helpers


def _is_running(pid: int, name: str) -> bool:
    """Whether `pid` is alive, not a zombie, and (where /proc tells) runs `name`."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False  # gone, or somebody else's process: not ours to report or stop
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return True  # no /proc on this platform: the signal check is all there is
    fields = _stat_fields(proc)
    try:
        command = (proc / "cmdline").read_bytes()
    except OSError:
        return False
    return fields is not None and fields[0] != "Z" and name.encode() in command


def _stat_fields(proc_entry: Path) -> list[str] | None:
    """/proc/<pid>/stat after the command name: state, parent pid, process group, ..."""
    try:
        return (proc_entry / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _write_json(path: Path, data: dict[str, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(data) + "\n")
    temporary.replace(path)


__all__ = [
    "ServiceState",
    "StackState",
    "anvil_pid_file",
    "chain_port_of",
    "down",
    "ipfs_port_of",
    "ipfs_repo",
    "status",
    "up",
]
