"""The CRM client: one object built from configuration that reaches every contract.

It accepts an existing Web3 (Brownie scripts hand it theirs) or connects to the RPC URL. From a
URL, reads go to the node as raw JSON-RPC and web3 is imported only when something needs it
(signing, sending, web3's contract events); each contract's wrapper is built on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaincrm.chain import Chain
from chaincrm.chain.artifacts import CONTRACT_NAMES, all_abis, load_artifact
from chaincrm.chain.reverts import RevertDecoder
from chaincrm.chain.transport import HttpTransport
from chaincrm.config import Settings, check_rpc_url, ipc_path, is_ipc_path
from chaincrm.contracts.deployment import check_record, load_record, record_for
from chaincrm.models import Deployment

if TYPE_CHECKING:
    from web3 import Web3
    from web3.providers import JSONBaseProvider

    from chaincrm.contracts.branches import BranchDirectory
    from chaincrm.contracts.escrow import Escrow
    from chaincrm.contracts.pipeline import Pipeline
    from chaincrm.contracts.registry import Registry

RPC_TIMEOUT_SECONDS = 10


def provider_for(rpc_url: str) -> JSONBaseProvider:
    """The web3 provider for an endpoint: http(s) URL, ws(s) URL or IPC socket path (ConfigError otherwise)."""
    from web3 import HTTPProvider, IPCProvider, LegacyWebSocketProvider

    url = check_rpc_url(rpc_url)
    if is_ipc_path(url):
        return IPCProvider(ipc_path(url), timeout=RPC_TIMEOUT_SECONDS)
    if url.lower().startswith(("ws://", "wss://")):
        return LegacyWebSocketProvider(url, websocket_timeout=RPC_TIMEOUT_SECONDS)
    return HTTPProvider(url, request_kwargs={"timeout": RPC_TIMEOUT_SECONDS})


def web3_for(rpc_url: str) -> Web3:
    from web3 import Web3

    return Web3(provider_for(rpc_url))


def revert_abis() -> list[tuple[dict[str, Any], ...]]:
    """The ABIs reverts are decoded from: the core contracts' and the branch directory's."""
    extra = [] if "BranchDirectory" in CONTRACT_NAMES else [load_artifact("BranchDirectory").abi]
    return [*all_abis(), *extra]


def connect(rpc_url: str, *, confirmations: int = 1) -> Chain:
    """A Chain for an RPC URL (or IPC path), with reverts decoded from the CRM's ABIs. Over
    http(s), reads need no web3; the Web3 object is built when first needed."""
    url = check_rpc_url(rpc_url)
    transport = HttpTransport(url, timeout=RPC_TIMEOUT_SECONDS) if HttpTransport.serves(url) else None
    return Chain(
        None,
        RevertDecoder(revert_abis()),
        confirmations=confirmations,
        connect=lambda: web3_for(url),
        transport=transport,
    )


def chain_for(w3: Web3, *, confirmations: int = 1) -> Chain:
    return Chain(w3, RevertDecoder(revert_abis()), confirmations=confirmations)


@dataclass(frozen=True)
class Crm:
    """The deployed CRM on one chain: `registry`, `pipeline` and `escrow`, each built on first use."""

    chain: Chain
    deployment: Deployment

    @cached_property
    def registry(self) -> Registry:
        from chaincrm.contracts.registry import Registry

        registry = Registry(self.chain, self.deployment.registry)
        registry.records_from_block = self.deployment.block_number  # where looking for a record on-chain starts
        return registry

    @cached_property
    def pipeline(self) -> Pipeline:
        from chaincrm.contracts.pipeline import Pipeline

        return Pipeline(self.chain, self.deployment.pipeline)

    @cached_property
    def escrow(self) -> Escrow:
        from chaincrm.contracts.escrow import Escrow

        return Escrow(self.chain, self.deployment.escrow)

    @cached_property
    def branches(self) -> BranchDirectory:
        """The BranchDirectory; one ConfigError line when the record has none (an older deployment)."""
        from chaincrm.contracts.branches import BranchDirectory, branches_address

        return BranchDirectory(self.chain, branches_address(self.deployment))

    @classmethod
    def attach(cls, chain: Chain, deployment: Deployment, *, check: bool = True) -> Crm:
        if check:
            check_record(chain, deployment)
        return cls(chain=chain, deployment=deployment)

    @classmethod
    def from_settings(cls, settings: Settings, *, w3: Web3 | None = None, record: Path | None = None) -> Crm:
        chain = (
            chain_for(w3, confirmations=settings.confirmations)
            if w3
            else connect(settings.rpc_url, confirmations=settings.confirmations)
        )
        # Every process using this home shares one transaction journal: its nonces, and every
        # transaction tracked until final (re-sent when dropped, replaced, cancelled on give-up).
        chain.keep_journal(settings.state_dir)
        return cls.attach(chain, load_record(record or record_for(settings.home, chain)))
