"""The event logs the read-side views use: from the deployment's own contracts only, since the
deployment block, in chain order, with block timestamps read once.

Every view reads its logs through :class:`DeploymentLogs`, so how logs are fetched (one
``eth_getLogs``, or a range at a time for nodes that refuse wide ranges) is decided here alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from web3.contract import Contract

    from chaincrm.chain.logs import LogFields
    from chaincrm.contracts.client import Crm


class DeployedContract(Protocol):
    """A contract wrapper of the deployment (Registry, Pipeline or Escrow)."""

    @property
    def address(self) -> str: ...

    @property
    def contract(self) -> Contract: ...


class DeploymentLogs:
    """Reads logs and block times for one deployment; block timestamps are cached."""

    def __init__(self, crm: Crm, from_block: int | None = None) -> None:
        self.crm = crm
        # The deployment's block by default: no log of its contracts is older.
        self.from_block = crm.deployment.block_number if from_block is None else from_block
        self._timestamps: dict[int, int] = {}

    def of(self, contract: DeployedContract, event: str, **filters: Any) -> list[LogFields]:
        """`event`'s decoded logs from `contract` since the deployment, filtered on indexed
        arguments, in chain order; a log from another address is dropped."""
        kind = getattr(contract.contract.events, event)
        # Chunked and halved when a node refuses a wide range; logs from other addresses dropped.
        own = self.crm.chain.logs.events(kind, from_block=self.from_block, argument_filters=filters)
        return sorted(own, key=lambda log: (int(log["blockNumber"]), int(log["logIndex"])))

    def timestamp(self, block_number: int) -> int:
        """The block's timestamp (Unix seconds)."""
        if block_number not in self._timestamps:
            self._timestamps[block_number] = self.crm.chain.block_timestamp(block_number)
        return self._timestamps[block_number]

    def time_of(self, log: Any) -> int:
        """When a log's event happened: its own ``at`` if it carries one, else its block's time."""
        args = log["args"]
        return int(args["at"]) if "at" in args else self.timestamp(int(log["blockNumber"]))
