"""The connection to one node: reads, view calls (one or batched), and EIP-1559 fees.

Every request goes through :meth:`Connection.rpc`, which turns transport failures into one
ChainError; a view call that reverts raises its named error, decoded from the selector.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import requests
from eth_utils import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, Web3RPCError
from web3.types import TxParams

from chaincrm.chain.batching import batch_request, refusal
from chaincrm.chain.codec import calldata, decode_result
from chaincrm.chain.reverts import RevertDecoder
from chaincrm.errors import ChainError, ContractRevert, TransactionError

T = TypeVar("T")

DEFAULT_PRIORITY_FEE_WEI = 1_000_000_000
BASE_FEE_HEADROOM = 2  # maxFee = base fee x 2 + tip: survives six full blocks of base-fee rises
FEE_CACHE_SECONDS = 1.0

_TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)
_REVERTS = (ContractCustomError, ContractLogicError, ContractPanicError)


class Connection:
    """One Web3 connection, with reverts decoded from the CRM's ABIs."""

    def __init__(self, w3: Web3, decoder: RevertDecoder) -> None:
        self.w3 = w3
        self.decoder = decoder
        self._chain_id: int | None = None
        self._fees: tuple[float, int, int] | None = None

    @property
    def endpoint(self) -> str:
        provider = self.w3.provider
        return str(getattr(provider, "endpoint_uri", provider))

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self.rpc(lambda: int(self.w3.eth.chain_id))
        return self._chain_id

    def rpc(self, action: Callable[[], T]) -> T:
        """Run one request against the node, turning transport failures into ChainError."""
        try:
            return action()
        except _TRANSPORT_ERRORS as exc:
            raise ChainError(f"the chain at {self.endpoint} is not reachable ({type(exc).__name__})") from None

    def block_number(self, tag: int | str = "latest") -> int:
        """The number of a block given by number or by tag ("latest", "safe", "finalized")."""
        if isinstance(tag, int):
            return tag
        w3 = self.w3
        if tag == "latest":
            return int(self.rpc(lambda: w3.eth.block_number))
        return int(self.rpc(lambda: w3.eth.get_block(tag))["number"])  # type: ignore[arg-type]

    def call(self, fn: Any, *, sender: str | None = None, block: Any = "latest") -> Any:
        """Call a view function; a revert becomes its named exception."""
        params: TxParams = {"from": to_checksum_address(sender)} if sender else {}
        try:
            return self.rpc(lambda: fn.call(params, block_identifier=block))
        except _REVERTS as exc:
            raise self.decoded(exc) from None

    def call_many(self, fns: Sequence[Any], *, block: int | str = "latest") -> list[Any]:
        """Call many view functions in JSON-RPC batches; the results are what `call` returns for
        each, in order. A call that reverts raises its named error."""
        at = hex(block) if isinstance(block, int) else block
        requests_ = [("eth_call", [{"to": fn.address, "data": "0x" + calldata(fn).hex()}, at]) for fn in fns]
        results = []
        for fn, response in zip(
            fns, batch_request(self.w3.provider, requests_, run=self.rpc, what="calls"), strict=True
        ):
            message = refusal(response)
            if message is not None:
                data = response["error"].get("data")
                if data:
                    raise self.decoder.decode(data)
                raise ChainError(f"the chain at {self.endpoint} refused a call to {fn.fn_name}: {message}")
            results.append(decode_result(fn, bytes.fromhex(str(response["result"])[2:])))
        return results

    def require_code(self, address: str, what: str) -> None:
        code = self.rpc(lambda: self.w3.eth.get_code(to_checksum_address(address)))
        if len(code) == 0:
            raise ChainError(
                f"no {what} contract at {address} on chain {self.chain_id}: is the deployment record for this chain?"
            )

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

    def decoded(
        self, exc: ContractCustomError | ContractLogicError | ContractPanicError
    ) -> ContractRevert | TransactionError:
        """The named error of a revert web3 raised (it hands back only the hex data)."""
        data = getattr(exc, "data", None)
        if isinstance(data, dict):
            data = data.get("data")
        return self.decoder.decode(data)

    @staticmethod
    def refused(exc: Web3RPCError) -> ChainError:
        """A transaction the node refused to accept, with the node's message."""
        message = exc.rpc_response.get("error", {}).get("message") if exc.rpc_response else str(exc)
        return TransactionError(f"the node refused the transaction: {message}")


__all__ = ["BASE_FEE_HEADROOM", "DEFAULT_PRIORITY_FEE_WEI", "FEE_CACHE_SECONDS", "Connection", "T"]
