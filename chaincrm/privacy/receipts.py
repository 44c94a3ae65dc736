"""Erasure receipts: what an erasure destroyed, without any personal data; its keccak256 goes on-chain.

Data keys and content keys live only inside the profile documents, so unpinning every version,
with every content document, destroys every copy of them. :func:`erasure_receipt` records which
keys (by :func:`~chaincrm.privacy.profiles.data_key_fingerprint`) and which documents went.
The operation itself (find the documents, unpin them, record the receipt) is
:mod:`chaincrm.privacy.erasure`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from eth_utils.crypto import keccak

from chaincrm.errors import ConfigError
from chaincrm.privacy.content import CONTENT_KINDS
from chaincrm.privacy.encoding import canonical_json, checked_address, require_uint256
from chaincrm.privacy.profiles import FINGERPRINT_BYTES

RECEIPT_FORMAT = "chaincrm.erasure-receipt.v2"
UNREADABLE_BATCH = "unreadable-batch"
"""An anchored batch document nobody could give back at erasure: the customer's notes it may name
could not be found (their keys went with the profile versions)."""
ERASED_DOCUMENT_KINDS = ("profile", *CONTENT_KINDS, UNREADABLE_BATCH)

_CID = re.compile(r"[A-Za-z0-9]{8,128}")
_FINGERPRINT = re.compile(rf"[0-9a-f]{{{2 * FINGERPRINT_BYTES}}}")


class ErasureReceipt(NamedTuple):
    """What :func:`erasure_receipt` returns: the receipt and the keccak256 that goes on-chain."""

    receipt: bytes
    receipt_hash: bytes


def erasure_receipt(
    customer_id: int,
    destroyed: Sequence[tuple[str, str]],
    documents: Sequence[tuple[str, str]],
    erased_at: datetime,
) -> ErasureReceipt:
    """A canonical JSON receipt of an erasure, and its keccak256 for the chain.

    ``destroyed`` lists ``(reader address, key fingerprint)`` pairs; ``documents`` lists
    ``(kind, CID)`` pairs, ``kind`` one of :data:`ERASED_DOCUMENT_KINDS`. Every input is validated
    to a narrow shape (integers, addresses, hex, known kinds, CIDs, a UTC time) so the receipt
    cannot carry personal data. Entries are sorted and repeats collapse, so the receipt depends
    only on what was erased::

        {"customer_id": 7, "destroyed_keys": [{"key_fingerprint": "...", "reader": "0x..."}],
         "documents": [{"cid": "bafy...", "kind": "profile"}], "erased_at": "2025-03-01T12:00:00Z",
         "format": "chaincrm.erasure-receipt.v2"}
    """
    require_uint256("customer id", customer_id)
    if not isinstance(erased_at, datetime) or erased_at.tzinfo is None or erased_at.utcoffset() is None:
        raise ConfigError("erasure time must be a timezone-aware datetime")
    keys: set[tuple[str, str]] = set()
    for reader, fingerprint in destroyed:
        if not isinstance(fingerprint, str) or _FINGERPRINT.fullmatch(fingerprint) is None:
            raise ConfigError("key fingerprint is not a data_key_fingerprint() value")
        keys.add((checked_address("reader", reader), fingerprint))
    erased: set[tuple[str, str]] = set()
    for kind, cid in documents:
        if kind not in ERASED_DOCUMENT_KINDS:
            raise ConfigError(f"erased document kind must be one of {', '.join(ERASED_DOCUMENT_KINDS)}")
        if not isinstance(cid, str) or _CID.fullmatch(cid) is None:
            raise ConfigError("erased document CID is not an alphanumeric CID")
        erased.add((kind, cid))
    receipt = canonical_json(
        {
            "customer_id": customer_id,
            "destroyed_keys": [{"key_fingerprint": key, "reader": reader} for reader, key in sorted(keys)],
            "documents": [{"cid": cid, "kind": kind} for kind, cid in sorted(erased)],
            "erased_at": erased_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "format": RECEIPT_FORMAT,
        }
    )
    return ErasureReceipt(receipt, keccak(receipt))
