"""Configuration: where the chain, the deployment record, the IPFS service and keystores are.

Values come from arguments first, then environment variables (``CHAINCRM_RPC_URL``,
``CHAINCRM_IPFS_API``, ``CHAINCRM_HOME``, ``CHAINCRM_CONFIRMATIONS``), then defaults for the local
stack that ``chaincrm node up`` starts.

The home (deployment record, keystores, local node state) follows one rule, for the CLI and the
SDK alike (:func:`find_home`):

1. ``--home`` / ``CHAINCRM_HOME`` when given;
2. else the nearest ``.chaincrm`` folder in the working directory or above it (a project's home);
3. else the per-user home ``~/.chaincrm``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from chaincrm.errors import ConfigError

DEFAULT_RPC_URL = "http://127.0.0.1:8545"
DEFAULT_IPFS_API = "/ip4/127.0.0.1/tcp/5001/http"
HOME_DIR_NAME = ".chaincrm"
USER_HOME = Path("~") / HOME_DIR_NAME
RPC_URL_SCHEMES = ("http", "https", "ws", "wss")
HOME_RULE = (
    "--home or CHAINCRM_HOME if given; else the nearest .chaincrm folder in the working directory or above "
    "it (a project); else ~/.chaincrm (per user)"
)


def find_home(start: Path | None = None) -> Path:
    """The nearest ``.chaincrm`` folder in `start` (default: the working directory) or one of its
    parents; else the per-user ``~/.chaincrm``. ``--home``/``CHAINCRM_HOME`` come before this."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / HOME_DIR_NAME
        if candidate.is_dir():
            return candidate
    return USER_HOME.expanduser()


def check_rpc_url(url: str) -> str:
    """An RPC endpoint the client can use: an http(s) or ws(s) URL with a host, or the path of an
    IPC socket (``/path/to/geth.ipc``, ``ipc:///path``); anything else is a ConfigError."""
    text = url.strip()
    if is_ipc_path(text):
        return text
    parts = urlsplit(text)
    if parts.scheme.lower() not in RPC_URL_SCHEMES or not parts.hostname:
        raise ConfigError(
            f"the RPC URL {url!r} is not an http://, https://, ws:// or wss:// URL with a host, nor an IPC "
            "socket path (--rpc-url, CHAINCRM_RPC_URL)"
        )
    return text


def is_ipc_path(url: str) -> bool:
    """Whether `url` names an IPC socket: ``ipc://PATH``, or a file path ending in ``.ipc``."""
    return url.startswith("ipc://") or ("://" not in url and url.endswith(".ipc"))


def ipc_path(url: str) -> str:
    return url[len("ipc://") :] if url.startswith("ipc://") else url


def _default_home() -> Path:
    return find_home()


@dataclass(frozen=True)
class Settings:
    rpc_url: str = DEFAULT_RPC_URL
    ipfs_api: str = DEFAULT_IPFS_API
    home: Path = field(default_factory=_default_home)
    confirmations: int = 1

    def __post_init__(self) -> None:
        check_rpc_url(self.rpc_url)
        if self.confirmations < 0:
            raise ConfigError("confirmations must be 0 or more")

    @property
    def deployment_path(self) -> Path:
        """The home's one record from before per-chain records (``deployments/<chainid>.json``,
        :func:`chaincrm.contracts.deployment.record_path`): still read for the chain it names."""
        return self.home / "deployment.json"

    @property
    def keystore_dir(self) -> Path:
        return self.home / "keystores"

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from `overrides` (None means not given), then the environment, then defaults."""
        env = os.environ
        given = {key: value for key, value in overrides.items() if value is not None}
        try:
            confirmations = int(env.get("CHAINCRM_CONFIRMATIONS", "1"))
        except ValueError:
            raise ConfigError("CHAINCRM_CONFIRMATIONS must be a whole number") from None
        home = given.pop("home", None) or env.get("CHAINCRM_HOME") or None
        settings = cls(
            rpc_url=str(given.pop("rpc_url", None) or env.get("CHAINCRM_RPC_URL", DEFAULT_RPC_URL)),
            ipfs_api=env.get("CHAINCRM_IPFS_API", DEFAULT_IPFS_API),
            home=Path(str(home)).expanduser() if home else find_home(),
            confirmations=confirmations,
        )
        return replace(settings, **given)  # type: ignore[arg-type]
