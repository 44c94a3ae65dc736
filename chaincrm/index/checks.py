"""Checks before anything is written: the node serves the deployment's chain, the three addresses
hold code, and an existing index was built for this chain and these contracts. A new index starts
at the deployment (:func:`deployment_start`)."""

from __future__ import annotations

from eth_utils import to_checksum_address

from chaincrm.errors import ChainError, ConfigError
from chaincrm.index.database import IndexState, read_state
from chaincrm.index.rpc import Rpc
from chaincrm.index.store import IndexStore
from chaincrm.models import Deployment


class Preflight:
    """Makes sure one indexer may write: once per chain id for the code, every pass for the rest."""

    def __init__(self, rpc: Rpc, store: IndexStore, deployment: Deployment, start_block: int | None) -> None:
        self.rpc = rpc
        self.store = store
        self.deployment = deployment
        self.start_block = start_block
        self.addresses = [deployment.registry, deployment.pipeline, deployment.escrow]
        self.chain_id: int | None = None  # the chain whose code was checked

    def prepare(self) -> IndexState:
        """The index's state after the checks; a new index is created here."""
        chain_id = int(self.rpc.call("eth_chainId", []), 16)
        if chain_id != self.deployment.chain_id:
            raise ChainError(
                f"the node at {self.rpc.endpoint} serves chain {chain_id}, "
                f"the deployment record is for chain {self.deployment.chain_id}"
            )
        state = read_state(self.store.engine)
        if state is not None:
            self._check_state(state, chain_id)
        if self.chain_id != chain_id:
            self._check_code(chain_id)
            self.chain_id = chain_id
        if state is None:
            start = self.start_block if self.start_block is not None else self.deployment_start()
            state = self.store.create(chain_id, self.deployment, start)
        return state

    def _check_code(self, chain_id: int) -> None:
        codes = self.rpc.batch([("eth_getCode", [address, "latest"]) for address in self.addresses])
        for what, address, code in zip(("registry", "pipeline", "escrow"), self.addresses, codes, strict=True):
            if not code or code == "0x":
                raise ChainError(
                    f"no {what} contract at {address} on chain {chain_id}: is the deployment record for this chain?"
                )

    def _check_state(self, state: IndexState, chain_id: int) -> None:
        if state.chain_id != chain_id:
            raise ChainError(
                f"the index at {self.store.where} was built for chain {state.chain_id}; "
                f"the node at {self.rpc.endpoint} serves chain {chain_id}"
            )
        for what, indexed, wanted in (
            ("registry", state.registry, self.deployment.registry),
            ("pipeline", state.pipeline, self.deployment.pipeline),
            ("escrow", state.escrow, self.deployment.escrow),
        ):
            if indexed != to_checksum_address(wanted):
                raise ConfigError(
                    f"the index at {self.store.where} follows the {what} at {indexed}, the deployment record "
                    f"names {wanted}: use another --database"
                )

    def deployment_start(self) -> int:
        """The first block with code at any of the three addresses (constructors emit events too);
        the record's block where the node keeps no history."""
        recorded = self.deployment.block_number
        try:
            first = recorded
            for address in self.addresses:
                low, high = 0, recorded
                while low < high:
                    middle = (low + high) // 2
                    code = self.rpc.call("eth_getCode", [address, hex(middle)])
                    if code and code != "0x":
                        high = middle
                    else:
                        low = middle + 1
                first = min(first, low)
            return first
        except ChainError:
            return recorded


__all__ = ["Preflight"]
