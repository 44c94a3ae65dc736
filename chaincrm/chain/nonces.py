"""Nonces handed out locally, so one signer can send many transactions without a round trip each."""

from __future__ import annotations

import threading

from eth_typing import ChecksumAddress
from web3 import Web3


class NonceManager:
    """Hands out consecutive nonces per address; the first comes from the node's pending count."""

    def __init__(self, w3: Web3) -> None:
        self._w3 = w3
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
            self._next[address] = self._w3.eth.get_transaction_count(address, "pending")
        return self._next[address]


__all__ = ["NonceManager"]
