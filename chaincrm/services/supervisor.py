"""Supervising local service processes (Anvil, the embedded IPFS node), on psutil.

One way to do each job, for every service:

* :func:`spawn` starts a child, attached (it dies with this process) or detached (its own
  session, so it outlives the command that started it);
* :class:`PidFile` records which process serves which port, with its start time so that a
  reused pid is never taken for the service;
* :func:`find` says whether a pid is still one of ours; :func:`stop` ends it and everything it
  started (SIGTERM, a grace period, then SIGKILL);
* :func:`require_free_port` refuses a port in use with one clear message.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from chaincrm.errors import ConfigError, NodeError

__all__ = [
    "LOOPBACK_HOST",
    "MAX_PORT",
    "PidFile",
    "PidRecord",
    "check_port_number",
    "find",
    "free_port",
    "last_log_line",
    "listen_on_loopback",
    "port_in_use",
    "port_in_use_message",
    "require_free_port",
    "spawn",
    "stop",
    "wait_until_ready",
]

LOOPBACK_HOST = "127.0.0.1"
MAX_PORT = 65535
STOP_TIMEOUT_SECONDS = 10.0
KILL_TIMEOUT_SECONDS = 5.0
POLL_INTERVAL_SECONDS = 0.05
CREATE_TIME_TOLERANCE_SECONDS = 1.0
"""psutil reports start times in clock ticks: two readings of one process may differ slightly."""
_PR_SET_PDEATHSIG = 1


# --- Ports ------------------------------------------------------------------------------------


def check_port_number(port: int, what: str = "") -> None:
    """ConfigError unless ``port`` is a TCP port number."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port <= MAX_PORT:
        label = f"{what} port" if what else "port"
        raise ConfigError(f"{label} must be a number from 1 to {MAX_PORT}, not {port!r}")


def listen_on_loopback(port: int) -> socket.socket:
    """A listening TCP socket on 127.0.0.1:``port``; OSError if the port is taken."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # As every server here does: a port whose last connections linger in TIME_WAIT is free.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK_HOST, port))
        listener.listen()
    except OSError:
        listener.close()
        raise
    return listener


def port_in_use(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port`` (or on every address)."""
    try:
        listen_on_loopback(port).close()
    except OSError:
        return True
    return False


def port_in_use_message(port: int) -> str:
    holder = _listener_of(port)
    held_by = f" (by {holder})" if holder else ""
    return (
        f"port {port} on {LOOPBACK_HOST} is already in use{held_by}: "
        "stop the program listening on it (`chaincrm node down`?) or choose another port"
    )


def require_free_port(port: int) -> None:
    """NodeError with :func:`port_in_use_message` if ``port`` is taken."""
    if port_in_use(port):
        raise NodeError(port_in_use_message(port))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK_HOST, 0))
        return int(probe.getsockname()[1])


def _listener_of(port: int) -> str | None:
    """``pid N, name`` of the process listening on ``port``, when the system lets us see it."""
    try:
        for connection in psutil.net_connections(kind="tcp"):
            if connection.status == psutil.CONN_LISTEN and connection.laddr and connection.laddr.port == port:
                if connection.pid is None:
                    return None
                return f"pid {connection.pid}, {psutil.Process(connection.pid).name()}"
    except (psutil.Error, OSError):
        return None
    return None


# --- Pid files --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PidRecord:
    pid: int
    port: int
    created: float | None = None
    """The process's start time (psutil ``create_time``); None in files written before it was kept."""


