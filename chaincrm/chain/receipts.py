"""Waiting for transactions: receipts, confirmations, and the reason a mined transaction failed.

One receipt is awaited with web3's `wait_for_transaction_receipt` (only "not mined yet" is
retried: any other failure surfaces at once), then the configured confirmations. Many receipts
are read in JSON-RPC batches as :class:`MinedTx`. A transaction that failed on-chain is replayed
as a call at its block to recover its named error.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, TimeExhausted, Web3RPCError
from web3.types import TxParams, TxReceipt

from chaincrm.chain.batching import RPC_BATCH_SIZE, batch_request, refusal
from chaincrm.chain.connection import Connection
from chaincrm.errors import ChainError, ContractRevert, TransactionError

_NOT_YET_INDEXED = "indexing"  # "transaction indexing is in progress": a receipt that will come


@dataclass(frozen=True)
class RawLog:
    address: ChecksumAddress
    topics: tuple[bytes, ...]
    data: bytes
    log_index: int


@dataclass(frozen=True)
class MinedTx:
    """The parts of a receipt that pipelined callers use, parsed from the node's raw JSON."""

    tx_hash: str
    block_number: int
    status: int
    gas_used: int
    logs: tuple[RawLog, ...]

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> MinedTx:
        return cls(
            tx_hash=raw["transactionHash"],
            block_number=int(raw["blockNumber"], 16),
            status=int(raw["status"], 16),
            gas_used=int(raw["gasUsed"], 16),
            logs=tuple(
                RawLog(
                    address=to_checksum_address(log["address"]),
                    topics=tuple(bytes.fromhex(topic[2:]) for topic in log["topics"]),
                    data=bytes.fromhex(log["data"][2:]),
                    log_index=int(log["logIndex"], 16),
                )
                for log in raw["logs"]
            ),
        )


class Receipts:
    """Receipts from one connection, `confirmations` deep, polled every `poll_interval` seconds
    for at most `timeout` seconds.

    `confirmations` is how many blocks must hold the transaction, its own included, before it is
    reported: 1 (the least; 0 counts as 1) means "in the latest block", which a reorganisation or a
    development node restarted without its state can still undo. Journaled transactions are
    awaited through :class:`~chaincrm.chain.tracking.Tracker`, which never reports "not mined in
    time" as final; :meth:`wait` here serves hashes sent elsewhere."""

    def __init__(self, node: Connection, *, confirmations: int, poll_interval: float, timeout: float) -> None:
        self.node = node
        self.confirmations = max(1, confirmations)
        self.poll_interval = poll_interval
        self.timeout = timeout

    def wait(self, tx_hash: HexBytes | str) -> TxReceipt:
        """Wait for a receipt and the configured confirmations; a failed status raises its error."""
        deadline = time.monotonic() + self.timeout
        w3 = self.node.w3
        try:
            receipt = self.node.rpc(
                lambda: w3.eth.wait_for_transaction_receipt(
                    HexBytes(tx_hash), timeout=self.timeout, poll_latency=self.poll_interval
                )
            )
        except TimeExhausted:
            raise TransactionError(
                f"transaction {HexBytes(tx_hash).to_0x_hex()} was not mined in {self.timeout:.0f} s"
            ) from None
        target = int(receipt["blockNumber"]) + self.confirmations - 1
        while self.node.rpc(lambda: w3.eth.block_number) < target:
            if time.monotonic() > deadline:
                raise TransactionError(
                    f"transaction {HexBytes(tx_hash).to_0x_hex()} did not reach {self.confirmations} confirmations"
                )
            time.sleep(self.poll_interval)
        if receipt["status"] != 1:
            raise self.failure(receipt["transactionHash"], int(receipt["blockNumber"]), int(receipt["gasUsed"]))
        return receipt

    def wait_many(self, tx_hashes: Iterable[HexBytes], *, raise_on_failure: bool = True) -> list[MinedTx]:
        """Receipts for many transactions, read in JSON-RPC batches, in the order given.

        web3.py's per-field formatting of full receipts costs more than the node's answer, so
        these come back as :class:`MinedTx` with only what callers use.
        """
        hashes = ["0x" + bytes(h).hex() for h in tx_hashes]
        mined: dict[int, MinedTx] = {}
        deadline = time.monotonic() + self.timeout
        while len(mined) < len(hashes):
            missing = [i for i in range(len(hashes)) if i not in mined]
            calls = [("eth_getTransactionReceipt", [hashes[i]]) for i in missing]
            answers = batch_request(
                self.node.w3.provider, calls, run=self.node.rpc, size=RPC_BATCH_SIZE, what="receipt queries"
            )
            for i, response in zip(missing, answers, strict=True):
                message = refusal(response)
                if message is not None and _NOT_YET_INDEXED not in message.lower():
                    raise ChainError(f"the node refused a receipt query for {hashes[i]}: {message}")
                raw = response.get("result")
                if raw and raw.get("blockNumber") is not None:
                    mined[i] = MinedTx.from_raw(raw)
            if len(mined) < len(hashes):
                if time.monotonic() > deadline:
                    raise TransactionError(
                        f"{len(hashes) - len(mined)} transactions were not mined in {self.timeout:.0f} s"
                    )
                time.sleep(self.poll_interval)
        ordered = [mined[i] for i in range(len(hashes))]
        if raise_on_failure:
            for tx in ordered:
                if tx.status != 1:
                    raise self.failure(HexBytes(tx.tx_hash), tx.block_number, tx.gas_used)
        return ordered

    def failure(self, tx_hash: HexBytes, block_number: int, gas_used: int) -> ChainError | ContractRevert:
        """Replay a failed transaction as a call to recover its revert reason."""
        w3 = self.node.w3
        tx = self.node.rpc(lambda: w3.eth.get_transaction(tx_hash))
        params: TxParams = {
            "from": tx["from"],
            "to": tx["to"],
            "data": tx["input"],
            "value": tx["value"],
            "gas": tx["gas"],
        }
        try:
            self.node.rpc(lambda: w3.eth.call(params, block_identifier=block_number - 1))
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            return self.node.decoded(exc)
        except Web3RPCError as exc:
            return self.node.refused(exc)
        if gas_used >= int(tx["gas"]):
            return TransactionError(f"transaction {tx_hash.to_0x_hex()} ran out of gas ({tx['gas']})")
        return TransactionError(f"transaction {tx_hash.to_0x_hex()} failed without a reason")


__all__ = ["MinedTx", "RawLog", "Receipts"]
