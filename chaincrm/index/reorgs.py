"""Reorg safety: blocks more than ``confirmations`` behind the head are final; rows from newer
blocks are provisional.

Every pass first compares the newest kept block hash with the chain and, on a mismatch, deletes the
rows of every block from the first differing one, rebuilds the entities they touched, and reads
those blocks again (:meth:`ReorgGuard.undo`). A reorg deeper than ``confirmations`` is reported,
not guessed at. During a pass, each range's headers, logs and the kept blocks before it must form
one chain (:meth:`ReorgGuard.check_range`), or the pass starts again (:class:`ChainMoved`).
"""

from __future__ import annotations

from typing import Any

from chaincrm.errors import ChainError
from chaincrm.index.database import IndexState
from chaincrm.index.rpc import Header, Rpc
from chaincrm.index.store import IndexStore


class ChainMoved(Exception):
    """Blocks read in one pass do not belong to one chain: a reorg happened during the pass."""


class ReorgGuard:
    def __init__(self, rpc: Rpc, store: IndexStore) -> None:
        self.rpc = rpc
        self.store = store

    def undo(self, state: IndexState, head: int) -> int | None:
        """Roll back rows from the first kept block the chain no longer has; None if none."""
        stored = self.store.stored_hashes()
        if not stored:
            return None
        top = max(stored)
        current = self.rpc.headers([top]).get(top) if top <= head else None
        if current is not None and current.hash == stored[top]:
            return None  # the newest kept block is still there, and so are its ancestors
        numbers = sorted(stored)
        headers = self.rpc.headers([number for number in numbers if number <= head])
        fork = next(number for number in numbers if number not in headers or headers[number].hash != stored[number])
        if fork <= state.last_final_block:
            raise ChainError(
                f"the chain reorganised deeper than {self.store.confirmations} confirmations (block {fork} changed "
                f"after it was final): delete the index at {self.store.where} and index again, with more "
                "--confirmations"
            )
        self.store.roll_back(fork, expected_last=state.last_block)
        return fork

    @staticmethod
    def check_range(
        first: int, headers: dict[int, Header], raw_logs: list[dict[str, Any]], stored: dict[int, str]
    ) -> None:
        """The range's logs, headers and the kept blocks before it are all one chain."""
        previous = headers.get(first)
        if previous is not None and first - 1 in stored and previous.parent_hash != stored[first - 1]:
            raise ChainMoved
        for number, header in headers.items():
            parent = headers.get(number - 1)
            if parent is not None and header.parent_hash != parent.hash:
                raise ChainMoved
        for log in raw_logs:
            holder = headers.get(int(log["blockNumber"], 16))
            if holder is not None and holder.hash != log["blockHash"]:
                raise ChainMoved


__all__ = ["ChainMoved", "ReorgGuard"]
