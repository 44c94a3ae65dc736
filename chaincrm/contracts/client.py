"""The CRM client: one object built from configuration that reaches every contract.

It accepts an existing Web3 (Brownie scripts hand it theirs) or builds one from the RPC URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from web3 import HTTPProvider, IPCProvider, LegacyWebSocketProvider, Web3
from web3.providers import JSONBaseProvider

from chaincrm.chain import Chain
from chaincrm.chain.artifacts import all_abis
from chaincrm.chain.reverts import RevertDecoder
from chaincrm.config import Settings, check_rpc_url, ipc_path, is_ipc_path
from chaincrm.contracts.deployment import check_record, load_record
from chaincrm.contracts.escrow import Escrow
from chaincrm.contracts.pipeline import Pipeline
from chaincrm.contracts.registry import Registry
from chaincrm.models import Deployment

RPC_TIMEOUT_SECONDS = 10


def provider_for(rpc_url: str) -> JSONBaseProvider:
    """The web3 provider for an endpoint: http(s) URL, ws(s) URL or IPC socket path (ConfigError otherwise)."""
    url = check_rpc_url(rpc_url)
    if is_ipc_path(url):
        return IPCProvider(ipc_path(url), timeout=RPC_TIMEOUT_SECONDS)
    if url.lower().startswith(("ws://", "wss://")):
        return LegacyWebSocketProvider(url, websocket_timeout=RPC_TIMEOUT_SECONDS)
    return HTTPProvider(url, request_kwargs={"timeout": RPC_TIMEOUT_SECONDS})


def connect(rpc_url: str, *, confirmations: int = 1) -> Chain:
    """A Chain for an RPC URL (or IPC path), with reverts decoded from the CRM's ABIs."""
    return Chain(Web3(provider_for(rpc_url)), RevertDecoder(all_abis()), confirmations=confirmations)


def chain_for(w3: Web3, *, confirmations: int = 1) -> Chain:
    return Chain(w3, RevertDecoder(all_abis()), confirmations=confirmations)


@dataclass(frozen=True)
class Crm:
    """The deployed CRM on one chain."""

    chain: Chain
    deployment: Deployment
    registry: Registry
    pipeline: Pipeline
    escrow: Escrow

    @classmethod
    def attach(cls, chain: Chain, deployment: Deployment, *, check: bool = True) -> Crm:
        if check:
            check_record(chain, deployment)
        return cls(
            chain=chain,
            deployment=deployment,
            registry=Registry(chain, deployment.registry),
            pipeline=Pipeline(chain, deployment.pipeline),
            escrow=Escrow(chain, deployment.escrow),
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, w3: Web3 | None = None, record: Path | None = None) -> Crm:
        chain = (
            chain_for(w3, confirmations=settings.confirmations)
            if w3
            else connect(settings.rpc_url, confirmations=settings.confirmations)
        )
        return cls.attach(chain, load_record(record or settings.deployment_path))