class PidFile:
    """A JSON record ``{"pid", "port", "created", ...}``, replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> PidRecord | None:
        try:
            record = json.loads(self.path.read_text())
            pid, port = int(record["pid"]), int(record["port"])
            created = float(record["created"]) if record.get("created") is not None else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return PidRecord(pid, port, created) if pid > 0 else None

    def write(self, pid: int, port: int, **extra: str) -> None:
        try:
            created: float | None = psutil.Process(pid).create_time()
        except psutil.Error:
            created = None
        record = {"pid": pid, "port": port, "created": created, **extra}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        temporary.write_text(json.dumps(record) + "\n")
        temporary.replace(self.path)

    def remove(self, pid: int | None = None) -> None:
        """Delete the file; with ``pid``, only if it still names that process."""
        if pid is not None:
            record = self.read()
            if record is not None and record.pid != pid:
                return
        self.path.unlink(missing_ok=True)


# --- Processes --------------------------------------------------------------------------------


def spawn(
    command: Sequence[str],
    *,
    log_file: Path | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    detach: bool,
) -> subprocess.Popen[bytes]:
    """Start ``command`` with stdout and stderr to ``log_file`` (or nowhere).

    ``detach``: its own session and process group, so it outlives this process and :func:`stop`
    can end everything it starts. Otherwise it gets SIGTERM when this process dies (Linux).
    """
    log = open(log_file, "ab") if log_file is not None else None  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log if log is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=detach,
            preexec_fn=None if detach else _die_with_parent,
        )
    finally:
        if log is not None:
            log.close()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_until_ready(
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    *,
    name: str,
    timeout_seconds: float,
    log_file: Path | None = None,
) -> int | None:
    """Wait until ``ready()``: None then, or the exit code if ``process`` exits first.

    If it neither answers nor exits in time, or the wait is interrupted (Ctrl-C), the process
    is stopped; a timeout is a NodeError.
    """
    deadline = time.monotonic() + timeout_seconds
    try:
        while True:
            exit_code = process.poll()
            if exit_code is not None:
                return exit_code
            if ready():
                return None
            if time.monotonic() > deadline:
                where = f" (log: {log_file})" if log_file is not None else ""
                raise NodeError(f"{name} did not answer within {timeout_seconds:g} s{where}")
            time.sleep(POLL_INTERVAL_SECONDS)
    except BaseException:
        stop(process.pid)
        raise


def find(pid: int, markers: Iterable[str], created: float | None = None) -> psutil.Process | None:
    """The live process ``pid`` if its command line holds every marker (and it started at ``created``).

    A zombie (exited, not yet reaped) is not running; neither is a process we may not inspect.
    """
    try:
        process = psutil.Process(pid)
        if created is not None and abs(process.create_time() - created) > CREATE_TIME_TOLERANCE_SECONDS:
            return None  # the pid was reused by another program
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        command = " ".join(process.cmdline())
    except psutil.Error:
        return None
    return process if all(marker in command for marker in markers) else None


def stop(pid: int | psutil.Process, *, timeout_seconds: float = STOP_TIMEOUT_SECONDS) -> bool:
    """Stop a process and what it started; True if it was running.

    SIGTERM goes to the process alone (the node closes Kubo cleanly on it; npm's anvil wrapper
    forwards it to the real binary, which then writes its state). Then its descendants and, for a
    detached service, every process of its group, are waited for; whatever still runs after
    ``timeout_seconds`` gets SIGKILL.
    """
    try:
        leader = pid if isinstance(pid, psutil.Process) else psutil.Process(pid)
    except psutil.NoSuchProcess:
        return False
    if _gone(leader):
        return False
    members = _family(leader)
    with contextlib.suppress(psutil.NoSuchProcess):
        leader.terminate()
    survivors = _wait(members, timeout_seconds)
    for process in survivors:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    if _wait(survivors, KILL_TIMEOUT_SECONDS):
        raise NodeError(f"process {leader.pid} did not stop, even after SIGKILL")
    return True


def _family(leader: psutil.Process) -> list[psutil.Process]:
    members = {leader}
    with contextlib.suppress(psutil.Error):
        members.update(leader.children(recursive=True))
    # A detached service leads its own process group: an orphan it left behind (npm's anvil
    # wrapper gone, the real binary still running) is still in that group.
    if _group_of(leader.pid) == leader.pid and leader.pid != os.getpgrp():
        members.update(process for process in psutil.process_iter() if _group_of(process.pid) == leader.pid)
    return list(members)


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _wait(processes: list[psutil.Process], timeout_seconds: float) -> list[psutil.Process]:
    """Wait until every process is gone; return those still running at the deadline."""
    deadline = time.monotonic() + timeout_seconds
    running = [process for process in processes if not _gone(process)]
    while running and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL_SECONDS)
        running = [process for process in running if not _gone(process)]
    return running


def _gone(process: psutil.Process) -> bool:
    try:
        process.wait(timeout=0)  # reaps it if it is our child
    except psutil.TimeoutExpired:
        pass
    else:
        return True
    try:
        # Someone else's child that has exited, waiting for its parent to reap it. (Our own
        # children are judged by waitpid alone: the kernel shows a thread-group leader as a zombie
        # while the process's other threads, Go's for the IPFS node, are still exiting.)
        return process.status() == psutil.STATUS_ZOMBIE and process.ppid() != os.getpid()
    except psutil.NoSuchProcess:
        return True


def last_log_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    except OSError:
        return "no log"
    lines = [line for line in lines if line]
    return lines[-1] if lines else "no log"
