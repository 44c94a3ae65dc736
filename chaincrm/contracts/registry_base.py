"""The handle every part of :class:`~chaincrm.contracts.registry.Registry` works through."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from chaincrm.chain import Chain
from chaincrm.chain.artifacts import load_artifact
from chaincrm.chain.contract import contract_at

if TYPE_CHECKING:
    from web3.contract import Contract


class RegistryBase:
    """One deployed CrmRegistry: the chain it lives on, its address and its contract handle (web3's
    Contract is built from it only when something needs it)."""

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.address: ChecksumAddress = to_checksum_address(address)
        self.contract: Contract = contract_at(chain, "CrmRegistry", self.address, load_artifact("CrmRegistry").abi)
