"""Building, signing and sending transactions: one at a time, or many from one signer in batches.

Transactions are signed locally (eth-account) and sent raw. Estimating gas runs the call first,
so a transaction that would revert raises its named error before anything is sent. Many
transactions from one signer go out with locally handed-out nonces in JSON-RPC batches, without
waiting for each receipt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, Web3RPCError
from web3.types import Nonce, TxParams, TxReceipt, Wei

from chaincrm.chain.batching import RPC_BATCH_SIZE, batch_request, refusal
from chaincrm.chain.codec import calldata
from chaincrm.chain.connection import Connection
from chaincrm.chain.nonces import NonceManager
from chaincrm.chain.receipts import MinedTx, Receipts
from chaincrm.chain.senders import NodeAccount, Sender, Transactable, node_account
from chaincrm.errors import ChainError, TransactionError

GAS_MARGIN_NUMERATOR = 6  # gas limit = estimate x 6/5: state can change between estimate and inclusion
GAS_MARGIN_DENOMINATOR = 5
PLAIN_TRANSFER_GAS = 21_000


class Sending:
    """Sends transactions over one connection, with its nonces, and waits through its receipts."""

    def __init__(self, node: Connection, nonces: NonceManager, receipts: Receipts) -> None:
        self.node = node
        self.nonces = nonces
        self.receipts = receipts

    def gas_limit(self, fn: Transactable, sender: Sender, *, value: int = 0) -> int:
        """The gas estimate with a margin; a call that would revert raises its named error here."""
        try:
            probe: TxParams = {"from": sender.address, "value": Wei(value)}
            estimate = self.node.rpc(lambda: fn.estimate_gas(probe))
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            raise self.node.decoded(exc) from None
        except Web3RPCError as exc:
            raise self.node.refused(exc) from None
        return int(estimate) * GAS_MARGIN_NUMERATOR // GAS_MARGIN_DENOMINATOR

    def build(self, fn: Transactable, sender: Sender, *, value: int = 0, gas: int | None = None) -> TxParams:
        """Build a complete, unsigned EIP-1559 transaction; estimating gas surfaces reverts here."""
        if gas is None:
            gas = self.gas_limit(fn, sender, value=value)
        params = self._envelope(sender, value=value, gas=gas)
        address = getattr(fn, "address", None)
        if address is None:  # a constructor: web3 assembles bytecode and arguments
            return fn.build_transaction(params)
        # For a function call, web3's build_transaction re-validates and re-fills every field on
        # each call, which dominates the cost of pipelined sending; the fields are complete here.
        return {**params, "to": address, "data": calldata(fn)}

    def send(self, fn: Transactable, sender: Sender, *, value: int = 0, gas: int | None = None) -> HexBytes:
        """Sign and send one transaction; returns its hash without waiting."""
        return self._send_params(self.build(fn, sender, value=value, gas=gas), sender)

    def transfer(self, to: str, value_wei: int, sender: Sender) -> TxReceipt:
        """Send plain ETH and wait for it."""
        tx: TxParams = {
            **self._envelope(sender, value=value_wei, gas=PLAIN_TRANSFER_GAS),
            "to": to_checksum_address(to),
        }
        return self.receipts.wait(self._send_params(tx, sender))

    def send_many(
        self,
        calls: Sequence[tuple[Transactable, int]],
        sender: LocalAccount,
        *,
        gas: int,
        on_progress: Callable[[int], None] | None = None,
        raise_on_failure: bool = True,
        after_batch: Callable[[], None] | None = None,
        batch_size: int = RPC_BATCH_SIZE,
    ) -> list[MinedTx]:
        """Sign many calls from one signer with consecutive nonces, send them in RPC batches of
        `batch_size`, and return their receipts.

        At most two batches are in flight: a batch is sent, then the previous one's receipts are
        read. A node holding thousands of pending transactions from one sender slows down (Anvil
        reorders its whole pool for every block it mines) and real nodes cap pending transactions
        per account, so an unbounded pipeline is slower, not faster. `gas` is the limit for each
        transaction (estimate one representative call first); a call that fails on-chain raises
        its decoded error when its receipt is read. `after_batch` runs after each batch is sent
        (a development chain with automine off can mine the batch into one block there).
        """
        mined: list[MinedTx] = []
        in_flight: list[HexBytes] = []

        def collect() -> None:
            mined.extend(self.receipts.wait_many(in_flight, raise_on_failure=raise_on_failure))
            if on_progress is not None:
                on_progress(len(in_flight))

        for start in range(0, len(calls), batch_size):
            raws = [
                sender.sign_transaction(self.build(fn, sender, value=value, gas=gas)).raw_transaction  # type: ignore[arg-type]
                for fn, value in calls[start : start + batch_size]
            ]
            sent = self._send_raw_batch(raws, sender.address)
            if after_batch is not None:
                after_batch()
            if in_flight:
                collect()
            in_flight = sent
        if in_flight:
            collect()
        return mined

    def _envelope(self, sender: Sender, *, value: int, gas: int) -> TxParams:
        max_fee, tip = self.node.fees()
        return {
            "from": sender.address,
            "value": Wei(value),
            "gas": gas,
            "maxFeePerGas": Wei(max_fee),
            "maxPriorityFeePerGas": Wei(tip),
            "chainId": self.node.chain_id,
            "nonce": Nonce(self.nonces.take(sender.address)),
        }

    def _send_params(self, tx: TxParams, sender: Sender) -> HexBytes:
        try:
            if isinstance(sender, NodeAccount):
                return self._send_unlocked(tx)
            raw = sender.sign_transaction(tx).raw_transaction  # type: ignore[arg-type]
            return self.node.rpc(lambda: self.node.w3.eth.send_raw_transaction(raw))
        except Web3RPCError as exc:
            self.nonces.reset(sender.address)
            raise self.node.refused(exc) from None
        except ChainError:
            self.nonces.reset(sender.address)
            raise

    def _send_unlocked(self, tx: TxParams) -> HexBytes:
        """eth_sendTransaction straight to the provider.

        Brownie's Web3 carries a gas-price strategy middleware that adds a legacy gasPrice to
        every eth_sendTransaction and then refuses the EIP-1559 fields we set; going to the
        provider keeps the transaction as built.
        """
        payload = {key: _rpc_value(value) for key, value in tx.items() if not (key == "to" and not value)}
        provider = self.node.w3.provider
        response = self.node.rpc(lambda: provider.make_request("eth_sendTransaction", [payload]))  # type: ignore[arg-type]
        if "error" in response:
            raise TransactionError(f"the node refused the transaction: {response['error'].get('message')}")
        return HexBytes(response["result"])

    def _send_raw_batch(self, raws: Sequence[bytes], address: ChecksumAddress) -> list[HexBytes]:
        calls = [("eth_sendRawTransaction", ["0x" + bytes(raw).hex()]) for raw in raws]
        try:
            answers = batch_request(
                self.node.w3.provider, calls, run=self.node.rpc, size=len(calls) or 1, what="transactions"
            )
        except ChainError:
            self.nonces.reset(address)
            raise
        hashes = []
        for i, response in enumerate(answers):
            message = refusal(response)
            if message is not None:
                self.nonces.reset(address)
                raise TransactionError(f"the node refused transaction {i + 1} of a batch: {message}")
            hashes.append(HexBytes(response["result"]))
        return hashes


def _rpc_value(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return value


__all__ = [
    "GAS_MARGIN_DENOMINATOR",
    "GAS_MARGIN_NUMERATOR",
    "PLAIN_TRANSFER_GAS",
    "NodeAccount",
    "Sender",
    "Sending",
    "Transactable",
    "node_account",
]
