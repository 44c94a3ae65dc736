"""Nonces, handed out through the transaction journal: shared by every thread and process that
writes with the same journal, and reconciled with the node on each allocation.

Each allocation asks the node for the sender's latest and pending counts (one batched request),
then reserves nonces in the journal inside one ``BEGIN IMMEDIATE`` transaction: never below the
chain's latest nonce nor the node's pending count (another writer without this journal), a nonce a
refused transaction gave back is used again, and a nonce another row holds is never handed out
twice. Two processes sharing a key therefore need to share the journal (the home's state dir); one
that does not still recovers: a "nonce too low" makes :class:`~chaincrm.chain.sending.Sending`
take a new nonce and sign again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from eth_typing import ChecksumAddress

from chaincrm.chain.journal import ORIGINAL, Journal, JournalEntry

if TYPE_CHECKING:
    from chaincrm.chain.connection import Connection


class NonceManager:
    """Hands out nonces per address from `journal` (a fresh in-memory one when not given)."""

    def __init__(self, node: Connection, journal: Journal | None = None) -> None:
        self._node = node
        self.journal = journal if journal is not None else Journal()
        self._checked: Journal | None = None  # the journal whose chain was checked (once per process)

    def check_chain(self, *, again: bool = False) -> bool:
        """Whether the node still runs the chain the journal's rows were sent to (same genesis);
        on a new chain the journal forgets this chain id's rows (see :meth:`Journal.same_chain`)."""
        if self._checked is self.journal and not again:
            return True
        block = self._node.request("eth_getBlockByNumber", ["0x0", False])
        same = self.journal.same_chain(self._node.chain_id, str(block["hash"]) if block else "")
        self._checked = self.journal
        return same

    def counts(self, address: ChecksumAddress) -> tuple[int, int]:
        """The node's (latest, pending) transaction counts for `address`."""
        latest, pending = self._node.results(
            [("eth_getTransactionCount", [address, "latest"]), ("eth_getTransactionCount", [address, "pending"])]
        )
        return int(latest, 16), int(pending, 16)

    def allocate(
        self, address: ChecksumAddress, record_keys: Sequence[str | None] = (None,), *, kind: str = ORIGINAL
    ) -> list[JournalEntry]:
        """Reserve one nonce per record key, in order: journal rows in state ``reserved``."""
        latest, pending = self._checked_counts(address)
        return self.journal.allocate(
            self._node.chain_id, address, latest=latest, pending=pending, record_keys=record_keys, kind=kind
        )

    def _checked_counts(self, address: ChecksumAddress) -> tuple[int, int]:
        self.check_chain()
        latest, pending = self.counts(address)
        if self.journal.mined_from(self._node.chain_id, address, latest):
            self.check_chain(again=True)  # below what we saw mined: a rewind, or a new chain?
        return latest, pending

    def take(self, address: ChecksumAddress) -> int:
        """One nonce, reserved in the journal (prefer :meth:`allocate`, which names the row)."""
        return self.allocate(address)[0].nonce

    def peek(self, address: ChecksumAddress) -> int:
        """The nonce the next `take` will hand out, without taking it."""
        latest, pending = self._checked_counts(address)
        return self.journal.peek(self._node.chain_id, address, latest=latest, pending=pending)

    def reset_all(self) -> None:
        """The chain was rewound on purpose (evm_revert, anvil_reorg in tests): every sender's rows
        above the chain's count are abandoned, not re-sent."""
        chain_id = self._node.chain_id
        for sender in self.journal.senders(chain_id):
            latest, _ = self.counts(sender)  # type: ignore[arg-type]
            self.journal.forget(chain_id, sender, latest)

    def reset(self, address: ChecksumAddress) -> None:
        """Kept for callers that sent with the same key elsewhere: every allocation already reads
        the node's counts, so there is nothing to forget."""


__all__ = ["NonceManager"]
