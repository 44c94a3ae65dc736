"""The storage protocol and the integrity check against the chain.

A document is an opaque byte string (the privacy layer encrypts it before it gets here). The chain
records two 32-byte values per document: the sha2-256 digest inside its CID, so that it can be
found again (:mod:`chaincrm.storage.cids`), and the keccak-256 of its bytes (:func:`content_hash`),
so that what an IPFS service hands back can be checked (:func:`get_checked`) without trusting it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from eth_hash.auto import keccak

from chaincrm.errors import IntegrityError
from chaincrm.storage.cids import DIGEST_BYTES, Cid

__all__ = ["MAX_DOCUMENT_BYTES", "DocumentStore", "content_hash", "get_checked"]

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


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


def content_hash(data: bytes) -> bytes:
    """keccak-256 of a document's bytes: the hash the chain records to check documents against."""
    return bytes(keccak(data))


def get_checked(store: DocumentStore, cid: Cid, expected_keccak256: bytes) -> bytes:
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
