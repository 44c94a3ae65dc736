"""KuboStore: the document store over the Kubo RPC API, to a Kubo daemon or the embedded node.

Both are interchangeable behind :class:`~chaincrm.storage.documents.DocumentStore`: the embedded
node (:mod:`chaincrm.storage.node`) answers the same requests with the same shapes.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import ipfshttpclient
import ipfshttpclient.exceptions as ipfs_errors

from chaincrm.errors import ConfigError, StorageError
from chaincrm.storage.cids import Cid, parse_cid, shown
from chaincrm.storage.documents import MAX_DOCUMENT_BYTES

__all__ = ["DEFAULT_IPFS_API", "DEFAULT_TIMEOUT_SECONDS", "KuboStore"]

DEFAULT_IPFS_API = "/ip4/127.0.0.1/tcp/5001/http"
DEFAULT_TIMEOUT_SECONDS = 30.0
GC_TIMEOUT_FACTOR = 10
"""Garbage collection walks the whole repository: it gets this many times the usual timeout."""

# ipfshttpclient 0.7.0 (its last release) passes `strict=True` to urllib3, and urllib3 2.x warns
# about it on every new connection pool. The warning is about the library, not about anything our
# users can change, so it is silenced for that one message only.
warnings.filterwarnings("ignore", message="The 'strict' parameter is no longer needed", category=FutureWarning)

_T = TypeVar("_T")


class KuboStore:
    """A :class:`DocumentStore` over the Kubo RPC API (a Kubo daemon or the embedded node).

    ``api_addr`` is a multiaddr such as ``/ip4/127.0.0.1/tcp/5001/http``. Reads ask the service to
    stay offline (``offline=true``) unless ``fetch_from_network`` is set: a document the service
    does not hold is then an immediate :class:`StorageError`, and the service does not ask the
    public network for our CIDs.
    """

    def __init__(
        self,
        api_addr: str = DEFAULT_IPFS_API,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        max_document_bytes: int = MAX_DOCUMENT_BYTES,
        fetch_from_network: bool = False,
    ) -> None:
        self._api_addr = api_addr
        self._timeout_seconds = timeout_seconds
        self._max_document_bytes = max_document_bytes
        self._offline = not fetch_from_network
        try:
            # Built directly: ipfshttpclient.connect() refuses every Kubo newer than 0.8.0 with
            # VersionMismatch (upstream limitation of ipfshttpclient 0.7.0, its last release),
            # although the RPC calls used here have not changed since.
            self._client = ipfshttpclient.Client(api_addr, session=True, timeout=timeout_seconds)
        except ipfs_errors.AddressError:
            raise ConfigError(
                f"invalid IPFS API address {api_addr!r}: expected a multiaddr such as {DEFAULT_IPFS_API}"
            ) from None

    @property
    def api_addr(self) -> str:
        return self._api_addr

    @property
    def max_document_bytes(self) -> int:
        return self._max_document_bytes

    def close(self) -> None:
        """Close the pooled HTTP connections; the store can still be used afterwards."""
        self._client.close()

    def __enter__(self) -> KuboStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"KuboStore({self._api_addr!r})"

    # DocumentStore

    def put(self, data: bytes) -> Cid:
        if len(data) > self._max_document_bytes:
            raise StorageError(f"document is {len(data)} bytes; the limit is {self._max_document_bytes}")
        # cid-version=0 explicitly: a daemon configured for CIDv1 by default would otherwise
        # return a CID whose digest the chain cannot record.
        opts = {"pin": "true", "cid-version": "0"}
        answer = self._call("store a document", lambda: self._client.add_bytes(data, opts=opts))
        try:
            return parse_cid(str(answer))
        except StorageError:
            raise StorageError(
                f"IPFS service at {self._api_addr} stored the document as {shown(answer)}, not as a CIDv0"
            ) from None

    def get(self, cid: Cid) -> bytes:
        cid = parse_cid(cid)
        # Ask for one byte more than the limit: enough to refuse an oversized document without
        # reading all of it.
        length = self._max_document_bytes + 1
        data = self._call(
            "read a document",
            lambda: self._client.cat(cid, length=length, offline=self._offline),
            cid=cid,
        )
        if not isinstance(data, bytes):
            raise StorageError(f"IPFS service at {self._api_addr} returned no bytes for {cid}")
        if len(data) > self._max_document_bytes:
            raise StorageError(f"document {cid} is larger than the limit of {self._max_document_bytes} bytes")
        return data

    def has(self, cid: Cid) -> bool:
        cid = parse_cid(cid)
        # offline=true: checking must never turn into fetching from other peers.
        return self._call(
            "check for a document",
            lambda: self._client.block.stat(cid, offline=True) is not None,
            cid=cid,
            if_missing=lambda: False,
        )

    def pin(self, cid: Cid) -> None:
        cid = parse_cid(cid)
        self._call(
            "pin a document",
            lambda: self._client.pin.add(cid, offline=self._offline),
            cid=cid,
        )

    def unpin(self, cid: Cid) -> None:
        cid = parse_cid(cid)
        try:
            self._call("unpin a document", lambda: self._client.pin.rm(cid), cid=cid)
        except StorageError as error:
            if "not pinned" not in str(error):
                raise

    def pins(self) -> set[Cid]:
        answer = self._call("list pins", lambda: self._client.pin.ls(type="recursive"))
        try:
            keys = answer["Keys"]
            return {Cid(str(key)) for key in keys}
        except (KeyError, TypeError):
            raise StorageError(f"IPFS service at {self._api_addr} gave an unusable answer to list pins") from None

    def gc(self) -> int:
        timeout = self._timeout_seconds * GC_TIMEOUT_FACTOR
        answer = self._call("collect garbage", lambda: self._client.repo.gc(quiet=False, timeout=timeout))
        removed = 0
        for item in answer or []:
            if isinstance(item, Mapping) and item.get("Error"):
                raise StorageError(
                    f"IPFS service at {self._api_addr} failed to collect garbage: {_one_line(str(item['Error']))}"
                )
            removed += 1
        return removed

    # Error mapping: every failure leaves as one line naming the service.

    def _call(
        self,
        action: str,
        request: Callable[[], _T],
        *,
        cid: str | None = None,
        if_missing: Callable[[], _T] | None = None,
    ) -> _T:
        """Run one RPC request; ``if_missing`` answers instead when the service lacks ``cid``."""
        try:
            return request()
        except ipfs_errors.ConnectionError:
            raise StorageError(
                f"IPFS service at {self._api_addr} is not reachable: start it with `chaincrm node up`"
            ) from None
        except ipfs_errors.TimeoutError:
            raise StorageError(
                f"IPFS service at {self._api_addr} did not {action} within {self._timeout_seconds:g} s"
            ) from None
        except ipfs_errors.ErrorResponse as error:
            message = _one_line(str(error))
            if cid is not None and _means_not_found(message):
                if if_missing is not None:
                    return if_missing()
                raise StorageError(f"document {cid} is not stored on the IPFS service at {self._api_addr}") from None
            raise StorageError(f"IPFS service at {self._api_addr} refused to {action}: {message}") from None
        except ipfs_errors.StatusError as error:
            status = _http_status(error)
            raise StorageError(f"IPFS service at {self._api_addr} answered {action} with HTTP {status}") from None
        except (ipfs_errors.Error, OSError, ValueError, KeyError, TypeError) as error:
            raise StorageError(
                f"IPFS service at {self._api_addr} failed to {action} ({type(error).__name__})"
            ) from None


def _means_not_found(message: str) -> bool:
    lowered = message.lower()
    return "not found" in lowered or "could not find" in lowered


def _http_status(error: ipfs_errors.StatusError) -> str:
    original: Any = getattr(error, "original", None)
    response: Any = getattr(original, "response", None)
    return str(getattr(response, "status_code", "error"))


def _one_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no message"
