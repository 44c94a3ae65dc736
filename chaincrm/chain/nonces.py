"""Nonces handed out locally, so one signer can send many transactions without a round trip each."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from eth_typing import ChecksumAddress

if TYPE_CHECKING:
    from chaincrm.chain.connection import Connection


class NonceManager:
    """Hands out consecutive nonces per address; the first comes from the node's pending count."""

    def __init__(self, node: Connection) -> None:
        self._node = node
        self._next: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, address: ChecksumAddress) -> int:
        with self._lock:
            nonce = self._peek(address)
            self._next[address] = nonce + 1
            return nonce

    def peek(self, address: ChecksumAddress) -> int:
        """The nonce the next `take` will hand out, without taking it."""
        with self._lock:
            return self._peek(address)

    def reset_all(self) -> None:
        """Forget every local count (after the chain was rewound, e.g. evm_revert)."""
        with self._lock:
            self._next.clear()

    def reset(self, address: ChecksumAddress) -> None:
        """Forget the local count (after a failed send) so the next nonce comes from the node."""
        with self._lock:
            self._next.pop(address, None)

    def _peek(self, address: ChecksumAddress) -> int:
        if address not in self._next:
            self._next[address] = int(self._node.request("eth_getTransactionCount", [address, "pending"]), 16)
        return self._next[address]


__all__ = ["NonceManager"]
