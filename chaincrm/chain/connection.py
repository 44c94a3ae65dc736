"""The connection to one node: reads, view calls (one or batched), and EIP-1559 fees.

Every request goes through :meth:`Connection.rpc`, which turns transport failures into one
ChainError; a view call that reverts raises its named error, decoded from the selector. Reads go
to the provider as raw JSON-RPC (through :class:`~chaincrm.chain.transport.HttpTransport` when the
connection was made from an http(s) URL), and the Web3 object is built only when something needs
it: a command that only reads never imports web3.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from eth_utils import to_checksum_address

from chaincrm.chain.batching import Call, batch_request, refusal
from chaincrm.chain.codec import calldata, decode_result
from chaincrm.chain.reverts import RevertDecoder
from chaincrm.errors import ChainError, ContractRevert, TransactionError

if TYPE_CHECKING:
    from web3 import Web3
    from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, Web3RPCError

T = TypeVar("T")

DEFAULT_PRIORITY_FEE_WEI = 1_000_000_000
BASE_FEE_HEADROOM = 2  # maxFee = base fee x 2 + tip: survives six full blocks of base-fee rises
FEE_CACHE_SECONDS = 1.0


class Connection:
    """One connection to a node, with reverts decoded from the CRM's ABIs.

    Built from a Web3 (`w3`; Brownie scripts hand theirs), or from `connect`, which builds one on
    first use, and a `transport` that serves the raw requests until then.
    """

    def __init__(
        self,
        w3: Web3 | None,
        decoder: RevertDecoder,
        *,
        connect: Callable[[], Web3] | None = None,
        transport: Any = None,
    ) -> None:
        if w3 is None and connect is None:
            raise ValueError("a Connection needs a Web3 or a way to connect one")
        self._w3 = w3
        self._connect = connect
        self._transport = transport
        self.decoder = decoder
        self._chain_id: int | None = None
        self._fees: tuple[float, int, int] | None = None

    @property
    def w3(self) -> Web3:
        """The Web3 object (built on first use when the connection was made from a URL)."""
        if self._w3 is None:
            assert self._connect is not None
            self._w3 = self._connect()
        return self._w3

    @property
    def provider(self) -> Any:
        """Where raw JSON-RPC requests go: `make_request` and, when it batches, `make_batch_request`."""
        return self._transport if self._transport is not None else self.w3.provider

    @property
    def endpoint(self) -> str:
        provider = self.provider
        return str(getattr(provider, "endpoint_uri", provider))

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.request("eth_chainId", []), 16)
        return self._chain_id

    def rpc(self, action: Callable[[], T]) -> T:
        """Run one request against the node, turning transport failures into ChainError."""
        try:
            return action()
        except _transport_errors() as exc:
            raise ChainError(f"the chain at {self.endpoint} is not reachable ({type(exc).__name__})") from None

    def request(self, method: str, params: list[Any]) -> Any:
        """The result of one raw JSON-RPC request; a refusal raises ChainError with the node's message."""
        return self.results([(method, params)])[0]

    def results(self, calls: Sequence[Call]) -> list[Any]:
        """The results of raw JSON-RPC requests, in one batch when the provider batches."""
        if len(calls) == 1 or not hasattr(self.provider, "make_batch_request"):
            answers = [self.rpc(partial(self.provider.make_request, method, params)) for method, params in calls]
        else:
            answers = batch_request(self.provider, calls, run=self.rpc, what="requests")
        for (method, _), answer in zip(calls, answers, strict=True):
            message = refusal(answer)
            if message is not None:
                raise ChainError(f"the chain at {self.endpoint} refused {method}: {message}")
        return [answer["result"] for answer in answers]

    def block_number(self, tag: int | str = "latest") -> int:
        """The number of a block given by number or by tag ("latest", "safe", "finalized")."""
        if isinstance(tag, int):
            return tag
        if tag == "latest":
            return int(self.request("eth_blockNumber", []), 16)
        block = self.request("eth_getBlockByNumber", [tag, False])
        if block is None:
            raise ChainError(f"the chain at {self.endpoint} has no {tag} block")
        return int(block["number"], 16)

    def block_timestamp(self, number: int) -> int:
        """When block `number` was made (Unix seconds)."""
        block = self.request("eth_getBlockByNumber", [hex(number), False])
        if block is None:
            raise ChainError(f"the chain at {self.endpoint} has no block {number}")
        return int(block["timestamp"], 16)

    def balance(self, address: str) -> int:
        """The address's balance in wei at the latest block."""
        return int(self.request("eth_getBalance", [to_checksum_address(address), "latest"]), 16)

    def call(self, fn: Any, *, sender: str | None = None, block: Any = "latest") -> Any:
        """Call a view function (a :class:`~chaincrm.chain.contract.FunctionCall` or web3's
        ContractFunction); a revert becomes its named exception."""
        params = _call_params(fn, sender, block)
        return self._called(fn, self.rpc(partial(self.provider.make_request, "eth_call", params)))

    def call_many(self, fns: Sequence[Any], *, block: int | str = "latest") -> list[Any]:
        """Call many view functions in JSON-RPC batches; the results are what `call` returns for
        each, in order. A call that reverts raises its named error."""
        requests_: list[Call] = [("eth_call", _call_params(fn, None, block)) for fn in fns]
        answers = batch_request(self.provider, requests_, run=self.rpc, what="calls")
        return [self._called(fn, answer) for fn, answer in zip(fns, answers, strict=True)]

    def _called(self, fn: Any, response: dict[str, Any]) -> Any:
        message = refusal(response)
        if message is not None:
            data = response["error"].get("data")
            if isinstance(data, dict):
                data = data.get("data")
            if data or "revert" in message.lower():
                raise self.decoder.decode(data)
            raise ChainError(f"the chain at {self.endpoint} refused a call to {fn.fn_name}: {message}")
        result = bytes.fromhex(str(response["result"])[2:])
        if not result and fn.abi.get("outputs"):
            raise ChainError(f"no contract answered {fn.fn_name} at {fn.address}: is the deployment record right?")
        return decode_result(fn, result)

    def codes(self, addresses: Sequence[str]) -> list[bytes]:
        """The code at each address, read in one batch (with the chain id, when not known yet)."""
        calls: list[Call] = [("eth_getCode", [to_checksum_address(address), "latest"]) for address in addresses]
        if self._chain_id is None:
            calls.append(("eth_chainId", []))
        results = self.results(calls)
        if self._chain_id is None:
            self._chain_id = int(results.pop(), 16)
        return [bytes.fromhex(str(code)[2:]) for code in results]

    def require_code(self, address: str, what: str) -> None:
        (code,) = self.codes([address])
        if len(code) == 0:
            raise ChainError(
                f"no {what} contract at {address} on chain {self.chain_id}: is the deployment record for this chain?"
            )

    def fees(self) -> tuple[int, int]:
        """(maxFeePerGas, maxPriorityFeePerGas) for an EIP-1559 transaction, cached briefly."""
        now = time.monotonic()
        if self._fees is not None and now - self._fees[0] < FEE_CACHE_SECONDS:
            return self._fees[1], self._fees[2]
        from web3.exceptions import Web3RPCError

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


def _call_params(fn: Any, sender: str | None, block: Any) -> list[Any]:
    call = {"to": fn.address, "data": "0x" + calldata(fn).hex()}
    if sender:
        call["from"] = to_checksum_address(sender)
    return [call, hex(block) if isinstance(block, int) else block]


def _transport_errors() -> tuple[type[BaseException], ...]:
    """What a request raises when the node cannot be reached: requests' errors too once web3's
    HTTP provider (which uses requests) is in use."""
    errors: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
    if "requests" in sys.modules:
        import requests

        errors += (requests.ConnectionError, requests.Timeout)
    return errors


__all__ = ["BASE_FEE_HEADROOM", "DEFAULT_PRIORITY_FEE_WEI", "FEE_CACHE_SECONDS", "Connection", "T"]
