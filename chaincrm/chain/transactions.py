"""Chain access: one Web3 connection, signers, EIP-1559 fees, a nonce manager, receipts.

Transactions are signed locally (eth-account) and sent raw. A revert is decoded from its selector
into a named exception before anything is sent (gas estimation runs the call first), and a
transaction that still fails on-chain is replayed to recover its reason. Many transactions from
one signer can be sent without waiting for each receipt: the nonce manager hands out nonces
locally and the raw transactions go to the node in JSON-RPC batches.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

import requests
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, TimeExhausted, Web3RPCError
from web3.types import Nonce, TxParams, TxReceipt, Wei

from chaincrm.chain.reverts import RevertDecoder
from chaincrm.errors import ChainError, ContractRevert, TransactionError

T = TypeVar("T")

DEFAULT_PRIORITY_FEE_WEI = 1_000_000_000
BASE_FEE_HEADROOM = 2  # maxFee = base fee x 2 + tip: survives six full blocks of base-fee rises
GAS_MARGIN_NUMERATOR = 6  # gas limit = estimate x 6/5: state can change between estimate and inclusion
GAS_MARGIN_DENOMINATOR = 5
FEE_CACHE_SECONDS = 1.0
RPC_BATCH_SIZE = 100
PLAIN_TRANSFER_GAS = 21_000


class Transactable(Protocol):
    """A web3 contract function call or constructor: anything with build_transaction."""

    def build_transaction(self, transaction: TxParams | None = None) -> TxParams: ...

    def estimate_gas(self, transaction: TxParams | None = None, block_identifier: Any = None) -> int: ...


@dataclass(frozen=True)
class NodeAccount:
    """An account the node holds unlocked (Anvil's dev accounts, Brownie's `accounts[i]`).

    For local development only: transactions go out through `eth_sendTransaction`.
    """

    address: ChecksumAddress


Sender = LocalAccount | NodeAccount


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


class NonceManager:
    """Hands out consecutive nonces per address without a round trip per transaction."""

    def __init__(self, w3: Web3) -> None:
        self._w3 = w3
        self._next: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, address: ChecksumAddress) -> int:
        with self._lock:
            if address not in self._next:
                self._next[address] = self._w3.eth.get_transaction_count(address, "pending")
            nonce = self._next[address]
            self._next[address] = nonce + 1
            return nonce

    def peek(self, address: ChecksumAddress) -> int:
        """The nonce the next `take` will hand out, without taking it."""
        with self._lock:
            if address not in self._next:
                self._next[address] = self._w3.eth.get_transaction_count(address, "pending")
            return self._next[address]

    def reset_all(self) -> None:
        """Forget every local count (after the chain was rewound, e.g. evm_revert)."""
        with self._lock:
            self._next.clear()

    def reset(self, address: ChecksumAddress) -> None:
        """Forget the local count (after a failed send) so the next nonce comes from the node."""
        with self._lock:
            self._next.pop(address, None)


class Chain:
    """A connection to one chain, with everything needed to send transactions to it."""

    def __init__(
        self,
        w3: Web3,
        decoder: RevertDecoder,
        *,
        confirmations: int = 1,
        poll_interval: float = 0.02,
        timeout: float = 120.0,
    ) -> None:
        self.w3 = w3
        self.decoder = decoder
        self.confirmations = max(1, confirmations)
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.nonces = NonceManager(w3)
        self._chain_id: int | None = None
        self._fees: tuple[float, int, int] | None = None

    # ------------------------------------------------------------------ reading

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self.rpc(lambda: int(self.w3.eth.chain_id))
        return self._chain_id

    def rpc(self, action: Callable[[], T]) -> T:
        """Run one read against the node, turning transport failures into ChainError."""
        try:
            return action()
        except (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError) as exc:
            raise ChainError(f"the chain at {self.endpoint} is not reachable ({type(exc).__name__})") from None

    @property
    def endpoint(self) -> str:
        provider = self.w3.provider
        return str(getattr(provider, "endpoint_uri", provider))

    def call(self, fn: Any, *, sender: str | None = None, block: Any = "latest") -> Any:
        """Call a view function; a revert becomes its named exception."""
        params: TxParams = {"from": to_checksum_address(sender)} if sender else {}
        try:
            return self.rpc(lambda: fn.call(params, block_identifier=block))
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            raise self._decoded(exc) from None

    def require_code(self, address: str, what: str) -> None:
        code = self.rpc(lambda: self.w3.eth.get_code(to_checksum_address(address)))
        if len(code) == 0:
            raise ChainError(
                f"no {what} contract at {address} on chain {self.chain_id}: is the deployment record for this chain?"
            )

    # ------------------------------------------------------------------ fees

    def fees(self) -> tuple[int, int]:
        """(maxFeePerGas, maxPriorityFeePerGas) for an EIP-1559 transaction, cached briefly."""
        now = time.monotonic()
        if self._fees is not None and now - self._fees[0] < FEE_CACHE_SECONDS:
            return self._fees[1], self._fees[2]
        block = self.rpc(lambda: self.w3.eth.get_block("latest"))
        base_fee = int(block.get("baseFeePerGas", 0) or 0)
        try:
            tip = int(self.rpc(lambda: self.w3.eth.max_priority_fee))
        except (Web3RPCError, ValueError):
            tip = DEFAULT_PRIORITY_FEE_WEI
        max_fee = base_fee * BASE_FEE_HEADROOM + tip
        self._fees = (now, max_fee, tip)
        return max_fee, tip

    # ------------------------------------------------------------------ sending

    def gas_limit(self, fn: Transactable, sender: Sender, *, value: int = 0) -> int:
        """The gas estimate with a margin; a call that would revert raises its named error here."""
        try:
            probe: TxParams = {"from": sender.address, "value": Wei(value)}
            estimate = self.rpc(lambda: fn.estimate_gas(probe))
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            raise self._decoded(exc) from None
        except Web3RPCError as exc:
            raise self._rpc_failure(exc) from None
        return int(estimate) * GAS_MARGIN_NUMERATOR // GAS_MARGIN_DENOMINATOR

    def build(self, fn: Transactable, sender: Sender, *, value: int = 0, gas: int | None = None) -> TxParams:
        """Build a complete, unsigned EIP-1559 transaction; estimating gas surfaces reverts here."""
        base: TxParams = {"from": sender.address, "value": Wei(value)}
        if gas is None:
            gas = self.gas_limit(fn, sender, value=value)
        max_fee, tip = self.fees()
        params: TxParams = {
            **base,
            "gas": gas,
            "maxFeePerGas": Wei(max_fee),
            "maxPriorityFeePerGas": Wei(tip),
            "chainId": self.chain_id,
            "nonce": Nonce(self.nonces.take(sender.address)),
        }
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
        max_fee, tip = self.fees()
        tx: TxParams = {
            "from": sender.address,
            "to": to_checksum_address(to),
            "value": Wei(value_wei),
            "gas": PLAIN_TRANSFER_GAS,
            "maxFeePerGas": Wei(max_fee),
            "maxPriorityFeePerGas": Wei(tip),
            "chainId": self.chain_id,
            "nonce": Nonce(self.nonces.take(sender.address)),
        }
        return self.wait(self._send_params(tx, sender))

    def _send_params(self, tx: TxParams, sender: Sender) -> HexBytes:
        try:
            if isinstance(sender, NodeAccount):
                return self._send_unlocked(tx)
            raw = sender.sign_transaction(tx).raw_transaction  # type: ignore[arg-type]
            return self.rpc(lambda: self.w3.eth.send_raw_transaction(raw))
        except Web3RPCError as exc:
            self.nonces.reset(sender.address)
            raise self._rpc_failure(exc) from None
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
        response = self.rpc(lambda: self.w3.provider.make_request("eth_sendTransaction", [payload]))  # type: ignore[arg-type]
        if "error" in response:
            raise TransactionError(f"the node refused the transaction: {response['error'].get('message')}")
        return HexBytes(response["result"])

    def transact(self, fn: Transactable, sender: Sender, *, value: int = 0, gas: int | None = None) -> TxReceipt:
        """Send one transaction and wait for it to be confirmed; a failure raises its named error."""
        tx_hash = self.send(fn, sender, value=value, gas=gas)
        return self.wait(tx_hash)

    def send_many(
        self,
        calls: Sequence[tuple[Transactable, int]],
        sender: LocalAccount,
        *,
        gas: int,
        on_progress: Callable[[int], None] | None = None,
        raise_on_failure: bool = True,
        after_batch: Callable[[], None] | None = None,
    ) -> list[MinedTx]:
        """Sign many calls from one signer with consecutive nonces, send them in RPC batches, and
        return their receipts.

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
        for start in range(0, len(calls), RPC_BATCH_SIZE):
            chunk = calls[start : start + RPC_BATCH_SIZE]
            raws = [
                sender.sign_transaction(self.build(fn, sender, value=value, gas=gas)).raw_transaction  # type: ignore[arg-type]
                for fn, value in chunk
            ]
            sent = self._send_raw_batch(raws, sender.address)
            if after_batch is not None:
                after_batch()
            if in_flight:
                mined.extend(self.wait_many(in_flight, raise_on_failure=raise_on_failure))
                if on_progress is not None:
                    on_progress(len(in_flight))
            in_flight = sent
        if in_flight:
            mined.extend(self.wait_many(in_flight, raise_on_failure=raise_on_failure))
            if on_progress is not None:
                on_progress(len(in_flight))
        return mined

    def _send_raw_batch(self, raws: Sequence[bytes], address: ChecksumAddress) -> list[HexBytes]:
        payload = [("eth_sendRawTransaction", ["0x" + bytes(raw).hex()]) for raw in raws]
        provider = self.w3.provider
        try:
            responses: Any = self.rpc(partial(provider.make_batch_request, payload))  # type: ignore[attr-defined]
        except AttributeError:  # a provider without batch support: one by one
            return [self.rpc(partial(self.w3.eth.send_raw_transaction, raw)) for raw in raws]
        if isinstance(responses, dict):  # the whole batch was refused
            self.nonces.reset(address)
            raise TransactionError(f"the node refused a batch of transactions: {responses.get('error')}")
        hashes = []
        for i, item in enumerate(sorted(responses, key=lambda response: int(response["id"]))):
            if "error" in item:
                self.nonces.reset(address)
                raise TransactionError(
                    f"the node refused transaction {i + 1} of a batch: {item['error'].get('message')}"
                )
            hashes.append(HexBytes(item["result"]))
        return hashes

    # ------------------------------------------------------------------ receipts

    def wait(self, tx_hash: HexBytes | str) -> TxReceipt:
        """Wait for a receipt and the configured confirmations; a failed status raises its error."""
        deadline = time.monotonic() + self.timeout
        receipt = self._receipt_by(tx_hash, deadline)
        target = int(receipt["blockNumber"]) + self.confirmations - 1
        while self.rpc(lambda: self.w3.eth.block_number) < target:
            if time.monotonic() > deadline:
                raise TransactionError(
                    f"transaction {HexBytes(tx_hash).hex()} did not reach {self.confirmations} confirmations"
                )
            time.sleep(self.poll_interval)
        if receipt["status"] != 1:
            raise self._failure_of(receipt)
        return receipt

    def wait_many(self, tx_hashes: Iterable[HexBytes], *, raise_on_failure: bool = True) -> list[MinedTx]:
        """Receipts for many transactions, read in raw JSON-RPC batches.

        web3.py's per-field formatting of full receipts costs more than the node's answer, so
        these come back as :class:`MinedTx` with only what callers use.
        """
        hashes = ["0x" + bytes(h).hex() for h in tx_hashes]
        mined: dict[int, MinedTx] = {}
        deadline = time.monotonic() + self.timeout
        provider = self.w3.provider
        while len(mined) < len(hashes):
            missing = [i for i in range(len(hashes)) if i not in mined]
            for start in range(0, len(missing), RPC_BATCH_SIZE):
                chunk = missing[start : start + RPC_BATCH_SIZE]
                requests_ = [("eth_getTransactionReceipt", [hashes[i]]) for i in chunk]
                responses: Any = self.rpc(partial(provider.make_batch_request, requests_))  # type: ignore[attr-defined]
                if isinstance(responses, dict):
                    raise TransactionError(f"the node refused a batch of receipt queries: {responses.get('error')}")
                for i, response in zip(chunk, responses, strict=False):
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
                    raise self._failure(HexBytes(tx.tx_hash), tx.block_number, tx.gas_used)
        return ordered

    def _receipt_by(self, tx_hash: HexBytes | str, deadline: float) -> TxReceipt:
        while True:
            try:
                return self.rpc(lambda: self.w3.eth.get_transaction_receipt(HexStr(HexBytes(tx_hash).to_0x_hex())))
            except Exception as exc:  # noqa: BLE001
                if isinstance(exc, ChainError):
                    raise
                if time.monotonic() > deadline:
                    raise TransactionError(
                        f"transaction {HexBytes(tx_hash).to_0x_hex()} was not mined in {self.timeout:.0f} s"
                    ) from None
                time.sleep(self.poll_interval)

    def _failure_of(self, receipt: TxReceipt) -> ChainError | ContractRevert:
        return self._failure(receipt["transactionHash"], int(receipt["blockNumber"]), int(receipt["gasUsed"]))

    def _failure(self, tx_hash: HexBytes, block_number: int, gas_used: int) -> ChainError | ContractRevert:
        """Replay a failed transaction as a call to recover its revert reason."""
        tx = self.rpc(lambda: self.w3.eth.get_transaction(tx_hash))
        params: TxParams = {
            "from": tx["from"],
            "to": tx["to"],
            "data": tx["input"],
            "value": tx["value"],
            "gas": tx["gas"],
        }
        try:
            self.w3.eth.call(params, block_identifier=block_number - 1)
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            return self._decoded(exc)
        except Web3RPCError as exc:
            return self._rpc_failure(exc)
        if gas_used >= int(tx["gas"]):
            return TransactionError(f"transaction {tx_hash.to_0x_hex()} ran out of gas ({tx['gas']})")
        return TransactionError(f"transaction {tx_hash.to_0x_hex()} failed without a reason")

    def _decoded(
        self, exc: ContractCustomError | ContractLogicError | ContractPanicError
    ) -> ContractRevert | TransactionError:
        data = getattr(exc, "data", None)
        if isinstance(data, dict):
            data = data.get("data")
        return self.decoder.decode(data)

    def _rpc_failure(self, exc: Web3RPCError) -> ChainError:
        message = exc.rpc_response.get("error", {}).get("message") if exc.rpc_response else str(exc)
        return TransactionError(f"the node refused the transaction: {message}")


