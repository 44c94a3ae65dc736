"""CIDs and the digests the chain records, decoded with the multiformats packages.

A document is named by a CIDv0 (``Qm...``): the base58btc form of a sha2-256 multihash. The chain
records only its 32-byte digest (:func:`cid_to_digest`, back with :func:`digest_to_cid`). The
embedded node also meets CIDv1 (``b...``, in links and in Kubo's ``repo gc`` output): it reads
every form with :func:`block_ref`.

Decoding is py-multihash's, py-cid's and varint's (pinned with the rest of requirements.txt), not
our own base58 and varint code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType

import cid as cids
import multihash

from chaincrm.errors import StorageError

__all__ = [
    "DIGEST_BYTES",
    "BlockRef",
    "Cid",
    "block_ref",
    "block_ref_from_bytes",
    "cid_to_digest",
    "digest_to_cid",
    "parse_cid",
    "raw_block_cid",
    "shown",
]

Cid = NewType("Cid", str)
"""A CIDv0 (``Qm`` + 44 base58 characters): a sha2-256 multihash in base58btc."""

DIGEST_BYTES = 32
SHA2_256 = "sha2-256"
DAG_PB = "dag-pb"
RAW = "raw"
_CIDV0_TEXT_LENGTH = 46
_CIDV0_TEXT_PREFIX = "Qm"
_CID_V1 = 1
_BASE32 = "base32"
_IPFS_PATH_PREFIX = "/ipfs/"
_SHOWN_CHARS = 64


def parse_cid(text: str) -> Cid:
    """Return ``text`` as a :data:`Cid` if it is a CIDv0 of a sha2-256 digest.

    Raises :class:`StorageError` for any other form (CIDv1 ``bafy...``, other hash functions,
    typos), since the chain can only record a sha2-256 digest.
    """
    cid_to_digest(text)
    return Cid(text)


def cid_to_digest(cid: str) -> bytes:
    """The 32-byte sha2-256 digest inside a CIDv0: the value the chain stores as ``bytes32``."""
    if not isinstance(cid, str) or len(cid) != _CIDV0_TEXT_LENGTH or not cid.startswith(_CIDV0_TEXT_PREFIX):
        raise StorageError(f"{shown(cid)} is not a CIDv0: expected 'Qm' and 44 base58 characters")
    try:
        decoded = multihash.decode(multihash.from_b58_string(cid))
    except ValueError:
        raise StorageError(f"{shown(cid)} is not a CIDv0: it is not a valid base58 multihash") from None
    if decoded.name != SHA2_256 or len(decoded.digest) != DIGEST_BYTES:
        raise StorageError(f"{shown(cid)} is not a CIDv0 of a sha2-256 digest")
    return bytes(decoded.digest)


def digest_to_cid(digest: bytes) -> Cid:
    """The CIDv0 of a 32-byte sha2-256 digest read from the chain."""
    if not isinstance(digest, (bytes, bytearray)) or len(digest) != DIGEST_BYTES:
        size = len(digest) if isinstance(digest, (bytes, bytearray)) else type(digest).__name__
        raise StorageError(f"a document digest is {DIGEST_BYTES} bytes, not {size}")
    return Cid(multihash.to_b58_string(multihash.encode(bytes(digest), SHA2_256)))


def shown(value: object) -> str:
    """``value`` for an error message, cut short: a CID argument may be anything."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


# --- Any CID, for the node --------------------------------------------------------------------


@dataclass(frozen=True)
class BlockRef:
    """A block named by any CID: its codec, its multihash (the blockstore's key) and its text."""

    codec: str
    multihash: bytes
    text: str

    @property
    def is_dag_pb(self) -> bool:
        return self.codec == DAG_PB

    @property
    def is_raw(self) -> bool:
        return self.codec == RAW


def block_ref(text: str) -> BlockRef:
    """A CID as an RPC argument gives it (``Qm...``, ``b...``, ``/ipfs/<cid>``); ValueError if invalid."""
    bare = text[len(_IPFS_PATH_PREFIX) :] if text.startswith(_IPFS_PATH_PREFIX) else text
    if "/" in bare:
        raise ValueError("paths inside a DAG are not supported")
    return _ref(cids.make_cid(bare))


def block_ref_from_bytes(raw: bytes) -> BlockRef:
    """A CID in binary form, as a dag-pb link holds it; ValueError if invalid.

    A binary CIDv0 is the bare multihash, which py-cid's ``from_bytes`` does not take.
    """
    if raw[:1] == bytes([_CID_V1]):
        return _ref(cids.from_bytes(raw))
    multihash.decode(raw)
    return _ref(cids.make_cid(0, DAG_PB, raw))


def raw_block_cid(block_multihash: bytes) -> str:
    """How Kubo names a bare block (``repo gc`` output): CIDv1, raw codec, base32."""
    return _text(cids.make_cid(_CID_V1, RAW, block_multihash))


def _ref(parsed: cids.CIDv0 | cids.CIDv1) -> BlockRef:
    return BlockRef(str(parsed.codec), bytes(parsed.multihash), _text(parsed))


def _text(parsed: cids.CIDv0 | cids.CIDv1) -> str:
    # Kubo prints CIDv0 in base58btc and CIDv1 in base32 (py-cid's default for v1 is base58btc).
    if parsed.version == 0:
        return str(parsed)
    return bytes(parsed.encode(_BASE32)).decode()
