"""The services a fault run kills and restarts: Anvil (mining 1-second blocks, its state saved every
few seconds to a file), the embedded IPFS node, and any child process of the run.

Every process started here is recorded in a :class:`Processes` list, and :meth:`Processes.close`
ends whatever still runs (SIGTERM, then SIGKILL): a run that fails, or is interrupted, leaves no
Anvil, node or writer behind. Children are started from the run's main thread, attached: they get
SIGTERM if the run's process dies.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

from chaincrm.errors import NodeError
from chaincrm.services import supervisor
from chaincrm.services.anvil import DEFAULT_CHAIN_ID, DEFAULT_MNEMONIC, anvil_executable
from chaincrm.storage.node import NodeHandle, start_node, stop_node

START_TIMEOUT_SECONDS = 60.0
PROBE_TIMEOUT_SECONDS = 1.0
KILL_WAIT_SECONDS = 10.0
FAULT_ACCOUNTS = 20
"""Dev accounts Anvil funds: the admin, a manager, eight writers and the shared key, with room."""
BALANCE_ETH = 1_000_000
_PR_SET_PDEATHSIG = 1


class Processes:
    """Every child process of a run, so that each is ended however the run ends."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen[bytes]] = []
        self._nodes: list[NodeHandle] = []

    def spawn(
        self,
        command: Sequence[str],
        *,
        log_file: Path,
        env: dict[str, str] | None = None,
        secret_input: str | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a child, its output to `log_file`; `secret_input` (keys) goes to its stdin, never argv."""
        if secret_input is None:
            process = supervisor.spawn(command, log_file=log_file, env=env, detach=False)
        else:
            with open(log_file, "ab") as log:
                process = subprocess.Popen(
                    list(command),
                    stdin=subprocess.PIPE,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    preexec_fn=_die_with_parent,
                )
            assert process.stdin is not None
            process.stdin.write(secret_input.encode())
            process.stdin.close()
        self._started.append(process)
        return process

    def adopt_node(self, node: NodeHandle) -> None:
        self._nodes.append(node)

    def close(self) -> list[str]:
        """End everything still running; what could not be stopped, one line each."""
        problems: list[str] = []
        for node in self._nodes:
            try:
                stop_node(node)
            except NodeError as exc:
                problems.append(str(exc))
        for process in reversed(self._started):
            if process.poll() is None:
                try:
                    supervisor.stop(process.pid)
                except NodeError as exc:
                    problems.append(str(exc))
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=KILL_WAIT_SECONDS)
        return problems


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def kill_hard(process: subprocess.Popen[bytes] | int) -> None:
    """SIGKILL a process and its descendants, and reap it: no chance to save or clean anything."""
    pid = process if isinstance(process, int) else process.pid
    try:
        leader = psutil.Process(pid)
        family = [leader, *leader.children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.send_signal(signal.SIGKILL)
    if isinstance(process, subprocess.Popen):
        process.wait(timeout=KILL_WAIT_SECONDS)
    psutil.wait_procs(family, timeout=KILL_WAIT_SECONDS)


@dataclass
class ChainService:
    """Anvil on `port`, mining a block every `block_time` seconds, its state in `state_file`, dumped
    every `state_interval` seconds (and when stopped cleanly; never when killed)."""

    processes: Processes
    folder: Path
    port: int
    block_time: float = 1.0
    state_interval: float = 4.0
    accounts: int = FAULT_ACCOUNTS
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://{supervisor.LOOPBACK_HOST}:{self.port}"

    @property
    def state_file(self) -> Path:
        return self.folder / "anvil-state.json"

    def start(self, *, automine: bool = False) -> None:
        """Start Anvil (from the saved state, if any); `automine` mines each transaction at once
        (the set-up) until :meth:`mine_every_block_time` switches to the run's block time."""
        supervisor.require_free_port(self.port)
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [
            anvil_executable(),
            "--host", supervisor.LOOPBACK_HOST,
            "--port", str(self.port),
            "--chain-id", str(DEFAULT_CHAIN_ID),
            "--accounts", str(self.accounts),
            "--balance", str(BALANCE_ETH),
            "--mnemonic", DEFAULT_MNEMONIC,
            "--state", str(self.state_file),
            "--state-interval", f"{self.state_interval:g}",
        ]  # fmt: skip
        if not automine:
            command += ["--block-time", f"{self.block_time:g}"]
        self.process = self.processes.spawn(command, log_file=self.folder / "anvil.log")
        self.starts += 1
        _wait_ready(self.process, lambda: _answers(self.url), f"anvil at {self.url}", self.folder / "anvil.log")

    def mine_every_block_time(self) -> None:
        if not _accepted(self.url, "evm_setIntervalMining", [max(1, round(self.block_time))]):
            raise NodeError(f"anvil at {self.url} refused interval mining")

    def kill(self) -> None:
        """SIGKILL: the blocks mined since the last dump are lost, as is the mempool."""
        if self.process is not None:
            kill_hard(self.process)
            self.process = None

    def block_number(self) -> int | None:
        answer = _rpc(self.url, "eth_blockNumber", [])
        return int(answer, 16) if isinstance(answer, str) else None


@dataclass
class IpfsService:
    """The embedded IPFS node for the run's repository, on a fixed port so writers find it again."""

    processes: Processes
    folder: Path
    port: int
    node: NodeHandle | None = field(default=None, repr=False)
    starts: int = 0

    @property
    def api_addr(self) -> str:
        return f"/ip4/{supervisor.LOOPBACK_HOST}/tcp/{self.port}/http"

    def start(self) -> None:
        self.node = start_node(self.folder / "repo", self.port, self.folder / f"node-{self.starts}.log")
        self.processes.adopt_node(self.node)
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL the node (an upload in flight is cut off), then clear its pid file."""
        if self.node is not None:
            kill_hard(self.node.pid)
            stop_node(self.node.repo_dir)  # the pid is gone: this only removes the stale pid file
            self.node = None


def _rpc(url: str, method: str, params: list[object]) -> object:
    try:
        reply = requests.post(
            url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=PROBE_TIMEOUT_SECONDS
        )
        return reply.json().get("result")
    except (requests.RequestException, ValueError):
        return None


def _accepted(url: str, method: str, params: list[object]) -> bool:
    try:
        reply = requests.post(
            url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=PROBE_TIMEOUT_SECONDS
        )
        return "error" not in reply.json()
    except (requests.RequestException, ValueError):
        return False


def _answers(url: str) -> bool:
    return _rpc(url, "eth_chainId", []) is not None


def _wait_ready(process: subprocess.Popen[bytes], ready: Callable[[], bool], name: str, log_file: Path) -> None:
    exit_code = supervisor.wait_until_ready(
        process,
        ready,
        name=name,
        timeout_seconds=START_TIMEOUT_SECONDS,
        log_file=log_file,
    )
    if exit_code is not None:
        raise NodeError(f"{name} exited with code {exit_code} while starting: {supervisor.last_log_line(log_file)}")


def wait_for_port_free(port: int, timeout_seconds: float = KILL_WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout_seconds
    while supervisor.port_in_use(port) and time.monotonic() < deadline:
        time.sleep(0.05)


__all__ = ["ChainService", "IpfsService", "Processes", "kill_hard", "wait_for_port_free"]
