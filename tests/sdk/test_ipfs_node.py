"""The embedded node: its private configuration, its Kubo RPC API, and its process management."""

from __future__ import annotations

import base64
import hashlib
import http.client
import ipaddress
import json
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipfshttpclient
import pytest

from chaincrm.documents import KuboStore, _b58decode, digest_to_cid
from chaincrm.errors import NodeError
from chaincrm.ipfs_node import (
    KUBO_VERSION,
    PID_FILE_NAME,
    NodeHandle,
    node_status,
    private_config,
    start_node,
    stop_node,
)
from tests.sdk.ipfs_fixtures import free_port

CHUNK_BYTES = 256 * 1024
SHA2_256_PREFIX = bytes([0x12, 0x20])


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

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
        return Answer(response.status, response.read())
    finally:
        connection.close()


def add(node: NodeHandle, data: bytes, query: str = "") -> Answer:
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="doc"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    content_type = f"multipart/form-data; boundary={boundary}"
    return call(node, f"/api/v0/add?{query}", body=body, headers={"Content-Type": content_type})


def repo_config(node: NodeHandle) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((node.repo_dir / "config").read_text())
    return config


# --- Private by default -----------------------------------------------------------------------


def test_the_repository_has_no_bootstrap_peers(ipfs_node: NodeHandle) -> None:
    assert repo_config(ipfs_node)["Bootstrap"] == []


def test_the_swarm_listens_on_loopback_only(ipfs_node: NodeHandle) -> None:
    swarm = repo_config(ipfs_node)["Addresses"]["Swarm"]

    assert swarm
    assert all(address.startswith("/ip4/127.0.0.1/") for address in swarm)


def test_the_node_announces_no_address(ipfs_node: NodeHandle) -> None:
    addresses = repo_config(ipfs_node)["Addresses"]

    assert addresses["Announce"] == [] and addresses["AppendAnnounce"] == []
    assert set(addresses["NoAnnounce"]) == {"/ip4/0.0.0.0/ipcidr/0", "/ip6/::/ipcidr/0"}
    assert call(ipfs_node, "/api/v0/id").json()["Addresses"] == []


def test_every_address_but_loopback_is_filtered(ipfs_node: NodeHandle) -> None:
    filters = repo_config(ipfs_node)["Swarm"]["AddrFilters"]
    networks = [ipaddress.ip_network(f"{f.split('/')[2]}/{f.split('/')[4]}") for f in filters if f.startswith("/ip4/")]

    def filtered(address: str) -> bool:
        return any(ipaddress.ip_address(address) in network for network in networks)

    assert "/ip6/::/ipcidr/0" in filters
    assert not filtered("127.0.0.1")
    for outside in ("0.0.0.0", "8.8.8.8", "10.0.0.1", "126.255.255.255", "128.0.0.1"):
        assert filtered(outside), outside


def test_mdns_routing_and_providing_are_off(ipfs_node: NodeHandle) -> None:
    config = repo_config(ipfs_node)

    assert config["Discovery"]["MDNS"]["Enabled"] is False
    assert config["Routing"]["Type"] == "none"
    assert config["Experimental"]["StrategicProviding"] is True
    assert config["Swarm"]["DisableNatPortMap"] is True


def test_kubos_own_api_and_gateway_are_not_exposed(ipfs_node: NodeHandle) -> None:
    addresses = repo_config(ipfs_node)["Addresses"]

    assert addresses["API"] == [] and addresses["Gateway"] == []


def test_private_config_keeps_unrelated_settings() -> None:
    original = {"Datastore": {"StorageMax": "10GB"}, "Bootstrap": ["/dnsaddr/bootstrap.libp2p.io"]}

    private = private_config(original)

    assert private["Datastore"] == {"StorageMax": "10GB"}
    assert original["Bootstrap"] == ["/dnsaddr/bootstrap.libp2p.io"]  # the input is not changed


# --- Kubo RPC API -----------------------------------------------------------------------------


