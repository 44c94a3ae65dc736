"""Reading logs in block ranges a node accepts.

Hosted nodes refuse an `eth_getLogs` over a wide block range (or time out on it), so a read from
the deployment block never asks for the whole history at once: it asks for ranges of at most
`max_range` blocks, halves the range each time the node refuses one, and gives up with one
ChainError when even a single block is refused. The accepted range is remembered for the next
read on the same connection. A log that does not come from the contract that declares the event
(a node that lies, a look-alike event) is dropped.

:meth:`LogReader.events` asks the node with raw ``eth_getLogs`` and decodes with eth_abi
(:class:`~chaincrm.chain.codec.EventCodec`): reading events needs no web3. Each decoded log is a
:class:`LogFields` shaped as web3's event data (``args``, ``event``, ``logIndex``,
``transactionIndex``, ``transactionHash``, ``address``, ``blockHash``, ``blockNumber``), read by key
or by attribute, so code written against web3's logs reads these unchanged.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from eth_utils import to_checksum_address

from chaincrm.chain.codec import EventCodec, event_codec
from chaincrm.chain.transport import HttpStatusError, ReadTimeout
from chaincrm.errors import ChainError

if TYPE_CHECKING:
    from chaincrm.chain.connection import Connection

T = TypeVar("T")

LOG_RANGE_BLOCKS = 10_000  # the widest range asked for: many hosted nodes accept 10,000 blocks
REFUSAL_CODES = (-32005,)  # "limit exceeded" (EIP-1474), used by most providers for getLogs
REFUSAL_HINTS = (
    "too large",
    "too many",
    "exceed",
    "limit",
    "range",
    "timeout",
    "timed out",
    "response size",
    "more than",
)
PAYLOAD_TOO_LARGE = 413


class RangeRefused(Exception):
    """The node refused a block range as too wide, or timed out on it."""


class LogFields(Mapping[str, Any]):
    """Read-only fields, by key (``log["args"]["dealId"]``) or by attribute (``log.args.dealId``),
    as web3's AttributeDict gives a decoded log and its arguments."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_fields", dict(fields))

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def __getattr__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._fields!r})"


