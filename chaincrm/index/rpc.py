"""The indexer's raw JSON-RPC: calls, batches, ``eth_getLogs`` and block headers, with the one
retry layer the indexer has.

**Retries.** A node that drops or times out is retried here, with exponential backoff
(0.25 s doubling to 8 s) for at most ``retry_seconds``, then :class:`~chaincrm.errors.ChainError`.
web3's own retries (``HTTPProvider``'s ``ExceptionRetryConfiguration``: 5 attempts, no time bound,
single calls only) are switched off for the indexer's requests, so a failure is retried once, by
this layer: it bounds the time rather than the attempts, covers batches too, counts its retries
for :class:`~chaincrm.index.sync.SyncReport`, takes the clock's ``sleep`` from the caller (tests
pass their own), and treats a timed-out ``eth_getLogs`` as a range too large (:class:`RangeRefused`,
so the range halves) instead of asking the same range again.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import requests
from web3 import HTTPProvider

from chaincrm.chain import Chain
from chaincrm.chain.batching import batch_request
from chaincrm.chain.logs import PAYLOAD_TOO_LARGE, RangeRefused, is_range_refusal
from chaincrm.errors import ChainError

FIRST_BACKOFF_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 8.0

_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.RequestException,
    ConnectionError,
    TimeoutError,
    json.JSONDecodeError,
)


@dataclass(frozen=True)
class Header:
    number: int
    hash: str
    parent_hash: str
    timestamp: int


def without_web3_retries(provider: Any) -> Any:
    """A copy of a plain HTTPProvider with web3's retry layer off (see the module docstring); the
    chain's own provider keeps its retries for everything else. Any other provider (a subclass
    that injects faults, say) is used as it was built: build it with
    ``exception_retry_configuration=None``."""
    if type(provider) is HTTPProvider and provider.exception_retry_configuration is not None:
        provider = copy.copy(provider)  # shares the HTTP session and its settings
        provider.exception_retry_configuration = None
    return provider


class Rpc:
    """Raw JSON-RPC through the chain's provider, with bounded retries on transport failures."""

    def __init__(self, chain: Chain, retry_seconds: float, sleep: Callable[[float], None]) -> None:
        self.provider: Any = without_web3_retries(chain.w3.provider)
        self.endpoint = chain.endpoint
        self.retry_seconds = retry_seconds
        self.sleep = sleep
        self.retries = 0

    def call(self, method: str, params: list[Any]) -> Any:
        response = self._retrying(lambda: self.provider.make_request(method, params))
        return self._result(method, response)

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """The results of `calls`, in the order asked, in JSON-RPC batches (each retried here)."""
        responses = batch_request(self.provider, calls, run=self._retrying, what=calls[0][0] if calls else "")
        return [self._result(method, response) for (method, _), response in zip(calls, responses, strict=True)]

    def get_logs(self, first: int, last: int, addresses: Sequence[str]) -> list[dict[str, Any]]:
        """The raw logs of blocks `first`..`last` from `addresses`; RangeRefused if the node finds
        the range too large."""
        params = [{"fromBlock": hex(first), "toBlock": hex(last), "address": list(addresses)}]
        response = self._retrying(lambda: self.provider.make_request("eth_getLogs", params), timeout_refuses=True)
        error = response.get("error") if isinstance(response, dict) else None
        if error:
            message = str(error.get("message", error))
            if is_range_refusal(error.get("code"), message):
                raise RangeRefused(message)
            raise ChainError(f"the chain at {self.endpoint} refused eth_getLogs: {message}")
        return cast(list[dict[str, Any]], response["result"])

    def headers(self, numbers: Sequence[int]) -> dict[int, Header]:
        """The headers of the blocks `numbers` the chain has (a missing block is left out)."""
        if not numbers:
            return {}
        blocks = self.batch([("eth_getBlockByNumber", [hex(number), False]) for number in numbers])
        return {
            int(block["number"], 16): Header(
                number=int(block["number"], 16),
                hash=block["hash"],
                parent_hash=block["parentHash"],
                timestamp=int(block["timestamp"], 16),
            )
            for block in blocks
            if block
        }

    def _retrying(self, action: Callable[[], Any], *, timeout_refuses: bool = False) -> Any:
        started = time.monotonic()
        delay = FIRST_BACKOFF_SECONDS
        attempts = 0
        slept = 0.0
        while True:
            try:
                return action()
            except _TRANSPORT_ERRORS as exc:
                attempts += 1
                if timeout_refuses and isinstance(exc, requests.ReadTimeout):
                    raise RangeRefused("read timeout") from None
                status = getattr(getattr(exc, "response", None), "status_code", 0)
                if timeout_refuses and isinstance(exc, requests.HTTPError) and status == PAYLOAD_TOO_LARGE:
                    raise RangeRefused("413 payload too large") from None
                if max(time.monotonic() - started, slept) + delay > self.retry_seconds:
                    raise ChainError(
                        f"the chain at {self.endpoint} did not answer for {self.retry_seconds:.0f} s "
                        f"({attempts} attempts, last: {type(exc).__name__})"
                    ) from None
                self.retries += 1
                self.sleep(delay)
                slept += delay
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    def _result(self, method: str, response: Any) -> Any:
        error = response.get("error") if isinstance(response, dict) else None
        if error:
            message = error.get("message", error) if isinstance(error, dict) else error
            raise ChainError(f"the chain at {self.endpoint} refused {method}: {message}")
        return response.get("result")


__all__ = ["Header", "Rpc", "without_web3_retries"]
