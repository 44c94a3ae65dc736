"""Configuration: where the chain, the deployment record, the IPFS service and keystores are.

Values come from arguments first, then environment variables (``CHAINCRM_RPC_URL``,
``CHAINCRM_IPFS_API``, ``CHAINCRM_HOME``, ``CHAINCRM_CONFIRMATIONS``), then defaults for the local
stack that ``chaincrm node up`` starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from chaincrm.errors import ConfigError

DEFAULT_RPC_URL = "http://127.0.0.1:8545"
DEFAULT_IPFS_API = "/ip4/127.0.0.1/tcp/5001/http"


@dataclass(frozen=True)
class Settings:
    rpc_url: str = DEFAULT_RPC_URL
    ipfs_api: str = DEFAULT_IPFS_API
    home: Path = Path(".chaincrm")
    confirmations: int = 1

    @property
    def deployment_path(self) -> Path:
        return self.home / "deployment.json"

    @property
    def keystore_dir(self) -> Path:
        return self.home / "keystores"

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        try:
            confirmations = int(env.get("CHAINCRM_CONFIRMATIONS", "1"))
        except ValueError:
            raise ConfigError("CHAINCRM_CONFIRMATIONS must be a whole number") from None
        settings = cls(
            rpc_url=env.get("CHAINCRM_RPC_URL", DEFAULT_RPC_URL),
            ipfs_api=env.get("CHAINCRM_IPFS_API", DEFAULT_IPFS_API),
            home=Path(env.get("CHAINCRM_HOME", ".chaincrm")),
            confirmations=confirmations,
        )
        given = {key: value for key, value in overrides.items() if value is not None}
        return replace(settings, **given)  # type: ignore[arg-type]