def _rpc_value(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return value


@functools.lru_cache(maxsize=256)
def _function_codec(signature_abi: str) -> tuple[bytes, tuple[str, ...]]:
    abi = json.loads(signature_abi)
    types = tuple(_abi_type(arg) for arg in abi.get("inputs", []))
    selector = function_signature_to_4byte_selector(f"{abi['name']}({','.join(types)})")
    return selector, types


def _abi_type(arg: dict[str, Any]) -> str:
    kind = str(arg["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(component) for component in arg["components"]) + ")" + kind[len("tuple") :]
    return kind


def calldata(fn: Any) -> bytes:
    """The call data of a web3 contract function call, encoded with eth_abi directly.

    web3's own encoder normalises and validates every argument on each call; with the selector
    and types cached this is several times faster, which matters for pipelined sending.
    """
    selector, types = _function_codec(json.dumps(fn.abi, sort_keys=True))
    return selector + abi_encode(list(types), list(fn.args))


def event_topic(contract: Any, name: str) -> bytes:
    """topic0 of event `name` in `contract`'s ABI."""
    from eth_utils import event_abi_to_log_topic

    (abi,) = [item for item in contract.abi if item.get("type") == "event" and item["name"] == name]
    return bytes(event_abi_to_log_topic(abi))


def emitted_by(address: str, logs: Iterable[T]) -> list[T]:
    """The decoded logs (``EventData``) that `address` emitted. A log with the same event topic
    from another contract, in a receipt or in a node's answer, is not that contract's event and
    is never trusted."""
    wanted = to_checksum_address(address)
    return [log for log in logs if to_checksum_address(log["address"]) == wanted]  # type: ignore[index]


def node_account(address: str) -> NodeAccount:
    return NodeAccount(to_checksum_address(address))


__all__ = ["Chain", "NodeAccount", "NonceManager", "Sender", "TimeExhausted", "emitted_by", "node_account"]
