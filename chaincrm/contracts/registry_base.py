"""The handle every part of :class:`~chaincrm.contracts.registry.Registry` works through."""

from __future__ import annotations

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from web3.contract import Contract

from chaincrm.chain import Chain
from chaincrm.chain.artifacts import load_artifact


class RegistryBase:
    """One deployed CrmRegistry: the chain it lives on, its address and its web3 contract."""

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.address: ChecksumAddress = to_checksum_address(address)
        self.contract: Contract = chain.w3.eth.contract(address=self.address, abi=load_artifact("CrmRegistry").abi)
