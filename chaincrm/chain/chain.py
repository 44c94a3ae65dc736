"""`Chain`: the one object the contract wrappers hold, assembled from parts with one job each.

- :class:`~chaincrm.chain.connection.Connection` (which `Chain` is): the Web3 connection, view
  calls one by one or batched, fees;
- :class:`~chaincrm.chain.nonces.NonceManager` (``chain.nonces``): nonces from the journal
  (:class:`~chaincrm.chain.journal.Journal`, ``chain.journal``: durable under a home's state dir);
- :class:`~chaincrm.chain.sending.Sending` (``chain.sending``): building, signing, sending, batches;
- :class:`~chaincrm.chain.tracking.Tracker` (``chain.tracking``): following transactions until final;
- :class:`~chaincrm.chain.receipts.Receipts` (``chain.receipts``): waiting, confirmations, failures;
- :class:`~chaincrm.chain.logs.LogReader` (``chain.logs``): logs in block ranges a node accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaincrm.chain.connection import Connection
from chaincrm.chain.journal import Journal
from chaincrm.chain.logs import LogReader
from chaincrm.chain.nonces import NonceManager
from chaincrm.chain.reverts import RevertDecoder
from chaincrm.chain.senders import Sender, Transactable

if TYPE_CHECKING:  # sending and receipts import web3 and eth-account: loaded when first used
    from hexbytes import HexBytes
    from web3 import Web3
    from web3.types import TxParams, TxReceipt

    from chaincrm.chain.receipts import MinedTx, Receipts
    from chaincrm.chain.sending import Sending
    from chaincrm.chain.tracking import Tracker


class Chain(Connection):
    """A connection to one chain, with everything needed to send transactions to it and read
    its logs."""

    def __init__(
        self,
        w3: Web3 | None,
        decoder: RevertDecoder,
        *,
        confirmations: int = 1,
        poll_interval: float = 0.02,
        timeout: float = 120.0,
        connect: Callable[[], Web3] | None = None,
        transport: Any = None,
        state_dir: Path | None = None,
    ) -> None:
        super().__init__(w3, decoder, connect=connect, transport=transport)
        self.nonces = NonceManager(self, Journal.in_state_dir(state_dir))
        self.logs = LogReader(self)
        self._waiting = (confirmations, poll_interval, timeout)

    @cached_property
    def receipts(self) -> Receipts:
        from chaincrm.chain.receipts import Receipts

        confirmations, poll_interval, timeout = self._waiting
        return Receipts(self, confirmations=confirmations, poll_interval=poll_interval, timeout=timeout)

    @cached_property
    def sending(self) -> Sending:
        from chaincrm.chain.sending import Sending

        return Sending(self, self.nonces, self.receipts)

    @property
    def tracking(self) -> Tracker:
        """Follows this chain's journaled transactions until final (:mod:`chaincrm.chain.tracking`)."""
        return self.sending.tracker

    @property
    def journal(self) -> Journal:
        return self.nonces.journal

    def keep_journal(self, state_dir: Path | None) -> None:
        """Keep the transaction journal in `state_dir` (the home's state dir; None: in memory).
        Call before the first write: processes sharing a key share their nonces through it."""
        self.nonces.journal = Journal.in_state_dir(state_dir)
        if "sending" in self.__dict__:
            self.sending.journal = self.sending.tracker.journal = self.nonces.journal

    @property
    def send_many(self) -> Callable[..., list[MinedTx]]:
        """Many calls from one signer, sent in JSON-RPC batches: :meth:`Sending.send_many` itself."""
        return self.sending.send_many

    @property
    def confirmations(self) -> int:
        if "receipts" in self.__dict__:
            return self.receipts.confirmations
        return max(1, self._waiting[0])  # as Receipts counts them

    def gas_limit(self, fn: Transactable, sender: Sender, *, value: int = 0) -> int:
        """The gas estimate with a margin; a call that would revert raises its named error here."""
        return self.sending.gas_limit(fn, sender, value=value)

    def build(self, fn: Transactable, sender: Sender, *, value: int = 0, gas: int | None = None) -> TxParams:
        """A complete, unsigned EIP-1559 transaction."""
        return self.sending.build(fn, sender, value=value, gas=gas)

    def send(
        self, fn: Transactable, sender: Sender, *, value: int = 0, gas: int | None = None, record_key: str | None = None
    ) -> HexBytes:
        """Sign and send one transaction; returns its hash without waiting."""
        return self.sending.send(fn, sender, value=value, gas=gas, record_key=record_key)

    def transact(
        self, fn: Transactable, sender: Sender, *, value: int = 0, gas: int | None = None, record_key: str | None = None
    ) -> TxReceipt:
        """Send one transaction and wait until its outcome is final (see :mod:`chaincrm.chain.tracking`):
        its receipt, or its named error; a transaction given up is cancelled, never left behind."""
        return self.tracking.wait(self.sending.send(fn, sender, value=value, gas=gas, record_key=record_key))

    def transfer(self, to: str, value_wei: int, sender: Sender) -> TxReceipt:
        """Send plain ETH and wait for it."""
        return self.sending.transfer(to, value_wei, sender)

    def wait(self, tx_hash: HexBytes | str) -> TxReceipt:
        """Wait for a receipt and the configured confirmations, tracking a journaled transaction
        until final; a failed status raises its error."""
        return self.tracking.wait(tx_hash)

    def wait_many(self, tx_hashes: Iterable[HexBytes], *, raise_on_failure: bool = True) -> list[MinedTx]:
        """Receipts for many transactions, read in JSON-RPC batches."""
        return self.receipts.wait_many(tx_hashes, raise_on_failure=raise_on_failure)


__all__ = ["Chain"]