def test_ipfshttpclient_sees_the_embedded_kubo_version(ipfs_node: NodeHandle) -> None:
    with ipfshttpclient.Client(ipfs_node.api_addr) as client:
        version = client.version()

    assert version["Version"] == KUBO_VERSION


def test_the_reported_public_key_belongs_to_the_peer_id(ipfs_node: NodeHandle) -> None:
    identity = call(ipfs_node, "/api/v0/id").json()

    public_key = base64.b64decode(identity["PublicKey"])

    assert SHA2_256_PREFIX + hashlib.sha256(public_key).digest() == _b58decode(identity["ID"])


@pytest.mark.parametrize("size", [0, 12, CHUNK_BYTES + 1])
def test_only_hash_gives_the_cid_and_size_of_a_real_add_without_storing(
    ipfs_node: NodeHandle, document_store: KuboStore, size: int
) -> None:
    data = os.urandom(size)

    predicted = add(ipfs_node, data, "only-hash=true").json_lines()[0]
    held_before = document_store.has(predicted["Hash"])
    stored = add(ipfs_node, data).json_lines()[0]

    assert not held_before or size == 0  # the empty file may be in the repository already
    assert (predicted["Hash"], predicted["Size"]) == (stored["Hash"], stored["Size"])


def test_adding_without_pin_leaves_the_document_unpinned(ipfs_node: NodeHandle, document_store: KuboStore) -> None:
    answer = add(ipfs_node, os.urandom(64), "pin=false").json_lines()[0]

    assert document_store.has(answer["Hash"])
    assert answer["Hash"] not in document_store.pins()


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


def test_errors_are_shaped_like_kubos(ipfs_node: NodeHandle) -> None:
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
    assert answer.json() == {
        "Message": 'argument "ipfs-path" is required',
        "Code": 1,
        "Type": "error",
    }


def test_adding_as_cidv1_is_refused(ipfs_node: NodeHandle) -> None:
    answer = add(ipfs_node, b"data", "cid-version=1")

    assert answer.status == 400
    assert "cid-version" in answer.json()["Message"]


def test_get_requests_are_refused(ipfs_node: NodeHandle) -> None:
    assert call(ipfs_node, "/api/v0/version", method="GET").status == 405


def test_requests_from_a_browser_page_are_refused(ipfs_node: NodeHandle) -> None:
    answer = call(ipfs_node, "/api/v0/version", headers={"Origin": "https://example.com"})

    assert answer.status == 403


def test_requests_for_another_host_name_are_refused(ipfs_node: NodeHandle) -> None:
    answer = call(ipfs_node, "/api/v0/version", headers={"Host": f"rebound.example:{ipfs_node.port}"})

    assert answer.status == 403


def test_unknown_commands_are_not_found(ipfs_node: NodeHandle) -> None:
    assert call(ipfs_node, "/api/v0/swarm/connect").status == 404


# --- Process management -----------------------------------------------------------------------


def test_node_status_reports_the_running_node(ipfs_node: NodeHandle) -> None:
    status = node_status(ipfs_node.repo_dir)

    assert (status.running, status.pid, status.port) == (True, ipfs_node.pid, ipfs_node.port)
    assert status.kubo_version == KUBO_VERSION


def test_node_status_of_an_empty_folder_is_not_running(tmp_path: Path) -> None:
    assert not node_status(tmp_path).running


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
    with pytest.raises(ProcessLookupError):
        os.kill(stopped_node.handle.pid, 0)


def test_stopping_removes_the_pid_file(stopped_node: StoppedNode) -> None:
    assert not (stopped_node.handle.repo_dir / PID_FILE_NAME).exists()


def test_sigterm_closes_the_kubo_node_cleanly(stopped_node: StoppedNode) -> None:
    kubo_log = (stopped_node.handle.repo_dir / "kubo.log").read_text()
    node_log = stopped_node.handle.log_file.read_text()

    assert "Cleaning up node" in kubo_log
    assert "stopping on SIGTERM" in node_log and "IPFS node stopped" in node_log


def test_stopping_a_stopped_node_reports_nothing_to_stop(stopped_node: StoppedNode) -> None:
    assert stopped_node.stopped_again is False
