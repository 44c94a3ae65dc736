"""Who sends a transaction: a local signer (eth-account) or an account the node holds unlocked.

Kept apart from :mod:`~chaincrm.chain.sending` so that naming a sender in a signature imports
neither eth-account nor web3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3.types import TxParams


class Transactable(Protocol):
    """A contract function call or constructor: anything with build_transaction."""

    def build_transaction(self, transaction: TxParams | None = None) -> TxParams: ...

    def estimate_gas(self, transaction: TxParams | None = None, block_identifier: Any = None) -> int: ...


@dataclass(frozen=True)
class NodeAccount:
    """An account the node holds unlocked (Anvil's dev accounts, Brownie's `accounts[i]`).

    For local development only: transactions go out through `eth_sendTransaction`.
    """

    address: ChecksumAddress


Sender: TypeAlias = "LocalAccount | NodeAccount"


def node_account(address: str) -> NodeAccount:
    return NodeAccount(to_checksum_address(address))


__all__ = ["NodeAccount", "Sender", "Transactable", "node_account"]
