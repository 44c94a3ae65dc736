"""Reading logs in block ranges a node accepts.

Hosted nodes refuse an `eth_getLogs` over a wide block range (or time out on it), so a read from
the deployment block never asks for the whole history at once: it asks for ranges of at most
`max_range` blocks, halves the range each time the node refuses one, and gives up with one
ChainError when even a single block is refused. The accepted range is remembered for the next
read on the same connection. A log that does not come from the contract that declares the event
(a node that lies, a look-alike event) is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from eth_utils import to_checksum_address

from chaincrm.errors import ChainError

if TYPE_CHECKING:
    from web3.types import EventData

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
    ) -> list[EventData]:
        """The decoded logs of `event` (a web3 contract event, e.g. ``contract.events.DealOpened``)
        emitted by its own contract, in chain order. `argument_filters` match indexed arguments
        (a list matches any of its values)."""
        filters = dict(argument_filters or {})

        def fetch(first: int, last: int) -> Sequence[EventData]:
            return event().get_logs(from_block=first, to_block=last, argument_filters=filters)

        return emitted_by(event.address, self.in_ranges(fetch, from_block, to_block))

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
        import requests  # what web3's HTTP provider raises; web3 is loaded here already
        from web3.exceptions import Web3RPCError

        try:
            return fetch(first, last)
        except requests.ReadTimeout:
            raise RangeRefused("read timed out") from None
        except requests.HTTPError as exc:
            status = getattr(exc.response, "status_code", None)
            if status == PAYLOAD_TOO_LARGE:
                raise RangeRefused("413 payload too large") from None
            raise ChainError(f"the chain at {self.node.endpoint} answered eth_getLogs with HTTP {status}") from None
        except Web3RPCError as exc:
            error: Any = (exc.rpc_response or {}).get("error") or {}
            message = str(error.get("message", exc)) if isinstance(error, dict) else str(error)
            if is_range_refusal(error.get("code") if isinstance(error, dict) else None, message):
                raise RangeRefused(message) from None
            raise ChainError(f"the chain at {self.node.endpoint} refused eth_getLogs: {message}") from None


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
    "LogReader",
    "RangeRefused",
    "emitted_by",
    "is_range_refusal",
]