class LogReader:
    """Logs from one connection, read in ranges of at most `max_range` blocks."""

    def __init__(self, node: Connection, *, max_range: int = LOG_RANGE_BLOCKS) -> None:
        if max_range < 1:
            raise ValueError("a log range is at least one block")
        self.node = node
        self.max_range = max_range
        self.range = max_range  # what the node accepted last: halved on each refusal

    def events(
        self,
        event: Any,
        *,
        from_block: int = 0,
        to_block: int | str = "latest",
        argument_filters: Mapping[str, Any] | None = None,
    ) -> list[LogFields]:
        """The decoded logs of `event` (``contract.events.DealOpened``: anything with the event's
        ``abi`` and its contract's ``address``) emitted by its own contract, in chain order.
        `argument_filters` match indexed arguments (a list matches any of its values)."""
        codec = event_codec(event.abi)
        address = to_checksum_address(event.address)
        query = {"address": address, "topics": codec.topic_filter(argument_filters or {})}

        def fetch(first: int, last: int) -> list[LogFields]:
            raw = self._get_logs({**query, "fromBlock": hex(first), "toBlock": hex(last)})
            found = [_decoded(codec, log) for log in raw if codec.matches(_topics(log))]
            return sorted(found, key=lambda log: (log["blockNumber"], log["logIndex"]))

        return emitted_by(address, self.in_ranges(fetch, from_block, to_block))

    def _get_logs(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """The node's raw answer to one eth_getLogs; a refusal of the range raises RangeRefused."""
        answer = self.node.provider.make_request("eth_getLogs", [query])
        error = answer.get("error")
        if error is None:
            return list(answer["result"])
        message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
        if is_range_refusal(error.get("code") if isinstance(error, dict) else None, message):
            raise RangeRefused(message)
        raise ChainError(f"the chain at {self.node.endpoint} refused eth_getLogs: {message}")

    def in_ranges(self, fetch: Callable[[int, int], Sequence[T]], from_block: int, to_block: int | str) -> list[T]:
        """Everything `fetch(first, last)` returns over the blocks from `from_block` to `to_block`
        (a number or a tag such as "latest"), asked for in ranges the node accepts."""
        low, last = max(from_block, 0), self.node.block_number(to_block)
        found: list[T] = []
        while low <= last:
            high = min(last, low + self.range - 1)
            try:
                found.extend(self.node.rpc(partial(self._attempt, fetch, low, high)))
            except RangeRefused as exc:
                if high == low:
                    raise ChainError(
                        f"the chain at {self.node.endpoint} refused eth_getLogs even for one block ({low}): {exc}"
                    ) from None
                self.range = max(1, (high - low + 1) // 2)
                continue
            low = high + 1
        return found

    def _attempt(self, fetch: Callable[[int, int], Sequence[T]], first: int, last: int) -> Sequence[T]:
        try:
            return fetch(first, last)
        except ReadTimeout:
            raise RangeRefused("read timed out") from None
        except HttpStatusError as exc:
            if exc.status == PAYLOAD_TOO_LARGE:
                raise RangeRefused("413 payload too large") from None
            raise
        except _web3_errors() as exc:  # a fetch through web3, or web3's own HTTP provider
            raise _web3_refusal(self.node, exc) from None


def _web3_errors() -> tuple[type[BaseException], ...]:
    """What a fetch through web3 raises for a refused or timed-out range: only when web3 is
    loaded (a fetch through web3 loaded it), so reading logs never imports it."""
    if "web3" not in sys.modules:
        return ()
    import requests
    from web3.exceptions import Web3RPCError

    return (requests.ReadTimeout, requests.HTTPError, Web3RPCError)


def _web3_refusal(node: Connection, exc: BaseException) -> Exception:
    import requests

    if isinstance(exc, requests.ReadTimeout):
        return RangeRefused("read timed out")
    if isinstance(exc, requests.HTTPError):
        status = getattr(exc.response, "status_code", None)
        if status == PAYLOAD_TOO_LARGE:
            return RangeRefused("413 payload too large")
        return ChainError(f"the chain at {node.endpoint} answered eth_getLogs with HTTP {status}")
    error: Any = (getattr(exc, "rpc_response", None) or {}).get("error") or {}
    message = str(error.get("message", exc)) if isinstance(error, dict) else str(error)
    if is_range_refusal(error.get("code") if isinstance(error, dict) else None, message):
        return RangeRefused(message)
    return ChainError(f"the chain at {node.endpoint} refused eth_getLogs: {message}")


def _topics(raw: Mapping[str, Any]) -> list[bytes]:
    return [bytes.fromhex(str(topic)[2:]) for topic in raw.get("topics") or []]


def _decoded(codec: EventCodec, raw: Mapping[str, Any]) -> LogFields:
    """A raw eth_getLogs entry of `codec`'s event, as web3's event data."""
    from hexbytes import HexBytes  # what web3 gives for hashes (callers use .to_0x_hex()); a light import

    data = bytes.fromhex(str(raw["data"])[2:])
    return LogFields(
        {
            "args": LogFields(codec.decode(_topics(raw), data)),
            "event": codec.name,
            "logIndex": int(raw["logIndex"], 16),
            "transactionIndex": int(raw["transactionIndex"], 16),
            "transactionHash": HexBytes(raw["transactionHash"]),
            "address": to_checksum_address(raw["address"]),
            "blockHash": HexBytes(raw["blockHash"]),
            "blockNumber": int(raw["blockNumber"], 16),
        }
    )


def is_range_refusal(code: Any, message: str) -> bool:
    """Whether a node's error to eth_getLogs means "ask for fewer blocks"."""
    return code in REFUSAL_CODES or any(hint in message.lower() for hint in REFUSAL_HINTS)


def emitted_by(address: str, logs: Iterable[T]) -> list[T]:
    """The decoded logs (``EventData``) that `address` emitted. A log with the same event topic
    from another contract, in a receipt or in a node's answer, is not that contract's event and
    is never trusted."""
    wanted = to_checksum_address(address)
    return [log for log in logs if to_checksum_address(log["address"]) == wanted]  # type: ignore[index]


__all__ = [
    "LOG_RANGE_BLOCKS",
    "REFUSAL_CODES",
    "REFUSAL_HINTS",
    "LogFields",
    "LogReader",
    "RangeRefused",
    "emitted_by",
    "is_range_refusal",
]
