"""A local Anvil chain as a managed child process (Anvil comes from npm: @foundry-rs/anvil).

The process is stopped when its owner ends, also on Ctrl-C or failure (context manager, and the
child dies with the parent through PR_SET_PDEATHSIG where the platform has it). A port already in
use is reported at once instead of hanging on a node that is not ours.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from chaincrm.errors import NodeError

DEFAULT_PORT = 8545
DEFAULT_CHAIN_ID = 31337
DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def anvil_executable() -> str:
    """Anvil from the project's npm install (run as itself, see tools/bin/anvil), else from PATH."""
    local = PROJECT_ROOT / "tools" / "bin" / "anvil"
    if any((PROJECT_ROOT / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil")):
        return str(local)
    found = shutil.which("anvil")
    if found is None:
        raise NodeError("anvil is not installed: run the README's set-up command (npm install)")
    return found


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class AnvilOptions:
    port: int = DEFAULT_PORT
    chain_id: int = DEFAULT_CHAIN_ID
    accounts: int = 10
    balance_eth: int = 10_000
    block_time: float | None = None
    state_file: Path | None = None
    gas_limit: int | None = None
    log_file: Path | None = None


@dataclass(frozen=True)
class AnvilNode:
    pid: int
    url: str
    options: AnvilOptions


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_anvil(options: AnvilOptions, *, detach: bool = False) -> tuple[AnvilNode, subprocess.Popen[bytes]]:
    """Start Anvil and wait until it answers. `detach` keeps it running after this process ends."""
    if port_in_use(options.port):
        raise NodeError(
            f"port {options.port} is already in use: "
            "stop what runs there (`chaincrm node down`?) or choose another port"
        )
    command = [
        anvil_executable(),
        "--host", "127.0.0.1",
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
    log = open(options.log_file, "ab") if options.log_file else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=None if detach else _die_with_parent,
        start_new_session=detach,
    )
    url = f"http://127.0.0.1:{options.port}"
    try:
        _wait_until_ready(url, process)
    except BaseException:
        stop_process(process.pid)
        raise
    return AnvilNode(pid=process.pid, url=url, options=options), process


def _wait_until_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NodeError(f"anvil exited with code {process.returncode} while starting")
        try:
            reply = requests.post(
                url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=1
            )
            if reply.ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise NodeError(f"anvil did not answer at {url} within {STARTUP_TIMEOUT_SECONDS:.0f} s")


def stop_process(pid: int, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM, then SIGKILL after `timeout`; a process already gone is fine."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
            if finished == pid:
                return
        except ChildProcessError:  # not our child: poll for existence instead
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


@contextmanager
def anvil(options: AnvilOptions | None = None) -> Iterator[AnvilNode]:
    """Run Anvil for the duration of a block; it is stopped on exit, error or Ctrl-C."""
    node, process = start_anvil(options or AnvilOptions(port=free_port()))
    try:
        yield node
    finally:
        stop_process(process.pid)


def dev_private_keys(count: int = 10) -> list[bytes]:
    """The private keys of Anvil's default dev accounts (public test keys: never for real funds)."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return [
        bytes(Account.from_mnemonic(DEFAULT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key) for i in range(count)
    ]
