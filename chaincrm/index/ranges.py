"""Adaptive ``eth_getLogs`` ranges: one filter names all three contracts; the range halves when
the node refuses it as too large (or times out on it) and doubles again after a success, up to a
cap. Hosted nodes cap ranges (often at a few thousand blocks) and a node's answer grows with the
range, so the size that works is learned, not configured."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chaincrm.chain.logs import RangeRefused
from chaincrm.errors import ChainError
from chaincrm.index.rpc import Rpc


@dataclass
class LogRange:
    """One range of blocks and its raw logs."""

    first: int
    last: int
    logs: list[dict[str, Any]]


class AdaptiveRanges:
    """Reads logs range by range, sizing each range by how the node answered the last ones."""

    def __init__(self, rpc: Rpc, addresses: Sequence[str], *, initial: int, maximum: int) -> None:
        self.rpc = rpc
        self.addresses = addresses
        self.span = initial
        self.maximum = maximum
        self.refusals = 0  # since the indexer started

    def read(self, first: int, head: int) -> LogRange:
        """The logs of the largest range from `first` (up to `head`) that the node answers."""
        while True:
            span = min(self.span, head - first + 1)
            last = first + span - 1
            try:
                logs = self.rpc.get_logs(first, last, self.addresses)
            except RangeRefused as exc:
                if span == 1:
                    raise ChainError(
                        f"the chain at {self.rpc.endpoint} refuses eth_getLogs for block {first} alone: {exc}"
                    ) from None
                self.refusals += 1
                self.span = max(1, span // 2)
                continue
            if span == self.span:
                self.span = min(self.maximum, self.span * 2)
            return LogRange(first, last, logs)


__all__ = ["AdaptiveRanges", "LogRange"]
