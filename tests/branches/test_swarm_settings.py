"""Branch settings without a running node: swarm keys, peer and listen addresses, Kubo's config."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from chaincrm.errors import ConfigError
from chaincrm.storage.node.config import branch_config, filtered, filters_allowing, private_config
from chaincrm.storage.node.swarm import (
    BRANCH_FILE_NAME,
    BranchSettings,
    new_swarm_key,
    parse_listen_address,
    parse_peer_address,
    read_branch_settings,
    read_swarm_key,
    write_branch_settings,
    write_swarm_key,
)

PEER_ID = "QmZq4juv481H4GjMxkVCJuZbNQ4K21pwfEtShiv6ajdguj"
PEER = f"/ip4/10.0.2.20/tcp/4001/p2p/{PEER_ID}"
KUBO_DEFAULTS = {
    "Bootstrap": ["/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN"],
    "Addresses": {"Swarm": ["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"]},
    "Swarm": {"AddrFilters": None},
}


def test_a_swarm_key_is_written_in_kubos_format_with_mode_0600_and_read_back(tmp_path: Path) -> None:
    key = new_swarm_key()

    path = write_swarm_key(key, tmp_path / "swarm.key")

    assert path.read_text() == f"/key/swarm/psk/1.0.0/\n/base16/\n{key.key.hex()}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_swarm_key(path) == key
    assert key.key.hex() not in repr(key)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "is not a swarm key"),
        ("/key/swarm/psk/1.0.0/\n/base16/\n", "is not a swarm key"),
        ("/key/swarm/psk/2.0.0/\n/base16/\n" + "ab" * 32, "is not a swarm key"),
        ("/key/swarm/psk/1.0.0/\n/base16/\n" + "ab" * 31, "does not hold a key of 64 hex digits"),
        ("/key/swarm/psk/1.0.0/\n" + "ab" * 32 + "\n/base16/", "uses another encoding, not /base16/"),
    ],
)
def test_a_wrong_swarm_key_is_refused_in_one_line_that_never_shows_it(
    tmp_path: Path, text: str, complaint: str
) -> None:
    path = tmp_path / "swarm.key"
    path.write_text(text)

    with pytest.raises(ConfigError, match=complaint) as refused:
        read_swarm_key(path)

    assert "ab" * 31 not in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("address", "complaint"),
    [
        ("", "is not a multiaddr"),
        ("10.0.0.1:4001", "is not a multiaddr"),
        ("/ip4/10.0.0.1/tcp/4001", "is not /ip4/<ip>/tcp/<port>/p2p/<peer id>"),
        (f"/ip4/10.0.0.1/udp/4001/p2p/{PEER_ID}", "is not /ip4/<ip>/tcp/<port>/p2p/<peer id>"),
        (f"/dns4/branch.example/tcp/4001/p2p/{PEER_ID}", "is not /ip4/<ip>/tcp/<port>/p2p/<peer id>"),
        (f"/ip4/10.0.0.300/tcp/4001/p2p/{PEER_ID}", "does not parse"),
        (f"/ip4/10.0.0.1/tcp/70000/p2p/{PEER_ID}", "does not parse"),
        (f"/ip4/10.0.0.1/tcp/0/p2p/{PEER_ID}", "has no usable TCP port"),
        (f"/ip4/0.0.0.0/tcp/4001/p2p/{PEER_ID}", "which no peer can be dialled at"),
        ("/ip4/10.0.0.1/tcp/4001/p2p/QmNotAPeer", "does not parse: Invalid CID: QmNotAPeer"),
        (f"/ip4/10.0.0.1/tcp/4001/p2p/{PEER_ID} ", "is not a multiaddr"),
    ],
)
def test_a_peer_address_that_does_not_parse_is_one_clear_line(address: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint) as refused:
        parse_peer_address(address)

    assert "\n" not in str(refused.value)


def test_a_peer_address_parses_into_its_peer_id_ip_and_transport() -> None:
    peer = parse_peer_address(f"/ip6/::1/tcp/4001/p2p/{PEER_ID}")

    assert (peer.peer_id, peer.ip, peer.transport) == (PEER_ID, "::1", "/ip6/::1/tcp/4001")


def test_a_listen_address_is_ip_and_tcp_port_only() -> None:
    assert parse_listen_address("/ip4/0.0.0.0/tcp/4001").port == 4001
    with pytest.raises(ConfigError, match="has port 0"):
        parse_listen_address("/ip4/127.0.0.1/tcp/0")
    with pytest.raises(ConfigError, match="is not /ip4/<ip>/tcp/<port>"):
        parse_listen_address(PEER)


def test_branch_settings_keep_one_address_per_peer_and_round_trip(tmp_path: Path) -> None:
    settings = BranchSettings("lisbon", "/ip4/10.0.1.20/tcp/4001")
    moved = f"/ip4/10.0.9.9/tcp/4001/p2p/{PEER_ID}"

    updated = settings.with_peer(parse_peer_address(PEER)).with_peer(parse_peer_address(moved))
    write_branch_settings(tmp_path, updated)

    assert updated.peers == (moved,)
    assert read_branch_settings(tmp_path) == updated
    assert read_branch_settings(tmp_path / "elsewhere") is None


def test_a_branch_name_must_be_a_short_label() -> None:
    with pytest.raises(ConfigError, match="is not a short label"):
        BranchSettings("Lisbon Office", "/ip4/10.0.1.20/tcp/4001")


def test_damaged_branch_settings_are_one_line(tmp_path: Path) -> None:
    (tmp_path / BRANCH_FILE_NAME).write_text(json.dumps({"format": "chaincrm-branch/1", "branch": "lisbon"}))

    with pytest.raises(ConfigError, match="lack 'listen'"):
        read_branch_settings(tmp_path)


def test_the_branch_config_peers_only_with_its_peers_and_stays_off_the_public_network() -> None:
    peer = parse_peer_address(PEER)

    config = branch_config(KUBO_DEFAULTS, parse_listen_address("/ip4/10.0.1.20/tcp/4001"), [peer])

    assert config["Bootstrap"] == [] and config["Routing"]["Type"] == "none"
    assert config["Addresses"]["Swarm"] == ["/ip4/10.0.1.20/tcp/4001"]
    assert config["Peering"]["Peers"] == [{"ID": PEER_ID, "Addrs": ["/ip4/10.0.2.20/tcp/4001"]}]
    assert config["Swarm"]["Transports"]["Network"]["QUIC"] is False
    assert config["Discovery"]["MDNS"]["Enabled"] is False and config["Reprovider"]["Interval"] == "0"
    filters = config["Swarm"]["AddrFilters"]
    assert not filtered("10.0.2.20", filters) and not filtered("10.0.1.20", filters)
    assert all(filtered(ip, filters) for ip in ("10.0.2.21", "8.8.8.8", "127.0.0.1", "::1", "2001:db8::1"))


def test_the_default_config_is_as_private_as_before() -> None:
    config = private_config(KUBO_DEFAULTS)

    assert config["Addresses"]["Swarm"] == ["/ip4/127.0.0.1/tcp/0"] and config["Peering"]["Peers"] == []
    assert filtered("10.0.0.1", config["Swarm"]["AddrFilters"]) and not filtered(
        "127.0.0.1", config["Swarm"]["AddrFilters"]
    )
    assert "Transports" not in config["Swarm"]


def test_filters_allowing_nothing_block_every_address() -> None:
    assert filters_allowing([]) == ["/ip4/0.0.0.0/ipcidr/0", "/ip6/::/ipcidr/0"]
