"""The digest Kubo gives a document it stores with its defaults, computed locally.

The chain records an interaction by the sha2-256 digest inside the CIDv0 of its encrypted
document. For a document of one Kubo chunk that digest can be recomputed here, without asking the
IPFS node: a dag-pb node whose Data is a UnixFS File message (type, data, file size).
"""

from __future__ import annotations

import hashlib

import varint

UNIXFS_CHUNK_BYTES = 262_144  # Kubo's default chunker: a document up to this size is one block
_UNIXFS_FILE = 2


def document_digest(data: bytes) -> bytes | None:
    """The sha2-256 digest in the CIDv0 Kubo gives `data` when it stores it with its defaults (what
    the chain records for an interaction), computed locally; None for a document larger than one
    chunk, which Kubo splits into a tree (then only the node's answer names it)."""
    if len(data) > UNIXFS_CHUNK_BYTES:
        return None
    unixfs = _field_varint(1, _UNIXFS_FILE)
    if data:
        unixfs += _field_bytes(2, data)
    unixfs += _field_varint(3, len(data))
    return hashlib.sha256(_field_bytes(1, unixfs)).digest()


def _field_varint(number: int, value: int) -> bytes:
    return varint.encode(number << 3) + varint.encode(value)


def _field_bytes(number: int, value: bytes) -> bytes:
    return varint.encode(number << 3 | 2) + varint.encode(len(value)) + value
