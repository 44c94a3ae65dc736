"""A small JSON-RPC client over HTTP, for reads that need no web3.

Importing web3 takes about 0.6 s (it brings eth-account, aiohttp and every provider): more than a
read command's whole budget. A read asks the node for a few things (eth_chainId, eth_getCode,
eth_call, eth_getLogs), so over http(s) those requests go through this client, with the same
`make_request` / `make_batch_request` as web3's providers (:func:`~chaincrm.chain.batching.batch_request`
treats both alike); web3 is imported only when something needs it (signing, sending, web3's
contract events). A transport failure raises ConnectionError or TimeoutError, as web3's
providers do, for :meth:`Connection.rpc` to turn into one ChainError; a timeout while waiting for
the answer is a :class:`ReadTimeout` and an HTTP error status without a JSON-RPC answer an
:class:`HttpStatusError`, so the log reader can tell "ask for fewer blocks" from "unreachable".
"""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from chaincrm.errors import ChainError


class ReadTimeout(TimeoutError):
    """The node accepted the request but did not answer in time (too much asked, often)."""


class HttpStatusError(ChainError):
    """The node answered with an HTTP error status and no JSON-RPC answer."""

    def __init__(self, endpoint: str, status: int) -> None:
        super().__init__(f"the chain at {endpoint} answered HTTP {status}")
        self.status = status


class HttpTransport:
    """JSON-RPC requests, one or a batch, POSTed to an http(s) endpoint (proxies from the environment)."""

    def __init__(self, url: str, *, timeout: float) -> None:
        self.endpoint_uri = url
        self.timeout = timeout
        self._ids = itertools.count(1)

    @staticmethod
    def serves(url: str) -> bool:
        """Whether this client can reach `url`: http(s) without credentials in the URL (web3's
        provider handles those)."""
        parts = urlsplit(url)
        return parts.scheme.lower() in ("http", "https") and parts.username is None

    def make_request(self, method: str, params: Any) -> dict[str, Any]:
        answer = self._post({"jsonrpc": "2.0", "method": method, "params": params, "id": next(self._ids)})
        if not isinstance(answer, dict):
            raise ChainError(f"the chain at {self.endpoint_uri} answered {method} with something other than JSON-RPC")
        return answer

    def make_batch_request(self, calls: list[tuple[str, Any]]) -> list[dict[str, Any]] | dict[str, Any]:
        payload = [
            {"jsonrpc": "2.0", "method": method, "params": params, "id": next(self._ids)} for method, params in calls
        ]
        answer = self._post(payload)
        if not isinstance(answer, list | dict):
            raise ChainError(f"the chain at {self.endpoint_uri} answered a batch with something other than JSON-RPC")
        return answer

    def _post(self, payload: Any) -> Any:
        request = urllib.request.Request(
            self.endpoint_uri,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()
            try:  # some nodes send a JSON-RPC error with an HTTP error status
                return json.loads(body)
            except ValueError:
                raise HttpStatusError(self.endpoint_uri, exc.code) from None
        except urllib.error.URLError as exc:  # before the request was sent: connecting
            if isinstance(exc.reason, TimeoutError):
                raise TimeoutError(str(exc.reason)) from None
            raise ConnectionError(str(exc.reason)) from None
        except TimeoutError as exc:  # sent, but the answer did not come in time
            raise ReadTimeout(str(exc)) from None
        try:
            return json.loads(body)
        except ValueError:
            raise ChainError(f"the chain at {self.endpoint_uri} did not answer in JSON") from None


__all__ = ["HttpStatusError", "HttpTransport", "ReadTimeout"]
