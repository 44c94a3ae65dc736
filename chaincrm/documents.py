"""Off-chain documents: the storage protocol, its Kubo RPC implementation, and integrity checks.

A document is an opaque byte string (the privacy layer encrypts it before it gets here). IPFS
stores it and names it by a CIDv0 (``Qm...``): the base58 form of a sha2-256 multihash. The chain
records two 32-byte values per document:

* the CID's sha2-256 digest (:func:`cid_to_digest`, back with :func:`digest_to_cid`), so the
  document can be found again;
* the keccak-256 of the document's bytes (:func:`content_hash`), so that what an IPFS service
  hands back can be checked (:func:`get_verified`) without trusting that service.

:class:`KuboStore` speaks the Kubo RPC API over HTTP, to a remote Kubo daemon or to the embedded
node of :mod:`chaincrm.ipfs_node`; both are interchangeable behind :class:`DocumentStore`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, NewType, Protocol, TypeVar, runtime_checkable

import ipfshttpclient
import ipfshttpclient.exceptions as ipfs_errors
from eth_hash.auto import keccak

from chaincrm.errors import ConfigError, IntegrityError, StorageError

__all__ = [
    "DEFAULT_IPFS_API",
    "DEFAULT_TIMEOUT_SECONDS",
    "DIGEST_BYTES",
    "MAX_DOCUMENT_BYTES",
    "Cid",
    "DocumentStore",
    "KuboStore",
    "cid_to_digest",
    "content_hash",
    "digest_to_cid",
    "get_verified",
    "parse_cid",
]

Cid = NewType("Cid", str)
"""A CIDv0 (``Qm`` + 44 base58 characters): a sha2-256 multihash in base58btc."""

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
DEFAULT_IPFS_API = "/ip4/127.0.0.1/tcp/5001/http"
DEFAULT_TIMEOUT_SECONDS = 30.0
GC_TIMEOUT_FACTOR = 10
"""Garbage collection walks the whole repository: it gets this many times the usual timeout."""

DIGEST_BYTES = 32
_SHA2_256_CODE = 0x12
_CIDV0_PREFIX = bytes([_SHA2_256_CODE, DIGEST_BYTES])
_CIDV0_TEXT_LENGTH = 46
_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {char: index for index, char in enumerate(_BASE58_ALPHABET)}
_BASE58_RADIX = 58
_SHOWN_CID_CHARS = 64

# ipfshttpclient 0.7.0 (its last release) passes `strict=True` to urllib3, and urllib3 2.x warns
# about it on every new connection pool. The warning is about the library, not about anything our
# users can change, so it is silenced for that one message only.
warnings.filterwarnings("ignore", message="The 'strict' parameter is no longer needed", category=FutureWarning)

_T = TypeVar("_T")


# --- CIDs and hashes --------------------------------------------------------------------------


def parse_cid(text: str) -> Cid:
    """Return ``text`` as a :data:`Cid` if it is a CIDv0 of a sha2-256 digest.

    Raises :class:`StorageError` for any other form (CIDv1 ``bafy...``, other hash functions,
    typos), since the chain can only record a sha2-256 digest.
    """
    cid_to_digest(text)
    return Cid(text)


def cid_to_digest(cid: str) -> bytes:
    """The 32-byte sha2-256 digest inside a CIDv0: the value the chain stores as ``bytes32``."""
    if not isinstance(cid, str) or len(cid) != _CIDV0_TEXT_LENGTH or not cid.startswith("Qm"):
        raise StorageError(f"{_shown(cid)} is not a CIDv0: expected 'Qm' and 44 base58 characters")
    try:
        multihash = _b58decode(cid)
    except ValueError:
        raise StorageError(f"{_shown(cid)} is not a CIDv0: it is not valid base58") from None
    if len(multihash) != len(_CIDV0_PREFIX) + DIGEST_BYTES or not multihash.startswith(_CIDV0_PREFIX):
        raise StorageError(f"{_shown(cid)} is not a CIDv0 of a sha2-256 digest")
    return multihash[len(_CIDV0_PREFIX) :]


def digest_to_cid(digest: bytes) -> Cid:
    """The CIDv0 of a 32-byte sha2-256 digest read from the chain."""
    if not isinstance(digest, (bytes, bytearray)) or len(digest) != DIGEST_BYTES:
        size = len(digest) if isinstance(digest, (bytes, bytearray)) else type(digest).__name__
        raise StorageError(f"a document digest is {DIGEST_BYTES} bytes, not {size}")
    return Cid(_b58encode(_CIDV0_PREFIX + bytes(digest)))


def content_hash(data: bytes) -> bytes:
    """keccak-256 of a document's bytes: the hash the chain records to check documents against."""
    return bytes(keccak(data))


def get_verified(store: DocumentStore, cid: Cid, expected_keccak256: bytes) -> bytes:
    """Read a document and check it against the keccak-256 the chain holds for it.

    Raises :class:`IntegrityError` when the bytes differ: a document that does not match its
    on-chain hash is never handed back.
    """
    if len(expected_keccak256) != DIGEST_BYTES:
        raise IntegrityError(
            f"the hash recorded for document {cid} is {len(expected_keccak256)} bytes, not {DIGEST_BYTES}"
        )
    data = store.get(cid)
    actual = content_hash(data)
    if actual != bytes(expected_keccak256):
        raise IntegrityError(
            f"document {cid} does not match the hash recorded for it: "
            f"expected keccak256 0x{bytes(expected_keccak256).hex()}, got 0x{actual.hex()}"
        )
    return data


# --- The storage protocol ---------------------------------------------------------------------


@runtime_checkable
class DocumentStore(Protocol):
    """Where documents live. Every failure is a :class:`StorageError`."""

    def put(self, data: bytes) -> Cid:
        """Store ``data``, pin it, and return its CIDv0."""
        ...

    def get(self, cid: Cid) -> bytes:
        """The bytes stored under ``cid``; :class:`StorageError` if the store does not hold it."""
        ...

    def has(self, cid: Cid) -> bool:
        """Whether the store holds ``cid`` itself (without asking other peers)."""
        ...

    def pin(self, cid: Cid) -> None:
        """Protect a stored document from garbage collection."""
        ...

    def unpin(self, cid: Cid) -> None:
        """Let garbage collection remove ``cid``; a no-op if it is not pinned."""
        ...

    def pins(self) -> set[Cid]:
        """The documents pinned explicitly (not the blocks they are made of)."""
        ...

    def gc(self) -> int:
        """Remove every block no pin protects; return how many blocks were removed."""
        ...


# --- Kubo RPC implementation ------------------------------------------------------------------


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
                f"IPFS service at {self._api_addr} stored the document as {_shown(answer)}, not as a CIDv0"
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


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CID_CHARS else text[: _SHOWN_CID_CHARS - 3] + "..."


def _b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    chars: list[str] = []
    while number:
        number, remainder = divmod(number, _BASE58_RADIX)
        chars.append(_BASE58_ALPHABET[remainder])
    leading_zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading_zeros + "".join(reversed(chars))


def _b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        if char not in _BASE58_INDEX:
            raise ValueError(f"not a base58 character: {char!r}")
        number = number * _BASE58_RADIX + _BASE58_INDEX[char]
    leading_zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * leading_zeros + body
