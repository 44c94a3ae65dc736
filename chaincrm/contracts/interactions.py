"""CrmRegistry's interaction log: packing records, logging them and reading them back.

Every record has an identity, its record key: by default ``interaction:<registry>:<customer
id>:<content hash>`` (:func:`interaction_key`; the content hash is unique per encrypted document), or
one the caller gives. Logging is idempotent: a record whose key the transaction journal holds
(sent, or mined) is awaited, not sent again, and one already on-chain without a journal row (another
process, a lost journal) is found by a log query (InteractionLogged by customer and author, with
that content hash) and its receipt returned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address
from hexbytes import HexBytes

from chaincrm.contracts.registry_base import RegistryBase
from chaincrm.errors import ConfigError, PartiallyLanded
from chaincrm.models import Interaction, InteractionKind, Outcome

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3.types import TxReceipt

    from chaincrm.chain import MinedTx, Sender

RECORD_BYTES = 42
MAX_BATCH_RECORDS = 1000
_UINT64_MAX = 2**64 - 1
LOG_QUERY_CUSTOMERS = 200  # customer ids per log query (topics with many values)


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


def interaction_key(registry: str, entry: InteractionEntry) -> str:
    """A single interaction's record key: its registry, customer and content hash."""
    return f"interaction:{registry.lower()}:{entry.customer_id}:{entry.content_hash.hex()}"


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
    """Logging interactions (one, a packed batch, or many pipelined) and reading them back.

    `records_from_block` is where the log query for records already on-chain starts (set it to
    the deployment's block: on a long chain, a query from block 0 takes many requests)."""

    records_from_block: int = 0

    def log_interaction(
        self,
        entry: InteractionEntry,
        sender: Sender,
        *,
        record_key: str | None = None,
        check_chain: bool = True,
    ) -> TxReceipt:
        """Log one interaction and return its receipt once final; a record already sent or
        on-chain (same record key, or the same content hash by the same author) is not sent again:
        its receipt comes back. `check_chain=False` skips the log query (the journal still counts)."""
        key = record_key or interaction_key(self.address, entry)
        row = self.chain.tracking.landed([key]).get(key)
        if row is not None and (row.tx_hash or row.mined_hash):
            return self.chain.wait(row.mined_hash or row.tx_hash or "")
        if check_chain:
            found = self.logged_interactions([entry], sender.address)
            if entry.content_hash in found:
                return self.chain.w3.eth.get_transaction_receipt(HexBytes(found[entry.content_hash]))
        fn = self.contract.functions.logInteraction(
            entry.customer_id, int(entry.kind), int(entry.outcome), entry.content_hash
        )
        return self.chain.transact(fn, sender, record_key=key)

    def log_interactions(
        self, entries: Sequence[InteractionEntry], sender: Sender, *, record_key: str | None = None
    ) -> TxReceipt:
        """Log up to 1,000 interactions in one transaction (sent once per `record_key`, when given)."""
        if not entries:
            raise ConfigError("no interactions to log")
        if len(entries) > MAX_BATCH_RECORDS:
            raise ConfigError(f"{len(entries)} interactions in one batch; the limit is {MAX_BATCH_RECORDS}")
        if record_key is not None:
            row = self.chain.tracking.landed([record_key]).get(record_key)
            if row is not None and (row.tx_hash or row.mined_hash):
                return self.chain.wait(row.mined_hash or row.tx_hash or "")
        fn = self.contract.functions.logInteractions(pack_records(entries))
        return self.chain.transact(fn, sender, record_key=record_key)

    def log_interactions_pipelined(
        self,
        entries: Sequence[InteractionEntry],
        sender: LocalAccount,
        on_progress: Callable[[int], None] | None = None,
        *,
        record_keys: Sequence[str] | None = None,
        check_chain: bool = True,
    ) -> list[MinedTx]:
        """Log each interaction in its own transaction, sending them all before reading receipts.

        Returns one receipt per entry, in order, once every one landed; records already on-chain
        (journal, then a log query) are not sent again and come back with their original receipt.
        When some did not land, :class:`~chaincrm.errors.PartiallyLanded` says which did
        (``landed``, ``landed_at``: positions in `entries`) and which did not (``not_landed``):
        retrying the same entries sends only those. `on_progress` counts records that landed."""
        if not entries:
            return []
        keys = list(record_keys) if record_keys is not None else [interaction_key(self.address, e) for e in entries]
        if len(keys) != len(entries):
            raise ConfigError("one record key per interaction")
        earlier: dict[int, MinedTx] = {}
        if check_chain:
            journaled = self.chain.tracking.landed(keys)
            unknown = [e for e, k in zip(entries, keys, strict=True) if k not in journaled]
            found = self.logged_interactions(unknown, sender.address) if unknown else {}
            positions = [
                i
                for i, (e, k) in enumerate(zip(entries, keys, strict=True))
                if k not in journaled and e.content_hash in found
            ]
            if positions:
                mined = self.chain.wait_many(
                    [HexBytes(found[entries[i].content_hash]) for i in positions], raise_on_failure=False
                )
                earlier = dict(zip(positions, mined, strict=True))
                if on_progress is not None:
                    on_progress(len(earlier))
        todo = [i for i in range(len(entries)) if i not in earlier]
        calls = [
            (
                self.contract.functions.logInteraction(
                    entries[i].customer_id, int(entries[i].kind), int(entries[i].outcome), entries[i].content_hash
                ),
                0,
            )
            for i in todo
        ]
        if not calls:
            return [earlier[i] for i in range(len(entries))]
        gas = self.chain.gas_limit(calls[0][0], sender)
        try:
            sent = self.chain.send_many(
                calls, sender, gas=gas, on_progress=on_progress, record_keys=[keys[i] for i in todo]
            )
        except PartiallyLanded as partial:
            landed = earlier | {todo[p]: tx for p, tx in zip(partial.landed_at, partial.landed, strict=True)}
            order = sorted(landed)
            first = min(partial.not_landed)
            raise PartiallyLanded(
                f"{len(order)} of {len(entries)} interactions landed; {len(partial.not_landed)} did not "
                f"(first at position {todo[first]}: {partial.not_landed[first]})",
                landed=[landed[i] for i in order],
                landed_at=order,
                not_landed={todo[p]: error for p, error in partial.not_landed.items()},
            ) from None
        except Exception as exc:
            if not earlier:
                raise
            order = sorted(earlier)
            raise PartiallyLanded(
                f"{len(order)} of {len(entries)} interactions landed; {len(todo)} did not ({exc})",
                landed=[earlier[i] for i in order],
                landed_at=order,
                not_landed=dict.fromkeys(todo, exc),
            ) from None
        landed = earlier | dict(zip(todo, sent, strict=True))
        return [landed[i] for i in range(len(entries))]

    def logged_interactions(
        self, entries: Sequence[InteractionEntry], author: str, from_block: int | None = None
    ) -> dict[bytes, str]:
        """Which of `entries` `author` already logged singly on-chain: content hash -> tx hash
        (one log query per LOG_QUERY_CUSTOMERS customers, filtered by customer and author)."""
        wanted = {e.content_hash for e in entries}
        customers = sorted({e.customer_id for e in entries})
        found: dict[bytes, str] = {}
        for start in range(0, len(customers), LOG_QUERY_CUSTOMERS):
            filters = {
                "customerId": customers[start : start + LOG_QUERY_CUSTOMERS],
                "author": to_checksum_address(author),
            }
            for log in self.chain.logs.events(
                self.contract.events.InteractionLogged,
                from_block=self.records_from_block if from_block is None else from_block,
                argument_filters=filters,
            ):
                content_hash = bytes(log["args"]["contentHash"])
                if content_hash in wanted:
                    found.setdefault(content_hash, HexBytes(log["transactionHash"]).to_0x_hex())
        return found

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
