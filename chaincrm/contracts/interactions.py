"""CrmRegistry's interaction log: packing records, logging them and reading them back."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address
from hexbytes import HexBytes

from chaincrm.contracts.registry_base import RegistryBase
from chaincrm.errors import ConfigError
from chaincrm.models import Interaction, InteractionKind, Outcome

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3.types import TxReceipt

    from chaincrm.chain import MinedTx, Sender

RECORD_BYTES = 42
MAX_BATCH_RECORDS = 1000
_UINT64_MAX = 2**64 - 1


@dataclass(frozen=True)
class InteractionEntry:
    """One interaction to log: the content itself never leaves the caller, only its hash."""

    customer_id: int
    kind: InteractionKind
    outcome: Outcome
    content_hash: bytes

    def packed(self) -> bytes:
        if not 0 < self.customer_id <= _UINT64_MAX:
            raise ConfigError(f"customer id {self.customer_id} is out of range")
        if len(self.content_hash) != 32:
            raise ConfigError("an interaction's content hash must be 32 bytes")
        return self.customer_id.to_bytes(8, "big") + bytes([int(self.kind), int(self.outcome)]) + self.content_hash


def pack_records(entries: Iterable[InteractionEntry]) -> bytes:
    """The packed form `logInteractions` takes: 42 bytes per record."""
    return b"".join(entry.packed() for entry in entries)


def unpack_records(records: bytes) -> list[InteractionEntry]:
    if len(records) % RECORD_BYTES:
        raise ConfigError(f"packed interaction records are {len(records)} bytes, not a multiple of {RECORD_BYTES}")
    return [
        InteractionEntry(
            customer_id=int.from_bytes(records[i : i + 8], "big"),
            kind=InteractionKind(records[i + 8]),
            outcome=Outcome(records[i + 9]),
            content_hash=bytes(records[i + 10 : i + RECORD_BYTES]),
        )
        for i in range(0, len(records), RECORD_BYTES)
    ]


class InteractionMixin(RegistryBase):
    """Logging interactions (one, a packed batch, or many pipelined) and reading them back."""

    def log_interaction(self, entry: InteractionEntry, sender: Sender) -> TxReceipt:
        fn = self.contract.functions.logInteraction(
            entry.customer_id, int(entry.kind), int(entry.outcome), entry.content_hash
        )
        return self.chain.transact(fn, sender)

    def log_interactions(self, entries: Sequence[InteractionEntry], sender: Sender) -> TxReceipt:
        """Log up to 1,000 interactions in one transaction."""
        if not entries:
            raise ConfigError("no interactions to log")
        if len(entries) > MAX_BATCH_RECORDS:
            raise ConfigError(f"{len(entries)} interactions in one batch; the limit is {MAX_BATCH_RECORDS}")
        return self.chain.transact(self.contract.functions.logInteractions(pack_records(entries)), sender)

    def log_interactions_pipelined(
        self,
        entries: Sequence[InteractionEntry],
        sender: LocalAccount,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[MinedTx]:
        """Log each interaction in its own transaction, sending them all before reading receipts."""
        calls = [
            (self.contract.functions.logInteraction(e.customer_id, int(e.kind), int(e.outcome), e.content_hash), 0)
            for e in entries
        ]
        if not calls:
            return []
        gas = self.chain.gas_limit(calls[0][0], sender)
        return self.chain.send_many(calls, sender, gas=gas, on_progress=on_progress)

    def interactions(
        self, customer_id: int | None = None, from_block: int = 0, to_block: int | str = "latest"
    ) -> list[Interaction]:
        """Interactions read from the chain's logs, single and batched, in chain order (in block
        ranges the node accepts; a log from another address is dropped)."""
        single_filters = {"customerId": customer_id} if customer_id is not None else {}
        events, logs = self.contract.events, self.chain.logs
        to_block = self.chain.block_number(to_block)  # both events up to the same block
        found_logs = [
            *logs.events(
                events.InteractionLogged, from_block=from_block, to_block=to_block, argument_filters=single_filters
            ),
            *logs.events(events.InteractionsLogged, from_block=from_block, to_block=to_block),
        ]
        found = [
            interaction
            for log in found_logs
            for interaction in interactions_of_log(log["event"], log["args"], log)
            if customer_id is None or interaction.customer_id == customer_id
        ]
        found.sort(key=lambda i: (i.block_number, i.log_index, i.position))
        return found


def interactions_of_log(event: str, args: Any, log: Any) -> list[Interaction]:
    """The interactions one decoded `InteractionLogged` or `InteractionsLogged` log records.

    `log` supplies blockNumber, transactionHash and logIndex; a batch yields one Interaction per
    packed record, with its position in the batch.
    """
    author = to_checksum_address(args["author"])
    at = int(args["at"])
    block_number = int(log["blockNumber"])
    tx_hash = HexBytes(log["transactionHash"]).to_0x_hex()
    log_index = int(log["logIndex"])
    if event == "InteractionLogged":
        return [
            Interaction(
                customer_id=int(args["customerId"]),
                kind=InteractionKind(args["kind"]),
                outcome=Outcome(args["outcome"]),
                content_hash=bytes(args["contentHash"]),
                at=at,
                author=author,
                block_number=block_number,
                tx_hash=tx_hash,
                log_index=log_index,
            )
        ]
    return [
        Interaction(
            customer_id=entry.customer_id,
            kind=entry.kind,
            outcome=entry.outcome,
            content_hash=entry.content_hash,
            position=position,
            at=at,
            author=author,
            block_number=block_number,
            tx_hash=tx_hash,
            log_index=log_index,
        )
        for position, entry in enumerate(unpack_records(bytes(args["records"])))
    ]
