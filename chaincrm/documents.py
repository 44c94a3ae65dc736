"""Moved to :mod:`chaincrm.storage`; this module re-exports it for existing imports."""

from __future__ import annotations

from chaincrm.storage.cids import DIGEST_BYTES, Cid, cid_to_digest, digest_to_cid, parse_cid
from chaincrm.storage.documents import MAX_DOCUMENT_BYTES, DocumentStore, content_hash, get_verified
from chaincrm.storage.kubo_store import DEFAULT_IPFS_API, DEFAULT_TIMEOUT_SECONDS, GC_TIMEOUT_FACTOR, KuboStore

__all__ = [
    "DEFAULT_IPFS_API",
    "DEFAULT_TIMEOUT_SECONDS",
    "DIGEST_BYTES",
    "GC_TIMEOUT_FACTOR",
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
